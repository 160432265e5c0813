//! UNSUBACK (§3.11): Packet Identifier; v5 adds properties and one reason code per filter, v3.x has
//! nothing more (decoded as an empty list, and the list is not written).

use bytes::{BufMut, Bytes, BytesMut};

use super::{UnsubAck, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol};

impl UnsubAck {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<UnsubAck, DecodeError> {
        let pkid = read_pkid(body, "UNSUBACK")?;
        if !protocol.is_v5() {
            return Ok(UnsubAck {
                pkid,
                reasons: Vec::new(),
                properties: Properties::default(),
            });
        }
        let properties = Properties::decode(body, PropertyContext::UnsubAck)?;
        let mut reasons = Vec::with_capacity(body.len());
        while !body.is_empty() {
            reasons.push(ReasonSet::UnsubAck.decode(read_u8(body)?)?);
        }
        Ok(UnsubAck {
            pkid,
            reasons,
            properties,
        })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        if !protocol.is_v5() {
            return Ok(2);
        }
        for &reason in &self.reasons {
            ReasonSet::UnsubAck.check(reason)?;
        }
        Ok(2 + self.properties.encoded_len(PropertyContext::UnsubAck)? + self.reasons.len())
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u16(self.pkid);
        if protocol.is_v5() {
            self.properties.write(buf);
            buf.extend(self.reasons.iter().map(|&r| r as u8));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ReasonCode, decode, encode};

    #[test]
    fn v3_writes_the_packet_id_only() {
        let ack = UnsubAck {
            pkid: 3,
            reasons: vec![ReasonCode::Success],
            properties: Properties::default(),
        };
        let mut buf = BytesMut::new();
        encode(&Packet::UnsubAck(ack), Protocol::V311, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0xB0, 2, 0, 3]);
    }

    #[test]
    fn v5_reasons_round_trip() {
        let ack = UnsubAck {
            pkid: 3,
            reasons: vec![ReasonCode::Success, ReasonCode::NoSubscriptionExisted],
            properties: Properties::default(),
        };
        let mut buf = BytesMut::new();
        encode(&Packet::UnsubAck(ack.clone()), Protocol::V5, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0xB0, 5, 0, 3, 0, 0x00, 0x11]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::UnsubAck(ack))
        );
    }
}
