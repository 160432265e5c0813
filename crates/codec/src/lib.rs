//! MQTT 3.1 / 3.1.1 / 5.0 packet codec: incremental decode from `BytesMut`, encode into `BytesMut`.
//!
//! Knows nothing of brokers or sessions. Every malformed input is a typed [`DecodeError`] naming the
//! normative statement it breaks (e.g. `[MQTT-3.3.2-2]`) and the v5 reason code to answer with.
//! Entry points: [`decode`], [`encode`], [`encoded_len`].

mod error;
mod fixed_header;
mod ints;
pub mod packet;
mod properties;
mod reason_code;
mod strings;
mod types;
mod varint;

use bytes::{Buf, BufMut, BytesMut};

pub use error::{DecodeError, EncodeError};
pub use packet::*;
pub use types::*;

/// Largest Remaining Length the fixed header can carry (§2.1.4).
pub const MAX_REMAINING_LENGTH: usize = varint::MAX as usize;

/// Decodes one packet from the front of `buf` if a whole one is there; Ok(None) = need more bytes (buf untouched).
/// CONNECT is decoded whatever `protocol` says (it carries its own level); every other packet uses `protocol`.
/// `max_packet_size` is checked against the fixed header's total size BEFORE the body is buffered
/// (so a huge remaining length fails fast with PacketTooLarge, without waiting for the bytes).
/// Pass `u32::MAX` for no limit. The PUBLISH payload is a zero-copy slice of `buf`'s memory.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max_packet_size: u32,
) -> Result<Option<Packet>, DecodeError> {
    let Some(header) = fixed_header::parse(buf, protocol)? else {
        return Ok(None);
    };
    let size = header.total_len();
    if size > max_packet_size as usize {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    buf.advance(header.header_len);
    let mut body = buf.split_to(header.remaining_len).freeze();
    let packet = packet::decode_body(&header, &mut body, protocol)?;
    if !body.is_empty() {
        return Err(DecodeError::TrailingBytes { extra: body.len() });
    }
    Ok(Some(packet))
}

/// Appends the encoded packet to `buf`. CONNECT is written in its own `protocol` field's version.
/// v3.x drops what it cannot carry (properties, v5-only reason codes map to the v3.x codes).
pub fn encode(packet: &Packet, protocol: Protocol, buf: &mut BytesMut) -> Result<(), EncodeError> {
    let remaining = remaining_len(packet, protocol)?;
    buf.reserve(1 + varint::len(remaining) + remaining);
    buf.put_u8(packet::first_byte(packet));
    varint::write(buf, remaining);
    let start = buf.len();
    packet::write_body(packet, protocol, buf);
    debug_assert_eq!(
        buf.len() - start,
        remaining,
        "{} body length",
        packet.name()
    );
    Ok(())
}

/// Size in bytes `encode` would write (fixed header included); used to honour a peer's Maximum Packet Size.
pub fn encoded_len(packet: &Packet, protocol: Protocol) -> Result<usize, EncodeError> {
    let remaining = remaining_len(packet, protocol)?;
    Ok(1 + varint::len(remaining) + remaining)
}

fn remaining_len(packet: &Packet, protocol: Protocol) -> Result<usize, EncodeError> {
    let len = packet::body_len(packet, protocol)?;
    if len > MAX_REMAINING_LENGTH {
        return Err(EncodeError::PacketTooLarge { len });
    }
    Ok(len)
}
