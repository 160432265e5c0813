//! Variable Byte Integer (§1.5.5): 7 bits per byte, high bit = continuation, at most 4 bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use crate::error::{DecodeError, EncodeError};

/// Largest value a Variable Byte Integer can carry (also the maximum Remaining Length).
pub const MAX: u32 = 268_435_455;

/// Parses a Variable Byte Integer at the front of `bytes` without consuming anything.
/// Returns `Ok(None)` when more bytes are needed, else the value and how many bytes it took.
pub(crate) fn peek(bytes: &[u8]) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value = 0u32;
    for (i, &b) in bytes.iter().enumerate() {
        if i == 4 {
            return Err(DecodeError::VarIntTooLong);
        }
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        return Err(DecodeError::VarIntTooLong);
    }
    Ok(None)
}

/// Reads a Variable Byte Integer from a packet body; running out of bytes is [`DecodeError::UnexpectedEnd`].
pub(crate) fn read(buf: &mut Bytes) -> Result<u32, DecodeError> {
    match peek(buf)? {
        Some((value, used)) => {
            buf.advance(used);
            Ok(value)
        }
        None => Err(DecodeError::UnexpectedEnd),
    }
}

/// Bytes needed to encode `value` (values above [`MAX`] are rejected by [`check`]).
pub(crate) fn len(value: usize) -> usize {
    match value {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Rejects values a Variable Byte Integer cannot carry.
pub(crate) fn check(value: u32) -> Result<u32, EncodeError> {
    if value > MAX {
        Err(EncodeError::VarIntOutOfRange { value })
    } else {
        Ok(value)
    }
}

/// Writes `value`, which must be at most [`MAX`].
pub(crate) fn write(buf: &mut BytesMut, value: usize) {
    debug_assert!(value <= MAX as usize);
    let mut v = value;
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(value: usize) -> Vec<u8> {
        let mut buf = BytesMut::new();
        write(&mut buf, value);
        buf.to_vec()
    }

    #[test]
    fn boundaries_round_trip_with_their_lengths() {
        for (value, bytes) in [
            (0, 1),
            (127, 1),
            (128, 2),
            (16_383, 2),
            (16_384, 3),
            (2_097_151, 3),
            (2_097_152, 4),
            (MAX as usize, 4),
        ] {
            let enc = encoded(value);
            assert_eq!(enc.len(), bytes, "{value}");
            assert_eq!(len(value), bytes, "{value}");
            assert_eq!(peek(&enc).unwrap(), Some((value as u32, bytes)));
        }
    }

    #[test]
    fn spec_examples() {
        assert_eq!(encoded(321), [0xC1, 0x02]);
        assert_eq!(encoded(MAX as usize), [0xFF, 0xFF, 0xFF, 0x7F]);
    }

    #[test]
    fn incomplete_needs_more() {
        assert_eq!(peek(&[]).unwrap(), None);
        assert_eq!(peek(&[0x80, 0x80, 0x80]).unwrap(), None);
    }

    #[test]
    fn mqtt_1_5_5_1_fifth_byte_is_rejected() {
        assert_eq!(
            peek(&[0x80, 0x80, 0x80, 0x80]),
            Err(DecodeError::VarIntTooLong)
        );
        assert_eq!(
            peek(&[0xFF, 0xFF, 0xFF, 0xFF, 0x01]),
            Err(DecodeError::VarIntTooLong)
        );
    }

    #[test]
    fn read_past_end_is_unexpected_end() {
        let mut b = Bytes::from_static(&[0x80]);
        assert_eq!(read(&mut b), Err(DecodeError::UnexpectedEnd));
    }

    #[test]
    fn check_rejects_above_max() {
        assert!(check(MAX).is_ok());
        assert_eq!(
            check(MAX + 1),
            Err(EncodeError::VarIntOutOfRange { value: MAX + 1 })
        );
    }
}
