//! Reading a forwarded message straight from its bytes, for the shape linkmq itself writes (and any
//! sender that writes the same: plain, headers holding only `properties`, known property keys, no
//! extra fields). Anything else returns `None` and goes through the general term decoder, which
//! gives the same record or the error; so this is only ever a shortcut, never a second opinion.

use bytes::Bytes;

use super::{ForwardedMessage, MessageProperties};
use crate::{VERSION, tag};

/// A cursor over the input that gives up (`None`) on anything unexpected.
struct Cursor<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl Cursor<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn expect(&mut self, bytes: &[u8]) -> Option<()> {
        (self.take(bytes.len())? == bytes).then_some(())
    }

    /// A small atom (Latin-1 or UTF-8 tag); the name's bytes.
    fn atom(&mut self) -> Option<&[u8]> {
        match self.u8()? {
            tag::SMALL_ATOM_UTF8 | tag::SMALL_ATOM => {
                let n = usize::from(self.u8()?);
                self.take(n)
            }
            _ => None,
        }
    }

    fn bool(&mut self) -> Option<bool> {
        match self.atom()? {
            b"true" => Some(true),
            b"false" => Some(false),
            _ => None,
        }
    }

    /// The range of a BINARY_EXT's bytes.
    fn binary_range(&mut self) -> Option<(usize, usize)> {
        if self.u8()? != tag::BINARY {
            return None;
        }
        let n = self.u32()? as usize;
        let start = self.pos;
        self.take(n)?;
        Some((start, self.pos))
    }

    /// A binary as a slice of the input (no copy).
    fn bytes(&mut self) -> Option<Bytes> {
        let (a, b) = self.binary_range()?;
        Some(self.buf.slice(a..b))
    }

    fn string(&mut self) -> Option<String> {
        let (a, b) = self.binary_range()?;
        std::str::from_utf8(&self.buf[a..b]).ok().map(str::to_owned)
    }

    /// SMALL_INTEGER, non-negative INTEGER, or a positive SMALL_BIG of up to 8 bytes.
    fn uint(&mut self) -> Option<u64> {
        match self.u8()? {
            tag::SMALL_INTEGER => Some(u64::from(self.u8()?)),
            tag::INTEGER => u64::try_from(self.u32()? as i32).ok(),
            tag::SMALL_BIG => {
                let n = usize::from(self.u8()?);
                if n > 8 || self.u8()? != 0 {
                    return None;
                }
                let digits = self.take(n)?;
                Some(
                    digits
                        .iter()
                        .rev()
                        .fold(0u64, |acc, &d| (acc << 8) | u64::from(d)),
                )
            }
            _ => None,
        }
    }

    fn map_header(&mut self) -> Option<usize> {
        if self.u8()? != tag::MAP {
            return None;
        }
        Some(self.u32()? as usize)
    }
}

/// The record, if `input` has the plain shape described in the module documentation.
pub(super) fn decode(input: &Bytes) -> Option<ForwardedMessage> {
    let mut c = Cursor { buf: input, pos: 0 };
    c.expect(&[VERSION, tag::SMALL_TUPLE, 10])?;
    if c.atom()? != b"message" {
        return None;
    }
    let id: [u8; 16] = {
        let (a, b) = c.binary_range()?;
        input[a..b].try_into().ok()?
    };
    let qos = match c.uint()? {
        q @ 0..=2 => q as u8,
        _ => return None,
    };
    let from = c.string()?;
    let (mut dup, mut retain) = (None, None);
    for _ in 0..c.map_header()? {
        let slot = match c.atom()? {
            b"dup" => &mut dup,
            b"retain" => &mut retain,
            _ => return None,
        };
        if slot.replace(c.bool()?).is_some() {
            return None;
        }
    }
    let properties = match c.map_header()? {
        0 => MessageProperties::default(),
        1 => {
            if c.atom()? != b"properties" {
                return None;
            }
            properties(&mut c)?
        }
        _ => return None,
    };
    let topic = c.string()?;
    let payload = c.bytes()?;
    let timestamp_ms = c.uint()?;
    if c.map_header()? != 0 || c.pos != input.len() {
        return None;
    }
    Some(ForwardedMessage {
        id,
        qos,
        from,
        dup: dup.unwrap_or(false),
        retain: retain.unwrap_or(false),
        properties,
        topic,
        payload,
        timestamp_ms,
    })
}

fn properties(c: &mut Cursor<'_>) -> Option<MessageProperties> {
    let mut p = MessageProperties::default();
    let mut seen = 0u8;
    for _ in 0..c.map_header()? {
        let (bit, name) = match c.atom()? {
            b"Payload-Format-Indicator" => (1, 0),
            b"Message-Expiry-Interval" => (2, 1),
            b"Content-Type" => (4, 2),
            b"Response-Topic" => (8, 3),
            b"Correlation-Data" => (16, 4),
            b"User-Property" => (32, 5),
            _ => return None,
        };
        if seen & bit != 0 {
            return None;
        }
        seen |= bit;
        match name {
            0 => p.payload_format_indicator = Some(u8::try_from(c.uint()?).ok()?),
            1 => p.message_expiry_interval = Some(u32::try_from(c.uint()?).ok()?),
            2 => p.content_type = Some(c.string()?),
            3 => p.response_topic = Some(c.string()?),
            4 => p.correlation_data = Some(c.bytes()?),
            _ => p.user_properties = user_properties(c)?,
        }
    }
    Some(p)
}

fn user_properties(c: &mut Cursor<'_>) -> Option<Vec<(Bytes, Bytes)>> {
    match c.u8()? {
        tag::NIL => Some(Vec::new()),
        tag::LIST => {
            let n = c.u32()? as usize;
            // Each pair takes at least 12 bytes: refuse a count the input cannot back.
            if n > (c.buf.len() - c.pos) / 12 {
                return None;
            }
            let mut out = Vec::with_capacity(n);
            for _ in 0..n {
                c.expect(&[tag::SMALL_TUPLE, 2])?;
                out.push((c.bytes()?, c.bytes()?));
            }
            (c.u8()? == tag::NIL).then_some(out)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::link::test_support::sample_message as sample;

    #[test]
    fn reads_what_we_write() {
        for m in [
            sample(0, b""),
            sample(2, b"hello"),
            ForwardedMessage {
                properties: MessageProperties::default(),
                timestamp_ms: 7,
                ..sample(0, &[0; 64])
            },
        ] {
            let wire = Bytes::from(m.encode());
            assert_eq!(decode(&wire), Some(m));
        }
    }

    /// Every truncation and every one-byte change of a valid encoding: the shortcut either gives
    /// up or agrees with the general decoder (same record, never one where it fails).
    #[test]
    fn agrees_with_the_general_decoder_or_gives_up() {
        let wire = sample(2, b"payload").encode();
        let general = |b: &[u8]| ForwardedMessage::decode(b).ok();
        for n in 0..wire.len() {
            let cut = Bytes::copy_from_slice(&wire[..n]);
            assert_eq!(decode(&cut), None, "truncated at {n}");
        }
        let mut agreed = 0;
        for i in 0..wire.len() {
            for v in [
                0u8,
                1,
                2,
                0x7f,
                0x80,
                0xff,
                wire[i].wrapping_add(1),
                wire[i].wrapping_sub(1),
            ] {
                let mut b = wire.clone();
                b[i] = v;
                let b = Bytes::from(b);
                if let Some(fast) = decode(&b) {
                    assert_eq!(Some(fast), general(&b), "byte {i} = {v}");
                    agreed += 1;
                }
            }
        }
        assert!(agreed > 100, "{agreed}");
    }

    #[test]
    fn other_shapes_are_left_to_the_general_decoder() {
        // An unknown header key, as EMQX sends (`proto_ver`, `username`, ...).
        let mut term = sample(0, b"x").to_term();
        if let crate::Term::Tuple(items) = &mut term
            && let crate::Term::Map(headers) = &mut items[5]
        {
            headers.push((
                crate::Term::Atom(crate::Atom::ProtoVer),
                crate::Term::int(5),
            ));
        }
        let wire = Bytes::from(crate::encode(&term));
        assert_eq!(decode(&wire), None);
        assert!(ForwardedMessage::decode_bytes(&wire).is_ok());
        // Compressed.
        let big = sample(0, &[b'z'; 4096]);
        let wire = Bytes::from(big.encode());
        assert_eq!(wire[1], tag::COMPRESSED);
        assert_eq!(decode(&wire), None);
        assert_eq!(ForwardedMessage::decode_bytes(&wire).unwrap(), big);
    }
}
