//! SUBACK (§3.9): Packet Identifier, v5 properties, one code per filter. v3.x codes are the granted
//! QoS 0/1/2 or 0x80 for failure; v5 codes are checked against SUBACK's allowed set.

use bytes::{BufMut, Bytes, BytesMut};

use super::{SubAck, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol, ReasonCode};

impl SubAck {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<SubAck, DecodeError> {
        let pkid = read_pkid(body, "SUBACK")?;
        let v5 = protocol.is_v5();
        let properties = if v5 {
            Properties::decode(body, PropertyContext::SubAck)?
        } else {
            Properties::default()
        };
        let mut reasons = Vec::with_capacity(body.len());
        while !body.is_empty() {
            let code = read_u8(body)?;
            reasons.push(if v5 {
                ReasonSet::SubAck.decode(code)?
            } else {
                ReasonCode::from_v3_suback(code).ok_or(DecodeError::InvalidReasonCode {
                    packet: "SUBACK",
                    code,
                })?
            });
        }
        Ok(SubAck {
            pkid,
            reasons,
            properties,
        })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let mut len = 2 + self.reasons.len();
        if protocol.is_v5() {
            for &reason in &self.reasons {
                ReasonSet::SubAck.check(reason)?;
            }
            len += self.properties.encoded_len(PropertyContext::SubAck)?;
        }
        Ok(len)
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u16(self.pkid);
        if protocol.is_v5() {
            self.properties.write(buf);
            buf.extend(self.reasons.iter().map(|&r| r as u8));
        } else {
            buf.extend(self.reasons.iter().map(|r| r.to_v3_suback()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode, encode};

    #[test]
    fn v3_maps_failures_to_0x80() {
        let ack = SubAck {
            pkid: 2,
            reasons: vec![
                ReasonCode::GrantedQoS1,
                ReasonCode::NotAuthorized,
                ReasonCode::Success,
            ],
            properties: Properties::default(),
        };
        let mut buf = BytesMut::new();
        encode(&Packet::SubAck(ack), Protocol::V311, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0x90, 5, 0, 2, 1, 0x80, 0]);
        let Some(Packet::SubAck(back)) = decode(&mut buf, Protocol::V311, u32::MAX).unwrap() else {
            panic!()
        };
        assert_eq!(
            back.reasons,
            [
                ReasonCode::GrantedQoS1,
                ReasonCode::UnspecifiedError,
                ReasonCode::Success
            ]
        );
    }

    #[test]
    fn v3_unknown_code_is_malformed() {
        let err = decode(
            &mut BytesMut::from(&[0x90, 3, 0, 1, 3][..]),
            Protocol::V311,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "SUBACK",
                code: 3
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn v5_code_outside_suback_set_is_malformed() {
        let err = decode(
            &mut BytesMut::from(&[0x90, 4, 0, 1, 0, 0x04][..]),
            Protocol::V5,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "SUBACK",
                code: 0x04
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }
}
