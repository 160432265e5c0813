//! Decode and encode errors. Every decode error names the normative statement it breaks, and maps to the
//! v5 reason code a server answers with in one place: [`DecodeError::reason_code`].
//!
//! Where the specification gives a rule without a numbered statement, the ID is the section that states
//! it (e.g. `[MQTT-2.1.4]` for the Remaining Length).

use crate::types::ReasonCode;

/// Why the bytes at the front of the buffer are not a valid packet. After any of these the connection
/// is closed (v5: with DISCONNECT carrying [`DecodeError::reason_code`]); CONNECT with
/// [`DecodeError::UnsupportedProtocol`] is answered with CONNACK 0x84 (v3: return code 1) first.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error(
        "[MQTT-2.1.2] control packet type {packet_type} is reserved or not valid in this protocol version"
    )]
    InvalidPacketType { packet_type: u8 },
    #[error(
        "[MQTT-2.1.3-1] reserved fixed header flags {flags:#06b} on control packet type {packet_type}"
    )]
    ReservedFlags { packet_type: u8, flags: u8 },
    #[error("[MQTT-1.5.5-1] variable byte integer longer than 4 bytes")]
    VarIntTooLong,
    #[error("[MQTT-3.2.2-15] packet of {size} bytes exceeds the maximum packet size {max}")]
    PacketTooLarge { size: usize, max: u32 },
    #[error("[MQTT-2.1.4] packet contents run past the remaining length")]
    UnexpectedEnd,
    #[error("[MQTT-2.1.4] {extra} bytes after the end of the packet contents")]
    TrailingBytes { extra: usize },
    #[error("[MQTT-1.5.4-1] string is not well-formed UTF-8")]
    InvalidUtf8,
    #[error("[MQTT-1.5.4-2] string contains the null character U+0000")]
    NulInString,

    #[error("[MQTT-3.1.2-2] unsupported protocol name or level (level {level})")]
    UnsupportedProtocol { level: u8 },
    #[error("[MQTT-3.1.2-3] reserved flag in CONNECT is not zero")]
    ConnectReservedFlag,
    #[error("[MQTT-3.1.2-11] Will QoS is not 0 while the Will Flag is 0")]
    WillQoSWithoutWill,
    #[error("[MQTT-3.1.2-12] Will QoS is 3")]
    InvalidWillQoS,
    #[error("[MQTT-3.1.2-13] Will Retain is set while the Will Flag is 0")]
    WillRetainWithoutWill,
    #[error("[MQTT-3.1.2-22] Password Flag set without the User Name Flag")]
    PasswordWithoutUsername,
    #[error("[MQTT-3.2.2-1] reserved bits of the CONNACK acknowledge flags are not zero")]
    ConnAckReservedFlags,

    #[error("[MQTT-3.3.1-4] PUBLISH with QoS 3")]
    InvalidQoS,
    #[error("[MQTT-3.3.1-2] PUBLISH with QoS 0 has the DUP flag set")]
    DupWithQoS0,
    #[error("[MQTT-3.3.2-2] Topic Name in PUBLISH contains a wildcard")]
    WildcardInTopicName,
    #[error("[MQTT-4.7.3-1] Topic Name in PUBLISH is empty and there is no Topic Alias")]
    EmptyTopicName,
    #[error("[MQTT-3.3.2-8] Topic Alias is 0")]
    TopicAliasZero,
    #[error("[MQTT-2.2.1-3] packet identifier 0 in {packet}")]
    PacketIdZero { packet: &'static str },

    #[error("[MQTT-3.8.3-3] SUBSCRIBE without a topic filter")]
    SubscribeWithoutFilters,
    #[error("[MQTT-3.8.3-5] reserved bits of subscription options {options:#010b} are not zero")]
    SubscribeReservedBits { options: u8 },
    #[error("[MQTT-3.8.3.1] subscription Maximum QoS is 3")]
    InvalidSubscriptionQoS,
    #[error("[MQTT-3.8.3.1] Retain Handling is 3")]
    InvalidRetainHandling,
    #[error("[MQTT-3.8.3-4] No Local set on a shared subscription")]
    NoLocalOnSharedSubscription,
    #[error("[MQTT-3.10.3-2] UNSUBSCRIBE without a topic filter")]
    UnsubscribeWithoutFilters,

    #[error("[MQTT-2.4] reason code {code:#04x} is not valid in {packet}")]
    InvalidReasonCode { packet: &'static str, code: u8 },
    #[error("[MQTT-2.2.2.2] unknown property identifier {id:#04x}")]
    UnknownProperty { id: u32 },
    #[error("[MQTT-2.2.2.2] property {id:#04x} is not allowed in {packet}")]
    PropertyNotAllowed { packet: &'static str, id: u8 },
    #[error("[MQTT-2.2.2-2] property {id:#04x} appears more than once in {packet}")]
    DuplicateProperty { packet: &'static str, id: u8 },
    #[error("[MQTT-2.2.2.2] property {id:#04x} has the invalid value {value}")]
    InvalidPropertyValue { id: u8, value: u32 },
}

impl DecodeError {
    /// The v5 reason code to send in DISCONNECT (or CONNACK) for this error.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PacketTooLarge,
            UnsupportedProtocol { .. } => ReasonCode::UnsupportedProtocolVersion,
            WildcardInTopicName => ReasonCode::TopicNameInvalid,
            TopicAliasZero => ReasonCode::TopicAliasInvalid,
            EmptyTopicName
            | PacketIdZero { .. }
            | SubscribeWithoutFilters
            | UnsubscribeWithoutFilters
            | InvalidSubscriptionQoS
            | NoLocalOnSharedSubscription
            | DuplicateProperty { .. }
            | InvalidPropertyValue { .. } => ReasonCode::ProtocolError,
            InvalidPacketType { .. }
            | ReservedFlags { .. }
            | VarIntTooLong
            | UnexpectedEnd
            | TrailingBytes { .. }
            | InvalidUtf8
            | NulInString
            | ConnectReservedFlag
            | WillQoSWithoutWill
            | InvalidWillQoS
            | WillRetainWithoutWill
            | PasswordWithoutUsername
            | ConnAckReservedFlags
            | InvalidQoS
            | DupWithQoS0
            | SubscribeReservedBits { .. }
            | InvalidRetainHandling
            | InvalidReasonCode { .. }
            | UnknownProperty { .. }
            | PropertyNotAllowed { .. } => ReasonCode::MalformedPacket,
        }
    }

    /// The statement (or section) ID this error breaks, without brackets, e.g. `"MQTT-3.3.2-2"`.
    pub fn spec_id(&self) -> &'static str {
        use DecodeError::*;
        match self {
            InvalidPacketType { .. } => "MQTT-2.1.2",
            ReservedFlags { .. } => "MQTT-2.1.3-1",
            VarIntTooLong => "MQTT-1.5.5-1",
            PacketTooLarge { .. } => "MQTT-3.2.2-15",
            UnexpectedEnd | TrailingBytes { .. } => "MQTT-2.1.4",
            InvalidUtf8 => "MQTT-1.5.4-1",
            NulInString => "MQTT-1.5.4-2",
            UnsupportedProtocol { .. } => "MQTT-3.1.2-2",
            ConnectReservedFlag => "MQTT-3.1.2-3",
            WillQoSWithoutWill => "MQTT-3.1.2-11",
            InvalidWillQoS => "MQTT-3.1.2-12",
            WillRetainWithoutWill => "MQTT-3.1.2-13",
            PasswordWithoutUsername => "MQTT-3.1.2-22",
            ConnAckReservedFlags => "MQTT-3.2.2-1",
            InvalidQoS => "MQTT-3.3.1-4",
            DupWithQoS0 => "MQTT-3.3.1-2",
            WildcardInTopicName => "MQTT-3.3.2-2",
            EmptyTopicName => "MQTT-4.7.3-1",
            TopicAliasZero => "MQTT-3.3.2-8",
            PacketIdZero { .. } => "MQTT-2.2.1-3",
            SubscribeWithoutFilters => "MQTT-3.8.3-3",
            SubscribeReservedBits { .. } => "MQTT-3.8.3-5",
            InvalidSubscriptionQoS | InvalidRetainHandling => "MQTT-3.8.3.1",
            NoLocalOnSharedSubscription => "MQTT-3.8.3-4",
            UnsubscribeWithoutFilters => "MQTT-3.10.3-2",
            InvalidReasonCode { .. } => "MQTT-2.4",
            UnknownProperty { .. } | PropertyNotAllowed { .. } | InvalidPropertyValue { .. } => {
                "MQTT-2.2.2.2"
            }
            DuplicateProperty { .. } => "MQTT-2.2.2-2",
        }
    }
}

/// Why a packet cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("[MQTT-1.5.4] string of {len} bytes is longer than 65535")]
    StringTooLong { len: usize },
    #[error("[MQTT-1.5.6] binary data of {len} bytes is longer than 65535")]
    BinaryTooLong { len: usize },
    #[error("[MQTT-2.1.4] remaining length {len} is over 268435455")]
    PacketTooLarge { len: usize },
    #[error("[MQTT-1.5.5] value {value} does not fit a variable byte integer")]
    VarIntOutOfRange { value: u32 },
    #[error("[MQTT-2.2.2.2] property {id:#04x} is not allowed in {packet}")]
    PropertyNotAllowed { packet: &'static str, id: u8 },
    #[error("[MQTT-2.2.2-2] property {id:#04x} may appear only once in {packet}")]
    RepeatedProperty { packet: &'static str, id: u8 },
    #[error("[MQTT-2.4] reason code {code:?} is not valid in {packet}")]
    InvalidReasonCode {
        packet: &'static str,
        code: ReasonCode,
    },
    #[error("[MQTT-2.1.2] {packet} does not exist in this protocol version")]
    NotInProtocol { packet: &'static str },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_display_starts_with_its_spec_id() {
        use DecodeError::*;
        let all = [
            InvalidPacketType { packet_type: 0 },
            ReservedFlags {
                packet_type: 6,
                flags: 0,
            },
            VarIntTooLong,
            PacketTooLarge { size: 10, max: 5 },
            UnexpectedEnd,
            TrailingBytes { extra: 1 },
            InvalidUtf8,
            NulInString,
            UnsupportedProtocol { level: 7 },
            ConnectReservedFlag,
            WillQoSWithoutWill,
            InvalidWillQoS,
            WillRetainWithoutWill,
            PasswordWithoutUsername,
            ConnAckReservedFlags,
            InvalidQoS,
            DupWithQoS0,
            WildcardInTopicName,
            EmptyTopicName,
            TopicAliasZero,
            PacketIdZero { packet: "PUBLISH" },
            SubscribeWithoutFilters,
            SubscribeReservedBits { options: 0xC0 },
            InvalidSubscriptionQoS,
            InvalidRetainHandling,
            NoLocalOnSharedSubscription,
            UnsubscribeWithoutFilters,
            InvalidReasonCode {
                packet: "AUTH",
                code: 1,
            },
            UnknownProperty { id: 0 },
            PropertyNotAllowed {
                packet: "AUTH",
                id: 1,
            },
            DuplicateProperty {
                packet: "AUTH",
                id: 0x1F,
            },
            InvalidPropertyValue { id: 1, value: 2 },
        ];
        for err in all {
            let text = err.to_string();
            assert!(text.starts_with(&format!("[{}] ", err.spec_id())), "{text}");
            assert!(!err.reason_code().is_success(), "{text}");
        }
    }

    #[test]
    fn reason_codes_for_the_special_cases() {
        assert_eq!(
            DecodeError::UnsupportedProtocol { level: 2 }.reason_code(),
            ReasonCode::UnsupportedProtocolVersion
        );
        assert_eq!(
            DecodeError::PacketTooLarge { size: 2, max: 1 }.reason_code(),
            ReasonCode::PacketTooLarge
        );
        assert_eq!(
            DecodeError::WildcardInTopicName.reason_code(),
            ReasonCode::TopicNameInvalid
        );
        assert_eq!(
            DecodeError::TopicAliasZero.reason_code(),
            ReasonCode::TopicAliasInvalid
        );
        assert_eq!(
            DecodeError::DuplicateProperty { packet: "X", id: 1 }.reason_code(),
            ReasonCode::ProtocolError
        );
    }
}
