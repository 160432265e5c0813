//! PUBLISH (§3.3): DUP/QoS/RETAIN in the fixed header (checked there), Topic Name, Packet Identifier
//! when QoS > 0, v5 properties, then the payload as a zero-copy slice of the read buffer.
//! v5 allows an empty Topic Name when a Topic Alias is set; v3.x never does.

use bytes::{BufMut, Bytes, BytesMut};

use super::{Publish, read_pkid};
use crate::error::{DecodeError, EncodeError};
use crate::properties::PropertyContext;
use crate::strings::{read_string, string_len, write};
use crate::types::{Properties, Protocol, QoS};
use crate::varint;

const DUP: u8 = 0b1000;
const RETAIN: u8 = 0b0001;

impl Publish {
    /// `flags` were validated with the fixed header (QoS 3, DUP on QoS 0).
    pub(crate) fn decode(
        flags: u8,
        body: &mut Bytes,
        protocol: Protocol,
    ) -> Result<Publish, DecodeError> {
        let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
        let topic = read_string(body)?;
        if topic.bytes().any(|b| b == b'+' || b == b'#') {
            return Err(DecodeError::WildcardInTopicName);
        }
        let pkid = if qos == QoS::AtMostOnce {
            0
        } else {
            read_pkid(body, "PUBLISH")?
        };
        let properties = if protocol.is_v5() {
            Properties::decode(body, PropertyContext::Publish)?
        } else {
            Properties::default()
        };
        if topic.is_empty() && properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopicName);
        }
        Ok(Publish {
            dup: flags & DUP != 0,
            qos,
            retain: flags & RETAIN != 0,
            topic,
            pkid,
            properties,
            payload: std::mem::take(body),
        })
    }

    /// The same packet, borrowed.
    pub fn as_ref(&self) -> PublishRef<'_> {
        PublishRef {
            dup: self.dup,
            qos: self.qos,
            retain: self.retain,
            topic: &self.topic,
            pkid: self.pkid,
            properties: &self.properties,
            payload: &self.payload,
        }
    }

    pub(crate) fn flags(&self) -> u8 {
        self.as_ref().flags()
    }

    pub(crate) fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        self.as_ref().body_len(protocol)
    }

    pub(crate) fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        self.as_ref().write_body(protocol, buf)
    }
}

/// A PUBLISH given by borrowed parts, so a broker can write one delivery per subscriber without
/// building a [`Publish`] for each (no topic copy, no properties clone).
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    pub dup: bool,
    pub qos: QoS,
    pub retain: bool,
    pub topic: &'a str,
    pub pkid: u16,
    pub properties: &'a Properties,
    pub payload: &'a [u8],
}

impl PublishRef<'_> {
    /// Size in bytes [`PublishRef::encode`] writes (fixed header included).
    pub fn encoded_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let remaining = self.remaining_len(protocol)?;
        Ok(1 + varint::len(remaining) + remaining)
    }

    /// Appends the encoded packet to `buf`, exactly as [`crate::encode`] does for the [`Publish`].
    pub fn encode(&self, protocol: Protocol, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let remaining = self.remaining_len(protocol)?;
        buf.reserve(1 + varint::len(remaining) + remaining);
        self.write_header(remaining, protocol, buf);
        buf.put_slice(self.payload);
        Ok(())
    }

    /// Appends everything but the payload: fixed header (whose Remaining Length counts the
    /// payload), topic, packet id and properties. The payload's bytes must follow on the wire, so
    /// a large payload can be written from where it is (a vectored write) instead of copied.
    pub fn encode_header(&self, protocol: Protocol, buf: &mut BytesMut) -> Result<(), EncodeError> {
        let remaining = self.remaining_len(protocol)?;
        buf.reserve(1 + varint::len(remaining) + remaining - self.payload.len());
        self.write_header(remaining, protocol, buf);
        Ok(())
    }

    fn write_header(&self, remaining: usize, protocol: Protocol, buf: &mut BytesMut) {
        buf.put_u8(super::fh::PUBLISH << 4 | self.flags());
        varint::write(buf, remaining);
        self.write_variable_header(protocol, buf);
    }

    fn remaining_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let len = self.body_len(protocol)?;
        if len > crate::MAX_REMAINING_LENGTH {
            return Err(EncodeError::PacketTooLarge { len });
        }
        Ok(len)
    }

    /// The low nibble of the fixed header's first byte. DUP is never written on QoS 0
    /// ([MQTT-3.3.1-2]), so a message downgraded to QoS 0 stays well-formed.
    fn flags(&self) -> u8 {
        let mut flags = (self.qos as u8) << 1;
        if self.dup && self.qos != QoS::AtMostOnce {
            flags |= DUP;
        }
        if self.retain {
            flags |= RETAIN;
        }
        flags
    }

    fn body_len(&self, protocol: Protocol) -> Result<usize, EncodeError> {
        let mut len = string_len(self.topic)? + self.payload.len();
        if self.qos != QoS::AtMostOnce {
            len += 2;
        }
        if protocol.is_v5() {
            len += self.properties.encoded_len(PropertyContext::Publish)?;
        }
        Ok(len)
    }

    fn write_body(&self, protocol: Protocol, buf: &mut BytesMut) {
        self.write_variable_header(protocol, buf);
        buf.put_slice(self.payload);
    }

    /// Topic, packet id (QoS > 0) and properties (v5): the body up to the payload.
    fn write_variable_header(&self, protocol: Protocol, buf: &mut BytesMut) {
        write(buf, self.topic.as_bytes());
        if self.qos != QoS::AtMostOnce {
            buf.put_u16(self.pkid);
        }
        if protocol.is_v5() {
            self.properties.write(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Packet, ReasonCode, decode, encode};

    fn publish(topic: &str, qos: QoS, pkid: u16) -> Publish {
        Publish {
            topic: topic.into(),
            qos,
            pkid,
            payload: Bytes::from_static(b"hi"),
            ..Publish::default()
        }
    }

    fn wire(p: &Publish, protocol: Protocol) -> BytesMut {
        let mut buf = BytesMut::new();
        encode(&Packet::Publish(p.clone()), protocol, &mut buf).unwrap();
        buf
    }

    fn decode_err(mut buf: BytesMut, protocol: Protocol) -> DecodeError {
        decode(&mut buf, protocol, u32::MAX).unwrap_err()
    }

    #[test]
    fn v311_qos1_matches_spec_bytes() {
        let buf = wire(&publish("a/b", QoS::AtLeastOnce, 10), Protocol::V311);
        assert_eq!(&buf[..], b"\x32\x09\x00\x03a/b\x00\x0ahi");
    }

    #[test]
    fn header_then_payload_is_the_whole_packet() {
        let mut p = publish("a/b", QoS::ExactlyOnce, 7);
        p.payload = Bytes::from(vec![9u8; 300]);
        p.properties.user_properties.push(("k".into(), "v".into()));
        for protocol in [Protocol::V311, Protocol::V5] {
            let mut head = BytesMut::new();
            p.as_ref().encode_header(protocol, &mut head).unwrap();
            assert_eq!(
                head.len() + p.payload.len(),
                p.as_ref().encoded_len(protocol).unwrap()
            );
            head.extend_from_slice(&p.payload);
            assert_eq!(head, wire(&p, protocol), "{protocol:?}");
        }
    }

    #[test]
    fn payload_is_a_slice_of_the_read_buffer() {
        let mut buf = wire(&publish("t", QoS::AtMostOnce, 0), Protocol::V5);
        let base = buf.as_ptr() as usize;
        let Some(Packet::Publish(p)) = decode(&mut buf, Protocol::V5, u32::MAX).unwrap() else {
            panic!()
        };
        let at = p.payload.as_ptr() as usize;
        assert_eq!(
            at - base,
            2 + 3 + 1,
            "payload should point into the original allocation"
        );
    }

    #[test]
    fn mqtt_3_3_2_2_wildcard_in_publish_topic_is_0x90() {
        for topic in ["a/+", "#", "a/#/b"] {
            let err = decode_err(
                wire(&publish(topic, QoS::AtMostOnce, 0), Protocol::V5),
                Protocol::V5,
            );
            assert_eq!(err, DecodeError::WildcardInTopicName);
            assert_eq!(err.reason_code(), ReasonCode::TopicNameInvalid);
        }
    }

    #[test]
    fn mqtt_4_7_3_1_empty_topic_needs_a_topic_alias() {
        let mut p = publish("", QoS::AtMostOnce, 0);
        let err = decode_err(wire(&p, Protocol::V311), Protocol::V311);
        assert_eq!(err, DecodeError::EmptyTopicName);
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
        assert_eq!(
            decode_err(wire(&p, Protocol::V5), Protocol::V5),
            DecodeError::EmptyTopicName
        );

        p.properties.topic_alias = Some(3);
        let mut buf = wire(&p, Protocol::V5);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Publish(p))
        );
    }

    #[test]
    fn mqtt_2_2_1_3_packet_id_zero_with_qos_1_is_protocol_error() {
        let err = decode_err(
            wire(&publish("t", QoS::AtLeastOnce, 0), Protocol::V311),
            Protocol::V311,
        );
        assert_eq!(err, DecodeError::PacketIdZero { packet: "PUBLISH" });
        assert_eq!(err.reason_code(), ReasonCode::ProtocolError);
    }

    #[test]
    fn mqtt_3_3_1_4_qos_3_is_malformed() {
        let err = decode_err(
            BytesMut::from(&[0x36, 5, 0, 1, b't', 0, 1][..]),
            Protocol::V311,
        );
        assert_eq!(err, DecodeError::InvalidQoS);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_3_1_2_dup_on_qos_0_is_malformed() {
        let err = decode_err(BytesMut::from(&[0x38, 3, 0, 1, b't'][..]), Protocol::V5);
        assert_eq!(err, DecodeError::DupWithQoS0);
        assert_eq!(err.reason_code(), ReasonCode::MalformedPacket);
    }

    #[test]
    fn mqtt_3_3_2_8_topic_alias_zero_is_0x94() {
        // topic "t", property length 3, Topic Alias (0x23) = 0.
        let err = decode_err(
            BytesMut::from(&[0x30, 7, 0, 1, b't', 3, 0x23, 0, 0][..]),
            Protocol::V5,
        );
        assert_eq!(err, DecodeError::TopicAliasZero);
        assert_eq!(err.reason_code(), ReasonCode::TopicAliasInvalid);
    }

    #[test]
    fn subscription_identifier_may_repeat_in_publish() {
        let mut p = publish("t", QoS::ExactlyOnce, 7);
        p.properties.subscription_identifiers = vec![1, 268_435_455];
        let mut buf = wire(&p, Protocol::V5);
        assert_eq!(
            decode(&mut buf, Protocol::V5, u32::MAX).unwrap(),
            Some(Packet::Publish(p))
        );
    }

    #[test]
    fn dup_is_not_written_on_qos_0() {
        let mut p = publish("t", QoS::AtMostOnce, 0);
        p.dup = true;
        assert_eq!(wire(&p, Protocol::V311)[0], 0x30);
        p.qos = QoS::AtLeastOnce;
        p.pkid = 1;
        assert_eq!(wire(&p, Protocol::V311)[0], 0x3A);
    }

    #[test]
    fn publish_ref_encodes_like_the_packet() {
        let mut p = publish("a/b", QoS::ExactlyOnce, 9);
        p.dup = true;
        p.retain = true;
        p.properties.content_type = Some("text/plain".into());
        p.properties.subscription_identifiers = vec![3];
        for protocol in [Protocol::V311, Protocol::V5] {
            let mut by_ref = BytesMut::new();
            p.as_ref().encode(protocol, &mut by_ref).unwrap();
            assert_eq!(by_ref, wire(&p, protocol));
            assert_eq!(
                p.as_ref().encoded_len(protocol).unwrap(),
                crate::encoded_len(&Packet::Publish(p.clone()), protocol).unwrap()
            );
        }
    }

    #[test]
    fn v3_encode_drops_properties() {
        let mut p = publish("t", QoS::AtMostOnce, 0);
        p.properties.content_type = Some("text/plain".into());
        assert_eq!(&wire(&p, Protocol::V311)[..], b"\x30\x05\x00\x01thi");
    }
}
