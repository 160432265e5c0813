//! Reason codes on the wire: which codes each v5 packet may carry (§2.4 and each packet's section),
//! and the v3.x CONNACK return codes and SUBACK codes they map to.

use crate::types::ReasonCode;

impl ReasonCode {
    /// Parses any v5 reason code byte; `None` for unassigned values.
    pub fn from_u8(v: u8) -> Option<ReasonCode> {
        use ReasonCode::*;
        Some(match v {
            0x00 => Success,
            0x01 => GrantedQoS1,
            0x02 => GrantedQoS2,
            0x04 => DisconnectWithWillMessage,
            0x10 => NoMatchingSubscribers,
            0x11 => NoSubscriptionExisted,
            0x18 => ContinueAuthentication,
            0x19 => ReAuthenticate,
            0x80 => UnspecifiedError,
            0x81 => MalformedPacket,
            0x82 => ProtocolError,
            0x83 => ImplementationSpecificError,
            0x84 => UnsupportedProtocolVersion,
            0x85 => ClientIdentifierNotValid,
            0x86 => BadUserNameOrPassword,
            0x87 => NotAuthorized,
            0x88 => ServerUnavailable,
            0x89 => ServerBusy,
            0x8A => Banned,
            0x8B => ServerShuttingDown,
            0x8C => BadAuthenticationMethod,
            0x8D => KeepAliveTimeout,
            0x8E => SessionTakenOver,
            0x8F => TopicFilterInvalid,
            0x90 => TopicNameInvalid,
            0x91 => PacketIdentifierInUse,
            0x92 => PacketIdentifierNotFound,
            0x93 => ReceiveMaximumExceeded,
            0x94 => TopicAliasInvalid,
            0x95 => PacketTooLarge,
            0x96 => MessageRateTooHigh,
            0x97 => QuotaExceeded,
            0x98 => AdministrativeAction,
            0x99 => PayloadFormatInvalid,
            0x9A => RetainNotSupported,
            0x9B => QoSNotSupported,
            0x9C => UseAnotherServer,
            0x9D => ServerMoved,
            0x9E => SharedSubscriptionsNotSupported,
            0x9F => ConnectionRateExceeded,
            0xA0 => MaximumConnectTime,
            0xA1 => SubscriptionIdentifiersNotSupported,
            0xA2 => WildcardSubscriptionsNotSupported,
            _ => return None,
        })
    }

    /// The v3.x CONNACK return code closest to this reason (EMQX's mapping): protocol-level failures
    /// → 1, client id → 2, credentials → 4, authorization/ban → 5, anything else → 3 (unavailable).
    pub fn to_v3_connack(self) -> u8 {
        use ReasonCode::*;
        match self {
            Success => 0,
            UnspecifiedError
            | MalformedPacket
            | ProtocolError
            | ImplementationSpecificError
            | UnsupportedProtocolVersion => 1,
            ClientIdentifierNotValid => 2,
            BadUserNameOrPassword => 4,
            NotAuthorized | Banned | BadAuthenticationMethod => 5,
            _ => 3,
        }
    }

    /// Parses a v3.x CONNACK return code (0..=5).
    pub fn from_v3_connack(code: u8) -> Option<ReasonCode> {
        use ReasonCode::*;
        Some(match code {
            0 => Success,
            1 => UnsupportedProtocolVersion,
            2 => ClientIdentifierNotValid,
            3 => ServerUnavailable,
            4 => BadUserNameOrPassword,
            5 => NotAuthorized,
            _ => return None,
        })
    }

    /// The v3.x SUBACK code: granted QoS 0/1/2, or 0x80 for any failure.
    pub fn to_v3_suback(self) -> u8 {
        match self {
            ReasonCode::Success => 0,
            ReasonCode::GrantedQoS1 => 1,
            ReasonCode::GrantedQoS2 => 2,
            _ => 0x80,
        }
    }

    /// Parses a v3.x SUBACK code; 0x80 (failure) becomes [`ReasonCode::UnspecifiedError`].
    pub fn from_v3_suback(code: u8) -> Option<ReasonCode> {
        match code {
            0 => Some(ReasonCode::Success),
            1 => Some(ReasonCode::GrantedQoS1),
            2 => Some(ReasonCode::GrantedQoS2),
            0x80 => Some(ReasonCode::UnspecifiedError),
            _ => None,
        }
    }
}

/// The v5 packets that carry reason codes, each with its allowed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReasonSet {
    ConnAck,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    SubAck,
    UnsubAck,
    Disconnect,
    Auth,
}

impl ReasonSet {
    pub fn packet_name(self) -> &'static str {
        match self {
            ReasonSet::ConnAck => "CONNACK",
            ReasonSet::PubAck => "PUBACK",
            ReasonSet::PubRec => "PUBREC",
            ReasonSet::PubRel => "PUBREL",
            ReasonSet::PubComp => "PUBCOMP",
            ReasonSet::SubAck => "SUBACK",
            ReasonSet::UnsubAck => "UNSUBACK",
            ReasonSet::Disconnect => "DISCONNECT",
            ReasonSet::Auth => "AUTH",
        }
    }

    /// True when `code` may appear in this packet (v5).
    pub fn allows(self, code: u8) -> bool {
        match self {
            ReasonSet::ConnAck => matches!(
                code,
                0x00 | 0x80..=0x8A | 0x8C | 0x90 | 0x95 | 0x97 | 0x99..=0x9D | 0x9F
            ),
            ReasonSet::PubAck | ReasonSet::PubRec => {
                matches!(
                    code,
                    0x00 | 0x10 | 0x80 | 0x83 | 0x87 | 0x90 | 0x91 | 0x97 | 0x99
                )
            }
            ReasonSet::PubRel | ReasonSet::PubComp => matches!(code, 0x00 | 0x92),
            ReasonSet::SubAck => matches!(
                code,
                0x00 | 0x01 | 0x02 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91 | 0x97 | 0x9E | 0xA1 | 0xA2
            ),
            ReasonSet::UnsubAck => matches!(code, 0x00 | 0x11 | 0x80 | 0x83 | 0x87 | 0x8F | 0x91),
            ReasonSet::Disconnect => matches!(
                code,
                0x00 | 0x04 | 0x80..=0x83 | 0x87 | 0x89 | 0x8B | 0x8D..=0x90 | 0x93..=0xA2
            ),
            ReasonSet::Auth => matches!(code, 0x00 | 0x18 | 0x19),
        }
    }

    /// Parses a reason code byte, rejecting codes this packet may not carry (malformed).
    pub fn decode(self, code: u8) -> Result<ReasonCode, crate::DecodeError> {
        ReasonCode::from_u8(code)
            .filter(|_| self.allows(code))
            .ok_or(crate::DecodeError::InvalidReasonCode {
                packet: self.packet_name(),
                code,
            })
    }

    /// Checks a reason code before encoding it.
    pub fn check(self, code: ReasonCode) -> Result<u8, crate::EncodeError> {
        if self.allows(code as u8) {
            Ok(code as u8)
        } else {
            Err(crate::EncodeError::InvalidReasonCode {
                packet: self.packet_name(),
                code,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_u8_inverts_the_discriminant() {
        let mut assigned = 0;
        for v in 0..=255u8 {
            if let Some(code) = ReasonCode::from_u8(v) {
                assert_eq!(code as u8, v);
                assigned += 1;
            }
        }
        assert_eq!(assigned, 43);
    }

    #[test]
    fn v3_connack_mapping() {
        use ReasonCode::*;
        for (reason, code) in [
            (Success, 0),
            (UnsupportedProtocolVersion, 1),
            (ClientIdentifierNotValid, 2),
            (ServerUnavailable, 3),
            (BadUserNameOrPassword, 4),
            (NotAuthorized, 5),
            (Banned, 5),
            (ServerBusy, 3),
            (ServerShuttingDown, 3),
            (QuotaExceeded, 3),
        ] {
            assert_eq!(reason.to_v3_connack(), code, "{reason:?}");
        }
        for code in 0..=5 {
            assert_eq!(
                ReasonCode::from_v3_connack(code).unwrap().to_v3_connack(),
                code
            );
        }
        assert_eq!(ReasonCode::from_v3_connack(6), None);
    }

    #[test]
    fn v3_suback_mapping() {
        use ReasonCode::*;
        assert_eq!(GrantedQoS2.to_v3_suback(), 2);
        assert_eq!(NotAuthorized.to_v3_suback(), 0x80);
        assert_eq!(TopicFilterInvalid.to_v3_suback(), 0x80);
        assert_eq!(ReasonCode::from_v3_suback(0x80), Some(UnspecifiedError));
        assert_eq!(ReasonCode::from_v3_suback(3), None);
    }

    #[test]
    fn allowed_sets_match_the_spec_tables() {
        assert!(ReasonSet::PubRel.allows(0x92) && !ReasonSet::PubRel.allows(0x10));
        assert!(ReasonSet::Disconnect.allows(0x04) && !ReasonSet::Disconnect.allows(0x84));
        assert!(ReasonSet::ConnAck.allows(0x84) && !ReasonSet::ConnAck.allows(0x8B));
        assert!(ReasonSet::Auth.allows(0x19) && !ReasonSet::Auth.allows(0x80));
        assert!(ReasonSet::SubAck.allows(0x02) && !ReasonSet::SubAck.allows(0x04));
    }
}
