//! Fixed-size integers (§1.5.1–§1.5.3) read from a packet body; running out of bytes is
//! [`DecodeError::UnexpectedEnd`].

use bytes::{Buf, Bytes};

use crate::error::DecodeError;

pub(crate) fn read_u8(buf: &mut Bytes) -> Result<u8, DecodeError> {
    if buf.is_empty() {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u8())
}

pub(crate) fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    if buf.len() < 2 {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u16())
}

pub(crate) fn read_u32(buf: &mut Bytes) -> Result<u32, DecodeError> {
    if buf.len() < 4 {
        return Err(DecodeError::UnexpectedEnd);
    }
    Ok(buf.get_u32())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_endian_and_bounds() {
        let mut b = Bytes::from_static(&[1, 0x12, 0x34, 0xDE, 0xAD, 0xBE, 0xEF, 9]);
        assert_eq!(read_u8(&mut b), Ok(1));
        assert_eq!(read_u16(&mut b), Ok(0x1234));
        assert_eq!(read_u32(&mut b), Ok(0xDEAD_BEEF));
        assert_eq!(read_u16(&mut b), Err(DecodeError::UnexpectedEnd));
        assert_eq!(read_u32(&mut b), Err(DecodeError::UnexpectedEnd));
        assert_eq!(read_u8(&mut b), Ok(9));
        assert_eq!(read_u8(&mut b), Err(DecodeError::UnexpectedEnd));
    }
}
