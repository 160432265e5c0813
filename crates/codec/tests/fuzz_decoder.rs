//! Fuzz-style robustness: 100 000 random and mutated frames through `decode` in all three versions,
//! with a fixed seed so a failure reproduces. Every outcome must be `Ok` or `Err` (no panic); `Ok(None)`
//! must leave the buffer untouched; and whatever decodes must re-encode to bytes that decode to the
//! same packet.

mod strategies;

use bytes::BytesMut;
use linkmq_codec::{Packet, Protocol, decode, encode};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strategies::PROTOCOLS;

const FRAMES: usize = 100_000;
const SEED: u64 = 0x6C69_6E6B_6D71;

/// Valid encodings of generated packets, per protocol.
fn corpus(protocol: Protocol) -> Vec<Vec<u8>> {
    let mut runner = TestRunner::deterministic();
    let packets = strategies::packet(protocol);
    (0..300)
        .map(|_| {
            let packet = packets.new_tree(&mut runner).expect("strategy").current();
            let mut buf = BytesMut::new();
            encode(&packet, protocol, &mut buf).expect("generated packet encodes");
            buf.to_vec()
        })
        .collect()
}

fn mutate(rng: &mut StdRng, valid: &[Vec<u8>]) -> Vec<u8> {
    let mut frame = valid[rng.random_range(0..valid.len())].clone();
    match rng.random_range(0..8) {
        // Random bytes, sometimes behind a plausible first byte.
        0 => {
            let len = rng.random_range(0..48);
            frame = (0..len).map(|_| rng.random()).collect();
            if rng.random_bool(0.5) && !frame.is_empty() {
                frame[0] = rng.random_range(0..16u8) << 4 | [0, 2, 0b1010][rng.random_range(0..3)];
            }
        }
        // Bit flips.
        1 => {
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..frame.len());
                frame[i] ^= 1 << rng.random_range(0..8);
            }
        }
        // Truncation.
        2 => frame.truncate(rng.random_range(0..frame.len())),
        // Remaining Length tampering.
        3 => {
            let len = rng.random_range(0..frame.len() + 8);
            let mut header = vec![frame[0]];
            let mut v = len;
            loop {
                let byte = (v & 0x7F) as u8;
                v >>= 7;
                header.push(if v > 0 { byte | 0x80 } else { byte });
                if v == 0 {
                    break;
                }
            }
            let body_at = 1 + frame[1..]
                .iter()
                .position(|b| b & 0x80 == 0)
                .map_or(frame.len() - 1, |p| p + 1);
            header.extend_from_slice(&frame[body_at.min(frame.len())..]);
            frame = header;
        }
        // An inner two-byte length (string, binary, packet id) or property length set at random.
        4 if frame.len() > 3 => {
            let i = rng.random_range(2..frame.len() - 1);
            let v: u16 = if rng.random_bool(0.5) {
                rng.random_range(0..8)
            } else {
                rng.random()
            };
            frame[i..i + 2].copy_from_slice(&v.to_be_bytes());
        }
        // Random byte overwrites, inserts and deletes.
        5 => {
            for _ in 0..rng.random_range(1..4) {
                let i = rng.random_range(0..=frame.len());
                match rng.random_range(0..3) {
                    0 if i < frame.len() => frame[i] = rng.random(),
                    1 => frame.insert(i, rng.random()),
                    _ if i < frame.len() => {
                        frame.remove(i);
                    }
                    _ => {}
                }
            }
        }
        // Two packets back to back, the second one cut.
        6 => {
            let other = &valid[rng.random_range(0..valid.len())];
            frame.extend_from_slice(&other[..rng.random_range(0..=other.len())]);
        }
        // Unmodified.
        _ => {}
    }
    frame
}

/// Decodes everything in `frame`; panics only on a broken invariant.
fn check(frame: &[u8], protocol: Protocol, max_packet_size: u32) {
    let mut buf = BytesMut::from(frame);
    for _ in 0..4 {
        let before = buf.len();
        match decode(&mut buf, protocol, max_packet_size) {
            Ok(None) => {
                assert_eq!(
                    buf.len(),
                    before,
                    "Ok(None) must leave the buffer untouched: {frame:02x?}"
                );
                return;
            }
            Err(err) => {
                assert!(err.to_string().starts_with(&format!("[{}]", err.spec_id())));
                return;
            }
            Ok(Some(packet)) => re_encodes(&packet, protocol, frame),
        }
    }
}

fn re_encodes(packet: &Packet, protocol: Protocol, frame: &[u8]) {
    let mut out = BytesMut::new();
    encode(packet, protocol, &mut out)
        .unwrap_or_else(|e| panic!("{packet:?} from {frame:02x?}: {e}"));
    let again = decode(&mut out, protocol, u32::MAX);
    assert_eq!(
        again.as_ref().ok().and_then(|p| p.as_ref()),
        Some(packet),
        "from {frame:02x?}"
    );
}

#[test]
fn decoder_survives_random_and_mutated_frames() {
    let corpora: Vec<Vec<Vec<u8>>> = PROTOCOLS.iter().map(|&p| corpus(p)).collect();
    let mut rng = StdRng::seed_from_u64(SEED);
    let (mut decoded, mut rejected) = (0usize, 0usize);
    for n in 0..FRAMES {
        let which = n % PROTOCOLS.len();
        let protocol = PROTOCOLS[which];
        let frame = mutate(&mut rng, &corpora[which]);
        let max = [u32::MAX, 64, 1024][rng.random_range(0..3)];
        check(&frame, protocol, max);
        match decode(&mut BytesMut::from(&frame[..]), protocol, max) {
            Ok(Some(_)) => decoded += 1,
            Err(_) => rejected += 1,
            Ok(None) => {}
        }
    }
    eprintln!("{FRAMES} frames: {decoded} decoded, {rejected} rejected, the rest incomplete");
    // The mutations must exercise both sides, or the test proves little.
    assert!(decoded > FRAMES / 10, "only {decoded} frames decoded");
    assert!(rejected > FRAMES / 10, "only {rejected} frames rejected");
}
