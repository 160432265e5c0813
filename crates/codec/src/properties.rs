//! v5 properties (§2.2.2): a Variable Byte Integer length, then identifier/value pairs.
//!
//! [`PropertyContext`] names the packet (or the will) a property list belongs to and holds its allowed
//! set; decode and encode both enforce it. Decode also rejects repeats (only User Property, and
//! Subscription Identifier in PUBLISH, may repeat) and values outside their range.

use std::convert::Infallible;

use bytes::{BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::ints::{read_u8, read_u16, read_u32};
use crate::strings::{binary_len, read_binary, read_string, string_len, write};
use crate::types::Properties;
use crate::varint;

pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
pub(crate) const CONTENT_TYPE: u8 = 0x03;
pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
pub(crate) const CORRELATION_DATA: u8 = 0x09;
pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
pub(crate) const REASON_STRING: u8 = 0x1F;
pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
pub(crate) const TOPIC_ALIAS: u8 = 0x23;
pub(crate) const MAXIMUM_QOS: u8 = 0x24;
pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
pub(crate) const USER_PROPERTY: u8 = 0x26;
pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;

const fn bits(ids: &[u8]) -> u64 {
    let mut mask = 0;
    let mut i = 0;
    while i < ids.len() {
        mask |= 1 << ids[i];
        i += 1;
    }
    mask
}

/// Every property identifier defined by v5.
const KNOWN: u64 = bits(&[
    PAYLOAD_FORMAT_INDICATOR,
    MESSAGE_EXPIRY_INTERVAL,
    CONTENT_TYPE,
    RESPONSE_TOPIC,
    CORRELATION_DATA,
    SUBSCRIPTION_IDENTIFIER,
    SESSION_EXPIRY_INTERVAL,
    ASSIGNED_CLIENT_IDENTIFIER,
    SERVER_KEEP_ALIVE,
    AUTHENTICATION_METHOD,
    AUTHENTICATION_DATA,
    REQUEST_PROBLEM_INFORMATION,
    WILL_DELAY_INTERVAL,
    REQUEST_RESPONSE_INFORMATION,
    RESPONSE_INFORMATION,
    SERVER_REFERENCE,
    REASON_STRING,
    RECEIVE_MAXIMUM,
    TOPIC_ALIAS_MAXIMUM,
    TOPIC_ALIAS,
    MAXIMUM_QOS,
    RETAIN_AVAILABLE,
    USER_PROPERTY,
    MAXIMUM_PACKET_SIZE,
    WILDCARD_SUBSCRIPTION_AVAILABLE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE,
    SHARED_SUBSCRIPTION_AVAILABLE,
]);

/// Which property list is being read or written: one per packet type, plus the will in CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropertyContext {
    Connect,
    Will,
    ConnAck,
    Publish,
    PubAck,
    PubRec,
    PubRel,
    PubComp,
    Subscribe,
    SubAck,
    Unsubscribe,
    UnsubAck,
    Disconnect,
    Auth,
}

impl PropertyContext {
    pub fn name(self) -> &'static str {
        use PropertyContext::*;
        match self {
            Connect => "CONNECT",
            Will => "CONNECT will properties",
            ConnAck => "CONNACK",
            Publish => "PUBLISH",
            PubAck => "PUBACK",
            PubRec => "PUBREC",
            PubRel => "PUBREL",
            PubComp => "PUBCOMP",
            Subscribe => "SUBSCRIBE",
            SubAck => "SUBACK",
            Unsubscribe => "UNSUBSCRIBE",
            UnsubAck => "UNSUBACK",
            Disconnect => "DISCONNECT",
            Auth => "AUTH",
        }
    }

    /// The allowed set (the "Used in" column of §2.2.2.2).
    fn allowed(self) -> u64 {
        use PropertyContext::*;
        const MESSAGE: [u8; 6] = [
            PAYLOAD_FORMAT_INDICATOR,
            MESSAGE_EXPIRY_INTERVAL,
            CONTENT_TYPE,
            RESPONSE_TOPIC,
            CORRELATION_DATA,
            USER_PROPERTY,
        ];
        const ACK: u64 = bits(&[REASON_STRING, USER_PROPERTY]);
        match self {
            Connect => bits(&[
                SESSION_EXPIRY_INTERVAL,
                AUTHENTICATION_METHOD,
                AUTHENTICATION_DATA,
                REQUEST_PROBLEM_INFORMATION,
                REQUEST_RESPONSE_INFORMATION,
                RECEIVE_MAXIMUM,
                TOPIC_ALIAS_MAXIMUM,
                USER_PROPERTY,
                MAXIMUM_PACKET_SIZE,
            ]),
            Will => bits(&MESSAGE) | bits(&[WILL_DELAY_INTERVAL]),
            ConnAck => bits(&[
                SESSION_EXPIRY_INTERVAL,
                ASSIGNED_CLIENT_IDENTIFIER,
                SERVER_KEEP_ALIVE,
                AUTHENTICATION_METHOD,
                AUTHENTICATION_DATA,
                RESPONSE_INFORMATION,
                SERVER_REFERENCE,
                REASON_STRING,
                RECEIVE_MAXIMUM,
                TOPIC_ALIAS_MAXIMUM,
                MAXIMUM_QOS,
                RETAIN_AVAILABLE,
                USER_PROPERTY,
                MAXIMUM_PACKET_SIZE,
                WILDCARD_SUBSCRIPTION_AVAILABLE,
                SUBSCRIPTION_IDENTIFIER_AVAILABLE,
                SHARED_SUBSCRIPTION_AVAILABLE,
            ]),
            Publish => bits(&MESSAGE) | bits(&[SUBSCRIPTION_IDENTIFIER, TOPIC_ALIAS]),
            PubAck | PubRec | PubRel | PubComp | SubAck | UnsubAck => ACK,
            Subscribe => bits(&[SUBSCRIPTION_IDENTIFIER, USER_PROPERTY]),
            Unsubscribe => bits(&[USER_PROPERTY]),
            Disconnect => bits(&[
                SESSION_EXPIRY_INTERVAL,
                SERVER_REFERENCE,
                REASON_STRING,
                USER_PROPERTY,
            ]),
            Auth => bits(&[
                AUTHENTICATION_METHOD,
                AUTHENTICATION_DATA,
                REASON_STRING,
                USER_PROPERTY,
            ]),
        }
    }

    fn allows(self, id: u8) -> bool {
        self.allowed() & (1 << id) != 0
    }

    fn may_repeat(self, id: u8) -> bool {
        id == USER_PROPERTY || (id == SUBSCRIPTION_IDENTIFIER && self == PropertyContext::Publish)
    }
}

/// One property value, borrowed from [`Properties`] for encoding.
enum Value<'a> {
    Byte(u8),
    TwoByte(u16),
    FourByte(u32),
    VarInt(u32),
    Str(&'a str),
    Binary(&'a [u8]),
    Pair(&'a str, &'a str),
}

impl Value<'_> {
    /// Encoded size, checking that the value fits its encoding.
    fn checked_len(&self) -> Result<usize, EncodeError> {
        Ok(match *self {
            Value::VarInt(v) => varint::len(varint::check(v)? as usize),
            Value::Str(s) => string_len(s)?,
            Value::Binary(b) => binary_len(b)?,
            Value::Pair(k, v) => string_len(k)? + string_len(v)?,
            _ => self.len(),
        })
    }

    /// Encoded size of a value already checked by [`Value::checked_len`].
    fn len(&self) -> usize {
        match *self {
            Value::Byte(_) => 1,
            Value::TwoByte(_) => 2,
            Value::FourByte(_) => 4,
            Value::VarInt(v) => varint::len(v as usize),
            Value::Str(s) => 2 + s.len(),
            Value::Binary(b) => 2 + b.len(),
            Value::Pair(k, v) => 4 + k.len() + v.len(),
        }
    }

    fn write(&self, buf: &mut BytesMut) {
        match *self {
            Value::Byte(v) => buf.put_u8(v),
            Value::TwoByte(v) => buf.put_u16(v),
            Value::FourByte(v) => buf.put_u32(v),
            Value::VarInt(v) => varint::write(buf, v as usize),
            Value::Str(s) => write(buf, s.as_bytes()),
            Value::Binary(b) => write(buf, b),
            Value::Pair(k, v) => {
                write(buf, k.as_bytes());
                write(buf, v.as_bytes());
            }
        }
    }
}

impl Properties {
    /// Visits every set property in identifier order.
    fn for_each<E>(&self, mut f: impl FnMut(u8, Value<'_>) -> Result<(), E>) -> Result<(), E> {
        use Value::*;
        if self.is_unset() {
            return Ok(());
        }
        macro_rules! one {
            ($field:ident, $id:expr, |$v:ident| $value:expr) => {
                if let Some($v) = &self.$field {
                    f($id, $value)?;
                }
            };
        }
        one!(
            payload_format_indicator,
            PAYLOAD_FORMAT_INDICATOR,
            |v| Byte(*v)
        );
        one!(message_expiry_interval, MESSAGE_EXPIRY_INTERVAL, |v| {
            FourByte(*v)
        });
        one!(content_type, CONTENT_TYPE, |v| Str(v));
        one!(response_topic, RESPONSE_TOPIC, |v| Str(v));
        one!(correlation_data, CORRELATION_DATA, |v| Binary(v));
        for id in &self.subscription_identifiers {
            f(SUBSCRIPTION_IDENTIFIER, VarInt(*id))?;
        }
        one!(session_expiry_interval, SESSION_EXPIRY_INTERVAL, |v| {
            FourByte(*v)
        });
        one!(
            assigned_client_identifier,
            ASSIGNED_CLIENT_IDENTIFIER,
            |v| Str(v)
        );
        one!(server_keep_alive, SERVER_KEEP_ALIVE, |v| TwoByte(*v));
        one!(authentication_method, AUTHENTICATION_METHOD, |v| Str(v));
        one!(authentication_data, AUTHENTICATION_DATA, |v| Binary(v));
        one!(
            request_problem_information,
            REQUEST_PROBLEM_INFORMATION,
            |v| Byte(*v)
        );
        one!(will_delay_interval, WILL_DELAY_INTERVAL, |v| FourByte(*v));
        one!(
            request_response_information,
            REQUEST_RESPONSE_INFORMATION,
            |v| Byte(*v)
        );
        one!(response_information, RESPONSE_INFORMATION, |v| Str(v));
        one!(server_reference, SERVER_REFERENCE, |v| Str(v));
        one!(reason_string, REASON_STRING, |v| Str(v));
        one!(receive_maximum, RECEIVE_MAXIMUM, |v| TwoByte(*v));
        one!(topic_alias_maximum, TOPIC_ALIAS_MAXIMUM, |v| TwoByte(*v));
        one!(topic_alias, TOPIC_ALIAS, |v| TwoByte(*v));
        one!(maximum_qos, MAXIMUM_QOS, |v| Byte(*v));
        one!(retain_available, RETAIN_AVAILABLE, |v| Byte(*v));
        for (k, v) in &self.user_properties {
            f(USER_PROPERTY, Pair(k, v))?;
        }
        one!(maximum_packet_size, MAXIMUM_PACKET_SIZE, |v| FourByte(*v));
        one!(
            wildcard_subscription_available,
            WILDCARD_SUBSCRIPTION_AVAILABLE,
            |v| Byte(*v)
        );
        one!(
            subscription_identifier_available,
            SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            |v| Byte(*v)
        );
        one!(
            shared_subscription_available,
            SHARED_SUBSCRIPTION_AVAILABLE,
            |v| Byte(*v)
        );
        Ok(())
    }

    /// Length of the property list's contents (without its length prefix), checking that every set
    /// property is allowed in `ctx`, not repeated, and fits its encoding.
    fn content_len(&self, ctx: PropertyContext) -> Result<usize, EncodeError> {
        let mut len = 0;
        let mut seen = 0u64;
        self.for_each(|id, value| {
            if !ctx.allows(id) {
                return Err(EncodeError::PropertyNotAllowed {
                    packet: ctx.name(),
                    id,
                });
            }
            if seen & (1 << id) != 0 && !ctx.may_repeat(id) {
                return Err(EncodeError::RepeatedProperty {
                    packet: ctx.name(),
                    id,
                });
            }
            seen |= 1 << id;
            len += 1 + value.checked_len()?;
            Ok(())
        })?;
        Ok(len)
    }

    /// Length of the whole property list, prefix included.
    pub(crate) fn encoded_len(&self, ctx: PropertyContext) -> Result<usize, EncodeError> {
        let content = self.content_len(ctx)?;
        Ok(varint::len(content) + content)
    }

    /// Writes the property list, prefix included; [`Properties::encoded_len`] must have accepted it.
    pub(crate) fn write(&self, buf: &mut BytesMut) {
        let mut content_len = 0;
        let _ = self.for_each(|_, value| {
            content_len += 1 + value.len();
            Ok::<(), Infallible>(())
        });
        varint::write(buf, content_len);
        let _ = self.for_each(|id, value| {
            buf.put_u8(id);
            value.write(buf);
            Ok::<(), Infallible>(())
        });
    }

    /// Reads a property list: its length, then every property, enforcing `ctx`'s allowed set.
    pub(crate) fn decode(buf: &mut Bytes, ctx: PropertyContext) -> Result<Properties, DecodeError> {
        let len = varint::read(buf)? as usize;
        let mut props = Properties::default();
        if len == 0 {
            return Ok(props);
        }
        if buf.len() < len {
            return Err(DecodeError::UnexpectedEnd);
        }
        let mut p = buf.split_to(len);
        let mut seen = 0u64;
        while !p.is_empty() {
            let raw_id = varint::read(&mut p)?;
            if raw_id >= 64 || KNOWN & (1 << raw_id) == 0 {
                return Err(DecodeError::UnknownProperty { id: raw_id });
            }
            let id = raw_id as u8;
            if !ctx.allows(id) {
                return Err(DecodeError::PropertyNotAllowed {
                    packet: ctx.name(),
                    id,
                });
            }
            if seen & (1 << id) != 0 && !ctx.may_repeat(id) {
                return Err(DecodeError::DuplicateProperty {
                    packet: ctx.name(),
                    id,
                });
            }
            seen |= 1 << id;
            props.read_value(id, &mut p)?;
        }
        Ok(props)
    }

    fn read_value(&mut self, id: u8, p: &mut Bytes) -> Result<(), DecodeError> {
        let flag = |p: &mut Bytes| -> Result<u8, DecodeError> {
            match read_u8(p)? {
                v @ (0 | 1) => Ok(v),
                v => Err(DecodeError::InvalidPropertyValue {
                    id,
                    value: u32::from(v),
                }),
            }
        };
        let nonzero_u16 = |p: &mut Bytes| -> Result<u16, DecodeError> {
            match read_u16(p)? {
                0 => Err(DecodeError::InvalidPropertyValue { id, value: 0 }),
                v => Ok(v),
            }
        };
        match id {
            PAYLOAD_FORMAT_INDICATOR => self.payload_format_indicator = Some(flag(p)?),
            MESSAGE_EXPIRY_INTERVAL => self.message_expiry_interval = Some(read_u32(p)?),
            CONTENT_TYPE => self.content_type = Some(read_string(p)?),
            RESPONSE_TOPIC => self.response_topic = Some(read_string(p)?),
            CORRELATION_DATA => self.correlation_data = Some(read_binary(p)?),
            SUBSCRIPTION_IDENTIFIER => match varint::read(p)? {
                0 => return Err(DecodeError::InvalidPropertyValue { id, value: 0 }),
                v => self.subscription_identifiers.push(v),
            },
            SESSION_EXPIRY_INTERVAL => self.session_expiry_interval = Some(read_u32(p)?),
            ASSIGNED_CLIENT_IDENTIFIER => self.assigned_client_identifier = Some(read_string(p)?),
            SERVER_KEEP_ALIVE => self.server_keep_alive = Some(read_u16(p)?),
            AUTHENTICATION_METHOD => self.authentication_method = Some(read_string(p)?),
            AUTHENTICATION_DATA => self.authentication_data = Some(read_binary(p)?),
            REQUEST_PROBLEM_INFORMATION => self.request_problem_information = Some(flag(p)?),
            WILL_DELAY_INTERVAL => self.will_delay_interval = Some(read_u32(p)?),
            REQUEST_RESPONSE_INFORMATION => self.request_response_information = Some(flag(p)?),
            RESPONSE_INFORMATION => self.response_information = Some(read_string(p)?),
            SERVER_REFERENCE => self.server_reference = Some(read_string(p)?),
            REASON_STRING => self.reason_string = Some(read_string(p)?),
            RECEIVE_MAXIMUM => self.receive_maximum = Some(nonzero_u16(p)?),
            TOPIC_ALIAS_MAXIMUM => self.topic_alias_maximum = Some(read_u16(p)?),
            TOPIC_ALIAS => match read_u16(p)? {
                0 => return Err(DecodeError::TopicAliasZero),
                v => self.topic_alias = Some(v),
            },
            MAXIMUM_QOS => self.maximum_qos = Some(flag(p)?),
            RETAIN_AVAILABLE => self.retain_available = Some(flag(p)?),
            USER_PROPERTY => {
                let key = read_string(p)?;
                self.user_properties.push((key, read_string(p)?));
            }
            MAXIMUM_PACKET_SIZE => match read_u32(p)? {
                0 => return Err(DecodeError::InvalidPropertyValue { id, value: 0 }),
                v => self.maximum_packet_size = Some(v),
            },
            WILDCARD_SUBSCRIPTION_AVAILABLE => {
                self.wildcard_subscription_available = Some(flag(p)?)
            }
            SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                self.subscription_identifier_available = Some(flag(p)?)
            }
            SHARED_SUBSCRIPTION_AVAILABLE => self.shared_subscription_available = Some(flag(p)?),
            _ => return Err(DecodeError::UnknownProperty { id: u32::from(id) }),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(props: &Properties, ctx: PropertyContext) -> Bytes {
        props.encoded_len(ctx).unwrap();
        let mut buf = BytesMut::new();
        props.write(&mut buf);
        assert_eq!(buf.len(), props.encoded_len(ctx).unwrap());
        buf.freeze()
    }

    fn all_connack() -> Properties {
        Properties::from(crate::types::PropertyValues {
            session_expiry_interval: Some(u32::MAX),
            assigned_client_identifier: Some("id".into()),
            server_keep_alive: Some(30),
            authentication_method: Some("m".into()),
            authentication_data: Some(Bytes::from_static(b"\x00\x01")),
            response_information: Some("r".into()),
            server_reference: Some("s".into()),
            reason_string: Some("why".into()),
            receive_maximum: Some(10),
            topic_alias_maximum: Some(0),
            maximum_qos: Some(1),
            retain_available: Some(0),
            user_properties: vec![("k".into(), "v".into()), ("k".into(), "v2".into())],
            maximum_packet_size: Some(1 << 20),
            wildcard_subscription_available: Some(1),
            subscription_identifier_available: Some(0),
            shared_subscription_available: Some(1),
            ..Default::default()
        })
    }

    #[test]
    fn empty_list_is_a_single_zero() {
        let props = Properties::default();
        assert_eq!(&encoded(&props, PropertyContext::Publish)[..], &[0]);
        let mut buf = Bytes::from_static(&[0, 0xAA]);
        assert_eq!(
            Properties::decode(&mut buf, PropertyContext::Publish),
            Ok(Properties::default())
        );
        assert_eq!(&buf[..], &[0xAA]);
    }

    #[test]
    fn every_connack_property_round_trips() {
        let props = all_connack();
        let mut wire = encoded(&props, PropertyContext::ConnAck);
        assert_eq!(
            Properties::decode(&mut wire, PropertyContext::ConnAck),
            Ok(props)
        );
        assert!(wire.is_empty());
    }

    #[test]
    fn message_properties_round_trip_in_publish() {
        let props = Properties::from(crate::types::PropertyValues {
            payload_format_indicator: Some(1),
            message_expiry_interval: Some(60),
            content_type: Some("application/json".into()),
            response_topic: Some("reply/to".into()),
            correlation_data: Some(Bytes::from_static(b"corr")),
            subscription_identifiers: vec![1, 128, 16_384, 268_435_455],
            topic_alias: Some(7),
            ..Default::default()
        });
        let mut wire = encoded(&props, PropertyContext::Publish);
        assert_eq!(
            Properties::decode(&mut wire, PropertyContext::Publish),
            Ok(props)
        );
    }

    #[test]
    fn encode_enforces_the_allowed_set() {
        let props = Properties::from(crate::types::PropertyValues {
            topic_alias: Some(1),
            ..Default::default()
        });
        assert_eq!(
            props.encoded_len(PropertyContext::PubAck),
            Err(EncodeError::PropertyNotAllowed {
                packet: "PUBACK",
                id: TOPIC_ALIAS
            })
        );
        assert!(all_connack().encoded_len(PropertyContext::Connect).is_err());
    }

    #[test]
    fn encode_rejects_repeated_subscription_identifier_outside_publish() {
        let props = Properties::from(crate::types::PropertyValues {
            subscription_identifiers: vec![1, 2],
            ..Default::default()
        });
        assert_eq!(
            props.encoded_len(PropertyContext::Subscribe),
            Err(EncodeError::RepeatedProperty {
                packet: "SUBSCRIBE",
                id: SUBSCRIPTION_IDENTIFIER
            })
        );
        assert!(props.encoded_len(PropertyContext::Publish).is_ok());
        let too_big = Properties::from(crate::types::PropertyValues {
            subscription_identifiers: vec![varint::MAX + 1],
            ..Default::default()
        });
        assert!(too_big.encoded_len(PropertyContext::Publish).is_err());
    }

    #[test]
    fn mqtt_2_2_2_2_duplicate_property_is_protocol_error() {
        let mut dup = Bytes::from_static(&[6, 0x13, 0, 5, 0x13, 0, 6]);
        let err = Properties::decode(&mut dup, PropertyContext::ConnAck).unwrap_err();
        assert_eq!(
            err,
            DecodeError::DuplicateProperty {
                packet: "CONNACK",
                id: SERVER_KEEP_ALIVE
            }
        );
        assert_eq!(err.reason_code(), crate::ReasonCode::ProtocolError);
    }

    #[test]
    fn property_not_allowed_and_unknown_are_malformed() {
        let mut wire = Bytes::from_static(&[2, PAYLOAD_FORMAT_INDICATOR, 1]);
        let err = Properties::decode(&mut wire, PropertyContext::Connect).unwrap_err();
        assert_eq!(
            err,
            DecodeError::PropertyNotAllowed {
                packet: "CONNECT",
                id: PAYLOAD_FORMAT_INDICATOR
            }
        );
        assert_eq!(err.reason_code(), crate::ReasonCode::MalformedPacket);
        let mut wire = Bytes::from_static(&[2, 0x7F, 1]);
        assert_eq!(
            Properties::decode(&mut wire, PropertyContext::Connect),
            Err(DecodeError::UnknownProperty { id: 0x7F })
        );
    }

    #[test]
    fn value_running_past_the_list_is_unexpected_end() {
        // The list claims 2 bytes but Message Expiry Interval needs 4.
        let mut wire = Bytes::from_static(&[2, MESSAGE_EXPIRY_INTERVAL, 0, 0, 0, 0]);
        assert_eq!(
            Properties::decode(&mut wire, PropertyContext::Publish),
            Err(DecodeError::UnexpectedEnd)
        );
    }

    #[test]
    fn flags_must_be_0_or_1() {
        for id in [MAXIMUM_QOS, RETAIN_AVAILABLE, SHARED_SUBSCRIPTION_AVAILABLE] {
            let mut wire = Bytes::from(vec![2, id, 2]);
            assert_eq!(
                Properties::decode(&mut wire, PropertyContext::ConnAck),
                Err(DecodeError::InvalidPropertyValue { id, value: 2 })
            );
        }
    }

    #[test]
    fn an_empty_set_is_unallocated_and_one_word() {
        assert_eq!(
            std::mem::size_of::<Properties>(),
            std::mem::size_of::<usize>()
        );
        let mut buf = Bytes::from_static(&[0]);
        let decoded = Properties::decode(&mut buf, PropertyContext::Publish).unwrap();
        assert!(decoded.is_unset() && decoded.is_empty());
        assert_eq!(
            encoded(&decoded, PropertyContext::Publish),
            Bytes::from_static(&[0])
        );
        // Built empty: still unallocated, and equal to a written-then-cleared set.
        let built = Properties::from(crate::types::PropertyValues::default());
        assert!(built.is_unset());
        let mut cleared = Properties::default();
        cleared.topic_alias = Some(1);
        assert!(!cleared.is_unset() && !cleared.is_empty());
        cleared.topic_alias = None;
        assert!(!cleared.is_unset() && cleared.is_empty());
        assert_eq!(cleared, built);
        assert_eq!(
            encoded(&cleared, PropertyContext::Publish),
            Bytes::from_static(&[0])
        );
        // Reading or clearing through `values_mut` allocates nothing.
        let mut unset = Properties::default();
        assert_eq!(unset.topic_alias, None);
        assert!(unset.values_mut().is_none() && unset.is_unset());
    }
}
