//! DISCONNECT (§3.14): no body in v3.x; in v5 a reason code and properties, with Remaining Length 0
//! meaning Normal disconnection and 1 meaning no properties. Decode accepts every form. Encode
//! writes Remaining Length 0 for a Normal disconnection without properties, and otherwise always the
//! Property Length, 0 when there are none ([MQTT-2.2.2-1]), as EMQX does: the one-byte form that
//! 3.14.2.2.1 also allows is not understood by every client (rumqttc 0.25 fails to parse it and
//! reports the connection aborted instead of the reason code).

use bytes::{BufMut, Bytes, BytesMut};

use super::Disconnect;
use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u8;
use crate::properties::PropertyContext;
use crate::reason_code::ReasonSet;
use crate::types::{Properties, Protocol, ReasonCode};

impl Disconnect {
    pub(crate) fn decode(body: &mut Bytes, protocol: Protocol) -> Result<Disconnect, DecodeError> {
        if !protocol.is_v5() || body.is_empty() {
            return Ok(Disconnect::default());
        }
        let reason = ReasonSet::Disconnect.decode(read_u8(body)?)?;
        let properties = if body.is_empty() {
            Properties::default()
        } else {
            Properties::decode(body, PropertyContext::Disconnect)?
        };
        Ok(Disconnect { reason, properties })
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        if !protocol.is_v5() {
            return Ok(0);
        }
        ReasonSet::Disconnect.check(self.reason)?;
        let props = self.properties.encoded_len(PropertyContext::Disconnect)?;
        Ok(match (self.reason, props) {
            (ReasonCode::Success, 1) => 0,
            (_, props) => 1 + props,
        })
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        let props = !self.properties.is_empty();
        if !protocol.is_v5() || (self.reason == ReasonCode::Success && !props) {
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

    fn wire(d: Disconnect, protocol: Protocol) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(&Packet::Disconnect(d), protocol, &mut buf).unwrap();
        buf
    }

    #[test]
    fn short_forms() {
        assert_eq!(&wire(Disconnect::default(), Protocol::V5)[..], &[0xE0, 0]);
        let will = Disconnect {
            reason: ReasonCode::DisconnectWithWillMessage,
            ..Disconnect::default()
        };
        assert_eq!(&wire(will.clone(), Protocol::V5)[..], &[0xE0, 2, 0x04, 0]);
        assert_eq!(&wire(will.clone(), Protocol::V311)[..], &[0xE0, 0]);
        let mut buf = BytesMut::from(&[0xE0, 0][..]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Disconnect(Disconnect::default()))
        );
        // The one-byte form (3.14.2.2.1) is still read.
        let mut buf = BytesMut::from(&[0xE0, 1, 0x04][..]);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Disconnect(will))
        );
    }

    #[test]
    fn v3_disconnect_with_a_body_is_malformed() {
        let err = decode(
            &mut BytesMut::from(&[0xE0, 1, 0][..]),
            Protocol::V311,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(err, DecodeError::TrailingBytes { extra: 1 });
    }

    #[test]
    fn reason_outside_disconnect_set_is_malformed() {
        let err = decode(
            &mut BytesMut::from(&[0xE0, 1, 0x84][..]),
            Protocol::V5,
            u32::MAX,
        )
        .unwrap_err();
        assert_eq!(
            err,
            DecodeError::InvalidReasonCode {
                packet: "DISCONNECT",
                code: 0x84
            }
        );
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn session_expiry_and_server_reference_round_trip() {
        let d = Disconnect {
            reason: ReasonCode::ServerMoved,
            properties: Properties::from(crate::types::PropertyValues {
                session_expiry_interval: Some(0),
                server_reference: Some("other:1883".into()),
                ..Default::default()
            }),
        };
        let mut buf = wire(d.clone(), Protocol::V5);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Disconnect(d))
        );
    }
}
