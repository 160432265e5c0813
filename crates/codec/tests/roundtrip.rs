//! encode∘decode = id for every packet type in 3.1, 3.1.1 and 5.0, with arbitrary allowed properties;
//! `encoded_len` agrees with `encode`; and a packet fed byte by byte decodes only at its last byte.

mod strategies;

use bytes::BytesMut;
use linkmq_codec::{Packet, Protocol, decode, encode, encoded_len};
use proptest::prelude::*;
use strategies::*;

fn encoded(packet: &Packet, protocol: Protocol) -> BytesMut {
    let mut buf = BytesMut::new();
    encode(packet, protocol, &mut buf).expect("valid packet encodes");
    assert_eq!(
        encoded_len(packet, protocol),
        Ok(buf.len()),
        "encoded_len of {packet:?}"
    );
    buf
}

fn round_trip(packet: Packet, protocol: Protocol) -> Result<(), TestCaseError> {
    let mut buf = encoded(&packet, protocol);
    let decoded = decode(&mut buf, protocol, u32::MAX);
    prop_assert_eq!(decoded, Ok(Some(packet)));
    prop_assert!(buf.is_empty());
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn v5_round_trip(packet in packet(Protocol::V5)) {
        round_trip(packet, Protocol::V5)?;
    }

    #[test]
    fn v311_round_trip(packet in packet(Protocol::V311)) {
        round_trip(packet, Protocol::V311)?;
    }

    #[test]
    fn v31_round_trip(packet in packet(Protocol::V31)) {
        round_trip(packet, Protocol::V31)?;
    }

    /// CONNECT decodes in its own version whatever the connection's `protocol` argument says.
    #[test]
    fn connect_decodes_under_any_protocol_argument(
        (packet, assumed) in (0..3usize, 0..3usize).prop_flat_map(|(own, assumed)| {
            (connect(PROTOCOLS[own]), Just(PROTOCOLS[assumed]))
        })
    ) {
        let Packet::Connect(c) = &packet else { unreachable!() };
        let mut buf = encoded(&packet, c.protocol);
        prop_assert_eq!(decode(&mut buf, assumed, u32::MAX), Ok(Some(packet)));
    }

    /// Two packets back to back decode one at a time.
    #[test]
    fn back_to_back_packets(a in packet(Protocol::V5), b in packet(Protocol::V5)) {
        let mut buf = encoded(&a, Protocol::V5);
        buf.extend_from_slice(&encoded(&b, Protocol::V5));
        prop_assert_eq!(decode(&mut buf, Protocol::V5, u32::MAX), Ok(Some(a)));
        prop_assert_eq!(decode(&mut buf, Protocol::V5, u32::MAX), Ok(Some(b)));
        prop_assert_eq!(decode(&mut buf, Protocol::V5, u32::MAX), Ok(None));
    }

    #[test]
    fn byte_by_byte_yields_none_until_the_last_byte(
        (protocol, packet) in (0..3usize).prop_flat_map(|i| (Just(PROTOCOLS[i]), packet(PROTOCOLS[i])))
    ) {
        let wire = encoded(&packet, protocol);
        let mut buf = BytesMut::new();
        for (i, &byte) in wire.iter().enumerate() {
            buf.extend_from_slice(&[byte]);
            let got = decode(&mut buf, protocol, u32::MAX);
            if i + 1 < wire.len() {
                prop_assert_eq!(got, Ok(None), "byte {} of {}", i + 1, wire.len());
                prop_assert_eq!(buf.len(), i + 1, "buffer must stay untouched");
            } else {
                prop_assert_eq!(got, Ok(Some(packet.clone())));
                prop_assert!(buf.is_empty());
            }
        }
    }
}
