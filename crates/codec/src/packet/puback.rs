//! PUBACK, PUBREC, PUBREL and PUBCOMP (§3.4–§3.7): a Packet Identifier; v5 adds a reason code and
//! properties, both omitted when the reason is Success with no properties (Remaining Length 2), the
//! properties alone when empty (Remaining Length 3).

use bytes::{BufMut, Bytes, BytesMut};

use super::{PubResponse, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol, ReasonCode};

/// Which of the four responses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Ack,
    Rec,
    Rel,
    Comp,
}

impl Kind {
    fn reasons(self) -> ReasonSet {
        match self {
            Kind::Ack => ReasonSet::PubAck,
            Kind::Rec => ReasonSet::PubRec,
            Kind::Rel => ReasonSet::PubRel,
            Kind::Comp => ReasonSet::PubComp,
        }
    }

    fn properties(self) -> PropertyContext {
        match self {
            Kind::Ack => PropertyContext::PubAck,
            Kind::Rec => PropertyContext::PubRec,
            Kind::Rel => PropertyContext::PubRel,
            Kind::Comp => PropertyContext::PubComp,
        }
    }
}

impl PubResponse {
    pub(crate) fn decode(
        kind: Kind,
        body: &mut Bytes,
        protocol: Protocol,
    ) -> Result<PubResponse, DecodeError> {
        let pkid = read_pkid(body, kind.reasons().packet_name())?;
        if !protocol.is_v5() || body.is_empty() {
            return Ok(PubResponse {
                pkid,
                reason: ReasonCode::Success,
                properties: Properties::default(),
            });
        }
        let reason = kind.reasons().decode(read_u8(body)?)?;
        let properties = if body.is_empty() {
            Properties::default()
        } else {
            Properties::decode(body, kind.properties())?
        };
        Ok(PubResponse {
            pkid,
            reason,
            properties,
        })
    }

    /// True when v5 can use the two-byte form.
    fn is_short(&self) -> bool {
        self.reason == ReasonCode::Success && self.properties.is_empty()
    }

    pub(crate) fn body_len(&self, kind: Kind, protocol: Protocol) -> Result<usize, EncodeError> {
        if !protocol.is_v5() {
            return Ok(2);
        }
        kind.reasons().check(self.reason)?;
        let props = self.properties.encoded_len(kind.properties())?;
        Ok(match (self.is_short(), props) {
            (true, _) => 2,
            (false, 1) => 3,
            (false, props) => 3 + props,
        })
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u16(self.pkid);
        if !protocol.is_v5() || self.is_short() {
            return;
        }
        buf.put_u8(self.reason as u8);
        if !self.properties.is_empty() {
            self.properties.write(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode, encode};

    fn wire(packet: &Packet, protocol: Protocol) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(packet, protocol, &mut buf).unwrap();
        buf
    }

    #[test]
    fn v5_uses_short_forms() {
        let ok = Packet::PubAck(PubResponse {
            pkid: 1,
            ..PubResponse::default()
        });
        assert_eq!(&wire(&ok, Protocol::V5)[..], &[0x40, 2, 0, 1]);
        let not_found = Packet::PubRel(PubResponse {
            pkid: 1,
            reason: ReasonCode::PacketIdentifierNotFound,
            ..Default::default()
        });
        assert_eq!(&wire(&not_found, Protocol::V5)[..], &[0x62, 3, 0, 1, 0x92]);
        let mut buf = wire(&not_found, Protocol::V5);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(not_found)
        );
    }

    #[test]
    fn v5_long_form_with_zero_property_length_decodes() {
        let mut buf = BytesMut::from(&[0x70, 4, 0, 9, 0x00, 0x00][..]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::PubComp(PubResponse {
                pkid: 9,
                ..Default::default()
            }))
        );
    }

    #[test]
    fn v3_ignores_reason_and_rejects_extra_bytes() {
        let ack = Packet::PubRec(PubResponse {
            pkid: 5,
            reason: ReasonCode::QuotaExceeded,
            ..Default::default()
        });
        assert_eq!(&wire(&ack, Protocol::V311)[..], &[0x50, 2, 0, 5]);
        let mut buf = BytesMut::from(&[0x50, 3, 0, 5, 0][..]);
        assert_eq!(
            decode(&mut buf, Protocol::V311, u32::MAX),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }

    #[test]
    fn mqtt_2_2_1_3_packet_id_zero_in_puback_is_protocol_error() {
        let mut buf = BytesMut::from(&[0x40, 2, 0, 0][..]);
        let err = decode(&mut buf, Protocol::V5, u32::MAX).unwrap_err();
        assert_eq!(err, DecodeError::PacketIdZero { packet: "PUBACK" });
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn reason_not_allowed_for_pubrel_is_malformed() {
        let mut buf = BytesMut::from(&[0x62, 3, 0, 1, 0x10][..]);
        let err = decode(&mut buf, Protocol::V5, u32::MAX).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "PUBREL",
                code: 0x10
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }
}
