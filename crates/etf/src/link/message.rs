//! The forwarded application message: EMQX's `#message{}` record as a 10-tuple.

use bytes::Bytes;

use super::{ForwardedMessageRef, LinkError, MessagePropertiesRef, bin, utf8};
use crate::{Atom, DecodeOptions, Term, decode_with};

const OP: &str = "message";

/// Application properties carried in the headers' `properties` map, keyed by MQTT property-name atoms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MessageProperties {
    pub payload_format_indicator: Option<u8>,
    pub message_expiry_interval: Option<u32>,
    pub content_type: Option<String>,
    pub response_topic: Option<String>,
    pub correlation_data: Option<Bytes>,
    /// `'User-Property' => [{K, V}, ...]`, order kept.
    pub user_properties: Vec<(Bytes, Bytes)>,
}

/// One message forwarded over a link on `$LINK/cluster/msg/<origin>`:
/// `{message, Id, QoS, From, #{dup, retain}, #{properties => ...}, Topic, Payload, Timestamp, #{}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardedMessage {
    /// The message's unique id (16-byte binary).
    pub id: [u8; 16],
    /// The original QoS (the outer PUBLISH carries at most QoS 1).
    pub qos: u8,
    /// Publisher client id.
    pub from: String,
    pub dup: bool,
    pub retain: bool,
    pub properties: MessageProperties,
    pub topic: String,
    pub payload: Bytes,
    /// Publish time, ms since the Unix epoch.
    pub timestamp_ms: u64,
}

fn bad(field: &'static str, expected: &'static str) -> LinkError {
    LinkError::BadField {
        op: OP,
        field,
        expected,
    }
}

impl ForwardedMessage {
    /// Decodes a forwarded payload; header maps may hold atoms we do not know, so atoms are lenient.
    pub fn decode(payload: &[u8]) -> Result<Self, LinkError> {
        Self::from_term(&decode_with(payload, DecodeOptions::lenient())?)
    }

    /// Like [`ForwardedMessage::decode`], for a payload held in [`Bytes`]: the shape linkmq writes
    /// is read directly (no term tree; binaries are slices of `payload`), anything else as
    /// `decode` reads it. Same result either way.
    pub fn decode_bytes(payload: &Bytes) -> Result<Self, LinkError> {
        match super::message_fast::decode(payload) {
            Some(m) => Ok(m),
            None => Self::decode(payload),
        }
    }

    /// `term_to_binary(Msg, [compressed])`.
    pub fn encode(&self) -> Vec<u8> {
        self.as_ref().encode()
    }

    /// The same record, borrowed (encodes to the same bytes without building a term).
    pub fn as_ref(&self) -> ForwardedMessageRef<'_, (Bytes, Bytes)> {
        let p = &self.properties;
        ForwardedMessageRef {
            id: self.id,
            qos: self.qos,
            from: &self.from,
            dup: self.dup,
            retain: self.retain,
            properties: MessagePropertiesRef {
                payload_format_indicator: p.payload_format_indicator,
                message_expiry_interval: p.message_expiry_interval,
                content_type: p.content_type.as_deref(),
                response_topic: p.response_topic.as_deref(),
                correlation_data: p.correlation_data.as_deref(),
                user_properties: &p.user_properties,
            },
            topic: &self.topic,
            payload: &self.payload,
            timestamp_ms: self.timestamp_ms,
        }
    }

    pub fn to_term(&self) -> Term {
        let flags = Term::Map(vec![
            (Term::Atom(Atom::Dup), Term::Atom(Atom::from_bool(self.dup))),
            (
                Term::Atom(Atom::Retain),
                Term::Atom(Atom::from_bool(self.retain)),
            ),
        ]);
        let headers = Term::Map(vec![(
            Term::Atom(Atom::Properties),
            self.properties.to_term(),
        )]);
        Term::Tuple(vec![
            Term::Atom(Atom::Message),
            Term::binary(self.id.to_vec()),
            Term::int(self.qos),
            bin(&self.from),
            flags,
            headers,
            bin(&self.topic),
            Term::Binary(self.payload.clone()),
            Term::int(self.timestamp_ms),
            Term::Map(Vec::new()),
        ])
    }

    pub fn from_term(term: &Term) -> Result<Self, LinkError> {
        let record =
            "a 10-tuple {message, Id, QoS, From, Flags, Headers, Topic, Payload, Timestamp, Extra}";
        let [
            tag,
            id,
            qos,
            from,
            flags,
            headers,
            topic,
            payload,
            ts,
            extra,
        ] = term.as_tuple().ok_or_else(|| bad("record", record))?
        else {
            return Err(bad("record", record));
        };
        if *tag != Term::Atom(Atom::Message) {
            return Err(bad("record", record));
        }
        let id = id
            .as_binary()
            .and_then(|b| <[u8; 16]>::try_from(&b[..]).ok())
            .ok_or_else(|| bad("id", "a 16-byte binary"))?;
        let qos = qos
            .as_i64()
            .and_then(|q| u8::try_from(q).ok())
            .filter(|q| *q <= 2)
            .ok_or_else(|| bad("qos", "0, 1 or 2"))?;
        // EMQX's own messages may name an atom (e.g. a node) as sender.
        let from = match from {
            Term::Atom(a) => a.as_str().to_owned(),
            other => utf8(other).ok_or_else(|| bad("from", "a UTF-8 binary"))?,
        };
        let flags = flags.as_map().ok_or_else(|| bad("flags", "a map"))?;
        let flag = |name: Atom, field: &'static str| -> Result<bool, LinkError> {
            match flags.iter().find(|(k, _)| *k == Term::Atom(name.clone())) {
                None => Ok(false),
                Some((_, v)) => v
                    .as_atom()
                    .and_then(Atom::as_bool)
                    .ok_or_else(|| bad(field, "true or false")),
            }
        };
        let dup = flag(Atom::Dup, "dup")?;
        let retain = flag(Atom::Retain, "retain")?;
        headers.as_map().ok_or_else(|| bad("headers", "a map"))?;
        let properties = match headers.map_get(&Term::Atom(Atom::Properties)) {
            None => MessageProperties::default(),
            Some(p) => MessageProperties::from_term(p)?,
        };
        let topic = utf8(topic).ok_or_else(|| bad("topic", "a UTF-8 binary"))?;
        let payload = payload
            .as_binary()
            .cloned()
            .ok_or_else(|| bad("payload", "a binary"))?;
        let timestamp_ms = ts
            .as_i128()
            .and_then(|t| u64::try_from(t).ok())
            .ok_or_else(|| bad("timestamp", "a non-negative integer"))?;
        extra.as_map().ok_or_else(|| bad("extra", "a map"))?;
        Ok(ForwardedMessage {
            id,
            qos,
            from,
            dup,
            retain,
            properties,
            topic,
            payload,
            timestamp_ms,
        })
    }
}

impl MessageProperties {
    /// The `properties` header map, keys in Erlang's atom order.
    pub fn to_term(&self) -> Term {
        let mut pairs = Vec::new();
        let mut put = |a: Atom, v: Term| pairs.push((Term::Atom(a), v));
        if let Some(v) = &self.content_type {
            put(Atom::ContentType, bin(v));
        }
        if let Some(v) = &self.correlation_data {
            put(Atom::CorrelationData, Term::Binary(v.clone()));
        }
        if let Some(v) = self.message_expiry_interval {
            put(Atom::MessageExpiryInterval, Term::int(v));
        }
        if let Some(v) = self.payload_format_indicator {
            put(Atom::PayloadFormatIndicator, Term::int(v));
        }
        if let Some(v) = &self.response_topic {
            put(Atom::ResponseTopic, bin(v));
        }
        if !self.user_properties.is_empty() {
            let list = self
                .user_properties
                .iter()
                .map(|(k, v)| Term::Tuple(vec![Term::Binary(k.clone()), Term::Binary(v.clone())]))
                .collect();
            put(Atom::UserProperty, Term::List(list));
        }
        Term::Map(pairs)
    }

    /// Reads the known properties; other keys are ignored.
    pub fn from_term(term: &Term) -> Result<Self, LinkError> {
        let map = term.as_map().ok_or_else(|| bad("properties", "a map"))?;
        let mut p = MessageProperties::default();
        for (k, v) in map {
            let Term::Atom(a) = k else { continue };
            match a {
                Atom::PayloadFormatIndicator => {
                    let pfi = v.as_i64().and_then(|i| u8::try_from(i).ok());
                    p.payload_format_indicator =
                        Some(pfi.ok_or_else(|| bad("Payload-Format-Indicator", "0 or 1"))?);
                }
                Atom::MessageExpiryInterval => {
                    let mei = v.as_i64().and_then(|i| u32::try_from(i).ok());
                    p.message_expiry_interval = Some(mei.ok_or_else(|| {
                        bad("Message-Expiry-Interval", "a 32-bit unsigned integer")
                    })?);
                }
                Atom::ContentType => {
                    p.content_type =
                        Some(utf8(v).ok_or_else(|| bad("Content-Type", "a UTF-8 binary"))?);
                }
                Atom::ResponseTopic => {
                    p.response_topic =
                        Some(utf8(v).ok_or_else(|| bad("Response-Topic", "a UTF-8 binary"))?);
                }
                Atom::CorrelationData => {
                    p.correlation_data = Some(
                        v.as_binary()
                            .cloned()
                            .ok_or_else(|| bad("Correlation-Data", "a binary"))?,
                    );
                }
                Atom::UserProperty => {
                    const EXPECTED: &str = "a list of {<<Key>>, <<Value>>}";
                    let list = v.as_list().ok_or_else(|| bad("User-Property", EXPECTED))?;
                    p.user_properties = list
                        .iter()
                        .map(|kv| match kv.as_tuple() {
                            Some([Term::Binary(k), Term::Binary(v)]) => Ok((k.clone(), v.clone())),
                            _ => Err(bad("User-Property", EXPECTED)),
                        })
                        .collect::<Result<_, _>>()?;
                }
                _ => {}
            }
        }
        Ok(p)
    }
}
