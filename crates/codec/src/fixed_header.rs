//! Fixed header (§2.1): packet type and flags in the first byte, then the Remaining Length.
//!
//! The first byte is validated as soon as it arrives, and the Remaining Length before the body is
//! buffered, so garbage and oversized packets fail without waiting for more bytes.

use crate::error::DecodeError;
use crate::types::{Protocol, QoS};
use crate::varint;

pub(crate) const CONNECT: u8 = 1;
pub(crate) const CONNACK: u8 = 2;
pub(crate) const PUBLISH: u8 = 3;
pub(crate) const PUBACK: u8 = 4;
pub(crate) const PUBREC: u8 = 5;
pub(crate) const PUBREL: u8 = 6;
pub(crate) const PUBCOMP: u8 = 7;
pub(crate) const SUBSCRIBE: u8 = 8;
pub(crate) const SUBACK: u8 = 9;
pub(crate) const UNSUBSCRIBE: u8 = 10;
pub(crate) const UNSUBACK: u8 = 11;
pub(crate) const PINGREQ: u8 = 12;
pub(crate) const PINGRESP: u8 = 13;
pub(crate) const DISCONNECT: u8 = 14;
pub(crate) const AUTH: u8 = 15;

/// A parsed fixed header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FixedHeader {
    /// The first byte: packet type in the high nibble, flags in the low one.
    pub byte1: u8,
    /// Bytes taken by the fixed header itself (2..=5).
    pub header_len: usize,
    /// The Remaining Length: bytes of variable header and payload.
    pub remaining_len: usize,
}

impl FixedHeader {
    pub fn packet_type(&self) -> u8 {
        self.byte1 >> 4
    }

    pub fn flags(&self) -> u8 {
        self.byte1 & 0x0F
    }

    /// Size of the whole packet.
    pub fn total_len(&self) -> usize {
        self.header_len + self.remaining_len
    }
}

/// Parses the fixed header at the front of `bytes`; `Ok(None)` when it is not complete yet.
pub(crate) fn parse(bytes: &[u8], protocol: Protocol) -> Result<Option<FixedHeader>, DecodeError> {
    let Some(&byte1) = bytes.first() else {
        return Ok(None);
    };
    check_first_byte(byte1, protocol)?;
    Ok(
        varint::peek(&bytes[1..])?.map(|(remaining, used)| FixedHeader {
            byte1,
            header_len: 1 + used,
            remaining_len: remaining as usize,
        }),
    )
}

/// Packet type and flags (Table 2-2). PUBLISH flags are DUP, QoS and RETAIN; PUBREL, SUBSCRIBE and
/// UNSUBSCRIBE must carry 0b0010; every other packet 0 ([MQTT-2.1.3-1]). AUTH exists only in v5.
fn check_first_byte(byte1: u8, protocol: Protocol) -> Result<(), DecodeError> {
    let (packet_type, flags) = (byte1 >> 4, byte1 & 0x0F);
    let expected = match packet_type {
        0 => return Err(DecodeError::InvalidPacketType { packet_type }),
        AUTH if !protocol.is_v5() => return Err(DecodeError::InvalidPacketType { packet_type }),
        PUBLISH => {
            let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
            if qos == QoS::AtMostOnce && flags & 0b1000 != 0 {
                return Err(DecodeError::DupWithQoS0);
            }
            return Ok(());
        }
        PUBREL | SUBSCRIBE | UNSUBSCRIBE => 0b0010,
        _ => 0,
    };
    if flags != expected {
        return Err(DecodeError::ReservedFlags { packet_type, flags });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_type_flags_and_length() {
        let fh = parse(&[0x32, 0xC1, 0x02, 0xAA], Protocol::V5)
            .unwrap()
            .unwrap();
        assert_eq!((fh.packet_type(), fh.flags()), (PUBLISH, 0b0010));
        assert_eq!(
            (fh.header_len, fh.remaining_len, fh.total_len()),
            (3, 321, 324)
        );
    }

    #[test]
    fn incomplete_header_needs_more() {
        assert_eq!(parse(&[], Protocol::V5), Ok(None));
        assert_eq!(parse(&[0x30], Protocol::V5), Ok(None));
        assert_eq!(parse(&[0x30, 0x80], Protocol::V5), Ok(None));
    }

    #[test]
    fn mqtt_2_1_3_1_reserved_flags_checked_on_first_byte() {
        for t in 1..=15u8 {
            for flags in 0..16u8 {
                let res = parse(&[t << 4 | flags], Protocol::V5);
                let ok = match t {
                    PUBLISH => {
                        flags >> 1 & 0b11 != 3 && !(flags >> 1 & 0b11 == 0 && flags & 0b1000 != 0)
                    }
                    PUBREL | SUBSCRIBE | UNSUBSCRIBE => flags == 0b0010,
                    _ => flags == 0,
                };
                assert_eq!(res.is_ok(), ok, "type {t} flags {flags:#06b}: {res:?}");
            }
        }
    }

    #[test]
    fn type_zero_and_v3_auth_are_invalid() {
        assert_eq!(
            parse(&[0x00], Protocol::V5),
            Err(DecodeError::InvalidPacketType { packet_type: 0 })
        );
        assert_eq!(
            parse(&[0xF0], Protocol::V311),
            Err(DecodeError::InvalidPacketType { packet_type: 15 })
        );
        assert_eq!(parse(&[0xF0], Protocol::V5), Ok(None));
    }
}
