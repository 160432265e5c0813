//! UTF-8 Encoded Strings (§1.5.4) and Binary Data (§1.5.6): a two-byte length, then the bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};
use crate::ints::read_u16;

/// Checks a UTF-8 Encoded String's bytes: well-formed UTF-8 (which excludes surrogates, [MQTT-1.5.4-1])
/// and no U+0000 ([MQTT-1.5.4-2]).
pub(crate) fn validate(bytes: &[u8]) -> Result<&str, DecodeError> {
    let s = std::str::from_utf8(bytes).map_err(|_| DecodeError::InvalidUtf8)?;
    if bytes.contains(&0) {
        return Err(DecodeError::NulInString);
    }
    Ok(s)
}

/// Reads a length-prefixed field without interpreting it (the slice shares `buf`'s memory).
pub(crate) fn read_binary(buf: &mut Bytes) -> Result<Bytes, DecodeError> {
    let len = usize::from(read_u16(buf)?);
    if buf.len() < len {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.split_to(len))
}

/// Reads and validates a UTF-8 Encoded String.
pub(crate) fn read_string(buf: &mut Bytes) -> Result<String, DecodeError> {
    let len = usize::from(read_u16(buf)?);
    if buf.len() < len {
        return Err(DecodeError::UnexpectedEnd);
    }
    let s = validate(&buf[..len])?.to_owned();
    buf.advance(len);
    Ok(s)
}

/// Encoded size of a UTF-8 Encoded String.
pub(crate) fn string_len(s: &str) -> Result<usize, EncodeError> {
    if s.len() > usize::from(u16::MAX) {
        return Err(EncodeError::StringTooLong { len: s.len() });
    }
    Ok(2 + s.len())
}

/// Encoded size of Binary Data.
pub(crate) fn binary_len(b: &[u8]) -> Result<usize, EncodeError> {
    if b.len() > usize::from(u16::MAX) {
        return Err(EncodeError::BinaryTooLong { len: b.len() });
    }
    Ok(2 + b.len())
}

/// Writes a length-prefixed field whose length was checked by [`string_len`] or [`binary_len`].
pub(crate) fn write(buf: &mut BytesMut, bytes: &[u8]) {
    debug_assert!(bytes.len() <= usize::from(u16::MAX));
    buf.put_u16(bytes.len() as u16);
    buf.put_slice(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(bytes: &[u8]) -> Bytes {
        let mut buf = BytesMut::new();
        write(&mut buf, bytes);
        buf.freeze()
    }

    #[test]
    fn string_round_trip() {
        let mut b = framed("héllo/🌍".as_bytes());
        assert_eq!(read_string(&mut b).unwrap(), "héllo/🌍");
        assert!(b.is_empty());
    }

    #[test]
    fn mqtt_1_5_4_1_ill_formed_utf8_is_malformed() {
        // A lone surrogate (U+D800) encoded as UTF-8 and an overlong '/'.
        for bad in [&[0xED, 0xA0, 0x80][..], &[0xC0, 0xAF][..], &[0xFF][..]] {
            let err = read_string(&mut framed(bad)).unwrap_err();
            assert_eq!(err, DecodeError::InvalidUtf8);
            assert_eq!(err.reason_code(), crate::ReasonCode::MalformedPacket);
        }
    }

    #[test]
    fn mqtt_1_5_4_2_string_with_nul_is_malformed() {
        let err = read_string(&mut framed(b"a\0b")).unwrap_err();
        assert_eq!(err, DecodeError::NulInString);
        assert_eq!(err.reason_code(), crate::ReasonCode::MalformedPacket);
    }

    #[test]
    fn binary_may_hold_anything() {
        let mut b = framed(&[0, 0xFF, 0xED, 0xA0, 0x80]);
        assert_eq!(
            &read_binary(&mut b).unwrap()[..],
            &[0, 0xFF, 0xED, 0xA0, 0x80]
        );
    }

    #[test]
    fn short_buffers_are_unexpected_end() {
        assert_eq!(
            read_string(&mut Bytes::from_static(&[0, 3, b'a'])),
            Err(DecodeError::UnexpectedEnd)
        );
        assert_eq!(
            read_binary(&mut Bytes::from_static(&[0])),
            Err(DecodeError::UnexpectedEnd)
        );
    }

    #[test]
    fn lengths_over_65535_do_not_encode() {
        let long = "x".repeat(65_536);
        assert_eq!(
            string_len(&long),
            Err(EncodeError::StringTooLong { len: 65_536 })
        );
        assert_eq!(
            binary_len(long.as_bytes()),
            Err(EncodeError::BinaryTooLong { len: 65_536 })
        );
        assert_eq!(string_len(&long[..65_535]), Ok(65_537));
    }
}
