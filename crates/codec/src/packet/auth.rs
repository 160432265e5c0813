//! AUTH (§3.15, v5 only; the fixed header rejects it in v3.x): a reason code and properties, both
//! omitted (Remaining Length 0) for Success with no properties.

use bytes::{BufMut, Bytes, BytesMut};

use super::Auth;
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol, ReasonCode};

impl Auth {
    pub(crate) fn decode(body: &mut Bytes) -> Result<Auth, DecodeError> {
        if body.is_empty() {
            return Ok(Auth::default());
        }
        let reason = ReasonSet::Auth.decode(read_u8(body)?)?;
        let properties = if body.is_empty() {
            Properties::default()
        } else {
            Properties::decode(body, PropertyContext::Auth)?
        };
        Ok(Auth { reason, properties })
    }

    fn is_short(&self) -> bool {
        self.reason == ReasonCode::Success && self.properties.is_empty()
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        if !protocol.is_v5() {
            return Err(EncodeError::NotInProtocol { packet: "AUTH" });
        }
        ReasonSet::Auth.check(self.reason)?;
        let props = self.properties.encoded_len(PropertyContext::Auth)?;
        Ok(if self.is_short() { 0 } else { 1 + props })
    }

    pub(crate) fn write_body(&self, _protocol: Protocol, buf: &mut BytesMut) {
        if self.is_short() {
            return;
        }
        buf.put_u8(self.reason as u8);
        self.properties.write(buf);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, decode, encode};

    #[test]
    fn empty_auth_is_success() {
        let mut buf = BytesMut::new();
        encode(&Packet::Auth(Auth::default()), Protocol::V5, &mut buf).unwrap();
        assert_eq!(&buf[..], &[0xF0, 0]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Auth(Auth::default()))
        );
    }

    #[test]
    fn continue_authentication_round_trips() {
        let auth = Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties::from(crate::types::PropertyValues {
                authentication_method: Some("SCRAM-SHA-1".into()),
                authentication_data: Some(Bytes::from_static(&[1, 2, 3])),
                ..Default::default()
            }),
        };
        let mut buf = BytesMut::new();
        encode(&Packet::Auth(auth.clone()), Protocol::V5, &mut buf).unwrap();
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Auth(auth))
        );
    }

    #[test]
    fn auth_does_not_exist_in_v3() {
        let mut buf = BytesMut::new();
        assert_eq!(
            encode(&Packet::Auth(Auth::default()), Protocol::V311, &mut buf),
            Err(EncodeError::NotInProtocol { packet: "AUTH" })
        );
        let err = decode(
            &mut BytesMut::from(&[0xF0, 0][..]),
            Protocol::V311,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(err, DecodeError::InvalidPacketType { packet_type: 15 });
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }
}
