//! CONNACK (§3.2): acknowledge flags, then a v5 reason code and properties, or a v3.x return code
//! (0..=5; the mapping lives in `reason_code.rs`).

use bytes::{BufMut, Bytes, BytesMut};

use super::ConnAck;
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol, ReasonCode};

const SESSION_PRESENT: u8 = 0b1;

impl ConnAck {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<ConnAck, DecodeError> {
        let flags = read_u8(body)?;
        if flags & !SESSION_PRESENT != 0 {
            return Err(DecodeError::ConnAckReservedFlags);
        }
        let code = read_u8(body)?;
        let (reason, properties) = if protocol.is_v5() {
            (
                ReasonSet::ConnAck.decode(code)?,
                Properties::decode(body, PropertyContext::ConnAck)?,
            )
        } else {
            let reason =
                ReasonCode::from_v3_connack(code).ok_or(DecodeError::InvalidReasonCode {
                    packet: "CONNACK",
                    code,
                })?;
            (reason, Properties::default())
        };
        Ok(ConnAck {
            session_present: flags & SESSION_PRESENT != 0,
            reason,
            properties,
        })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        if protocol.is_v5() {
            ReasonSet::ConnAck.check(self.reason)?;
            Ok(2 + self.properties.encoded_len(PropertyContext::ConnAck)?)
        } else {
            Ok(2)
        }
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u8(u8::from(self.session_present));
        if protocol.is_v5() {
            buf.put_u8(self.reason as u8);
            self.properties.write(buf);
        } else {
            buf.put_u8(self.reason.to_v3_connack());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode, encode};

    fn wire(ack: ConnAck, protocol: Protocol) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(&Packet::ConnAck(ack), protocol, &mut buf).unwrap();
        buf
    }

    #[test]
    fn v3_maps_reasons_to_return_codes() {
        for (reason, code) in [
            (ReasonCode::Success, 0),
            (ReasonCode::UnsupportedProtocolVersion, 1),
            (ReasonCode::Banned, 5),
            (ReasonCode::ServerBusy, 3),
        ] {
            let buf = wire(
                ConnAck {
                    reason,
                    ..ConnAck::default()
                },
                Protocol::V311,
            );
            assert_eq!(&buf[..], &[0x20, 2, 0, code]);
        }
    }

    #[test]
    fn v3_return_code_above_5_is_malformed() {
        let mut buf = BytesMut::from(&[0x20, 2, 0, 6][..]);
        let err = decode(&mut buf, Protocol::V311, u32::MAX).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code: 6
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn v5_connack_with_properties() {
        let ack = ConnAck {
            session_present: true,
            reason: ReasonCode::Success,
            properties: Properties::from(crate::types::PropertyValues {
                assigned_client_identifier: Some("auto-1".into()),
                maximum_qos: Some(1),
                ..Default::default()
            }),
        };
        let mut buf = wire(ack.clone(), Protocol::V5);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::ConnAck(ack))
        );
    }

    #[test]
    fn mqtt_3_2_2_1_reserved_acknowledge_flags_are_malformed() {
        let mut buf = BytesMut::from(&[0x20, 3, 0b10, 0, 0][..]);
        let err = decode(&mut buf, Protocol::V5, u32::MAX).unwrap_err();
        assert_eq!(err, DecodeError::ConnAckReservedFlags);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn v5_reason_not_allowed_in_connack() {
        let mut buf = BytesMut::from(&[0x20, 3, 0, 0x8B, 0][..]);
        let err = decode(&mut buf, Protocol::V5, u32::MAX).unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code: 0x8B
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
        let mut out = BytesMut::new();
        let ack = ConnAck {
            reason: ReasonCode::ServerShuttingDown,
            ..ConnAck::default()
        };
        assert!(encode(&Packet::ConnAck(ack), Protocol::V5, &mut out).is_err());
    }
}
