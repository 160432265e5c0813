//! Writing a forwarded message straight from borrowed fields: the bytes of
//! [`ForwardedMessage::encode`](super::ForwardedMessage::encode) without copying each field into an
//! owned record and a term tree first (the forwarding hot path encodes one per message).

use std::sync::OnceLock;

use bytes::Bytes;

use crate::encode::{
    compress_encoded, len32, write_atom, write_binary, write_int, write_map_header,
};
use crate::{Atom, VERSION, tag};

/// One `'User-Property'` pair as bytes, whatever the caller keeps it in.
pub trait UserPropertyPair {
    fn key(&self) -> &[u8];
    fn value(&self) -> &[u8];
}

impl UserPropertyPair for (Bytes, Bytes) {
    fn key(&self) -> &[u8] {
        &self.0
    }
    fn value(&self) -> &[u8] {
        &self.1
    }
}

impl UserPropertyPair for (String, String) {
    fn key(&self) -> &[u8] {
        self.0.as_bytes()
    }
    fn value(&self) -> &[u8] {
        self.1.as_bytes()
    }
}

/// [`MessageProperties`](super::MessageProperties), borrowed.
#[derive(Debug, Clone, Copy)]
pub struct MessagePropertiesRef<'a, U> {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<&'a str>,
    pub response_topic: Option<&'a str>,
    pub correlation_data: Option<&'a [u8]>,
    pub user_properties: &'a [U],
}

/// [`ForwardedMessage`](super::ForwardedMessage), borrowed: what the sending side encodes.
#[derive(Debug, Clone, Copy)]
pub struct ForwardedMessageRef<'a, U> {
    pub id: [u8; 16],
    pub qos: u8,
    pub from: &'a str,
    pub dup: bool,
    pub retain: bool,
    pub properties: MessagePropertiesRef<'a, U>,
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub timestamp_ms: u64,
}

impl<U: UserPropertyPair> ForwardedMessageRef<'_, U> {
    /// `term_to_binary(Msg, [compressed])`: the same bytes as
    /// [`ForwardedMessage::encode`](super::ForwardedMessage::encode) of the owned record.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len_hint());
        out.push(VERSION);
        self.write(&mut out);
        compress_encoded(out)
    }

    /// Close to the plain length (exact for integers that fit a small-integer or big tag).
    fn encoded_len_hint(&self) -> usize {
        let p = &self.properties;
        let text = |s: Option<&str>| s.map_or(0, |s| 16 + 5 + s.len());
        let users: usize = p
            .user_properties
            .iter()
            .map(|u| 2 + 10 + u.key().len() + u.value().len())
            .sum();
        96 + self.from.len()
            + self.topic.len()
            + self.payload.len()
            + text(p.content_type)
            + text(p.response_topic)
            + p.correlation_data.map_or(0, |c| 24 + c.len())
            + 64
            + users
    }

    /// The `#message{}` 10-tuple, as `write_term` writes the owned record's term.
    fn write(&self, out: &mut Vec<u8>) {
        let f = fixed();
        out.extend_from_slice(&f.head);
        out.extend_from_slice(&self.id);
        write_int(out, i128::from(self.qos));
        write_binary(out, self.from.as_bytes());
        out.extend_from_slice(&f.flags[usize::from(self.dup) * 2 + usize::from(self.retain)]);
        out.extend_from_slice(&f.headers);
        self.properties.write(out, f);
        write_binary(out, self.topic.as_bytes());
        write_binary(out, self.payload);
        write_int(out, i128::from(self.timestamp_ms));
        write_map_header(out, 0);
    }
}

/// The parts of a forwarded message that never change, written once by the general writers.
struct Fixed {
    /// Tuple header, `message`, and the header of the 16-byte id binary.
    head: Vec<u8>,
    /// The flags map for each (dup, retain), indexed by `dup * 2 + retain`.
    flags: [Vec<u8>; 4],
    /// The headers map's header and its one key, `properties`.
    headers: Vec<u8>,
    /// Property keys in [`PROPERTY_KEYS`] order.
    keys: [Vec<u8>; 6],
}

/// The property keys, in Erlang's atom order (the order of the map's pairs).
const PROPERTY_KEYS: [Atom; 6] = [
    Atom::ContentType,
    Atom::CorrelationData,
    Atom::MessageExpiryInterval,
    Atom::PayloadFormatIndicator,
    Atom::ResponseTopic,
    Atom::UserProperty,
];

fn fixed() -> &'static Fixed {
    static FIXED: OnceLock<Fixed> = OnceLock::new();
    FIXED.get_or_init(|| {
        let atom = |a: &Atom| {
            let mut v = Vec::new();
            write_atom(&mut v, a);
            v
        };
        let mut head = vec![tag::SMALL_TUPLE, 10];
        write_atom(&mut head, &Atom::Message);
        head.push(tag::BINARY);
        head.extend_from_slice(&16u32.to_be_bytes());
        let flags = [(false, false), (false, true), (true, false), (true, true)].map(|(d, r)| {
            let mut v = Vec::new();
            write_map_header(&mut v, 2);
            write_atom(&mut v, &Atom::Dup);
            write_atom(&mut v, &Atom::from_bool(d));
            write_atom(&mut v, &Atom::Retain);
            write_atom(&mut v, &Atom::from_bool(r));
            v
        });
        let mut headers = Vec::new();
        write_map_header(&mut headers, 1);
        write_atom(&mut headers, &Atom::Properties);
        Fixed {
            head,
            flags,
            headers,
            keys: PROPERTY_KEYS.each_ref().map(atom),
        }
    })
}

impl<U: UserPropertyPair> MessagePropertiesRef<'_, U> {
    /// The `properties` map, keys in Erlang's atom order (as `MessageProperties::to_term`).
    fn write(&self, out: &mut Vec<u8>, f: &Fixed) {
        let n = usize::from(self.content_type.is_some())
            + usize::from(self.correlation_data.is_some())
            + usize::from(self.message_expiry_interval.is_some())
            + usize::from(self.payload_format_indicator.is_some())
            + usize::from(self.response_topic.is_some())
            + usize::from(!self.user_properties.is_empty());
        write_map_header(out, n);
        if let Some(v) = self.content_type {
            out.extend_from_slice(&f.keys[0]);
            write_binary(out, v.as_bytes());
        }
        if let Some(v) = self.correlation_data {
            out.extend_from_slice(&f.keys[1]);
            write_binary(out, v);
        }
        if let Some(v) = self.message_expiry_interval {
            out.extend_from_slice(&f.keys[2]);
            write_int(out, i128::from(v));
        }
        if let Some(v) = self.payload_format_indicator {
            out.extend_from_slice(&f.keys[3]);
            write_int(out, i128::from(v));
        }
        if let Some(v) = self.response_topic {
            out.extend_from_slice(&f.keys[4]);
            write_binary(out, v.as_bytes());
        }
        if !self.user_properties.is_empty() {
            out.extend_from_slice(&f.keys[5]);
            // A list of 2-tuples is never a STRING_EXT.
            out.push(tag::LIST);
            out.extend_from_slice(&len32(self.user_properties.len()).to_be_bytes());
            for u in self.user_properties {
                out.extend_from_slice(&[tag::SMALL_TUPLE, 2]);
                write_binary(out, u.key());
                write_binary(out, u.value());
            }
            out.push(tag::NIL);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode_compressed;
    use crate::link::ForwardedMessage;
    use crate::link::test_support::sample_message;

    /// The shared sample, retained and at QoS 1 (the fast decoder's tests use the other values).
    fn message(payload: Bytes, users: usize) -> ForwardedMessage {
        ForwardedMessage {
            qos: 1,
            retain: true,
            dup: false,
            ..sample_message(users, &payload)
        }
    }

    #[test]
    fn same_bytes_as_the_term_plain_and_compressed() {
        for (payload, users) in [
            (Bytes::new(), 0),
            (Bytes::from_static(&[0; 64]), 3),
            (Bytes::from(vec![b'x'; 4096]), 1),
            (Bytes::from(vec![b'y'; 300]), 40),
        ] {
            let m = message(payload, users);
            assert_eq!(m.as_ref().encode(), encode_compressed(&m.to_term()));
        }
        let big = message(Bytes::from(vec![b'x'; 4096]), 0).encode();
        assert_eq!(big[1], tag::COMPRESSED);
    }

    #[test]
    fn string_pairs_write_like_byte_pairs() {
        let m = message(Bytes::from_static(b"hello"), 2);
        let strings: Vec<(String, String)> =
            (0..2).map(|i| (format!("k{i}"), format!("v{i}"))).collect();
        let r = m.as_ref();
        let p = r.properties;
        let with_strings = ForwardedMessageRef {
            id: r.id,
            qos: r.qos,
            from: r.from,
            dup: r.dup,
            retain: r.retain,
            properties: MessagePropertiesRef {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type,
                response_topic: p.response_topic,
                correlation_data: p.correlation_data,
                user_properties: &strings[..],
            },
            topic: r.topic,
            payload: r.payload,
            timestamp_ms: r.timestamp_ms,
        };
        assert_eq!(with_strings.encode(), m.encode());
    }
}
