//! Test vectors written by real Erlang (`fixtures/gen_fixtures.escript`): we decode what Erlang writes
//! and write exactly what Erlang writes.

mod common;

use bytes::Bytes;
use common::*;
use linkmq_etf::link::{ControlMessage, ForwardedMessage};
use linkmq_etf::{
    Atom, DecodeOptions, EtfError, Term, decode, decode_with, encode, encode_compressed,
};

fn both(stem: &str) -> [(String, Vec<u8>); 2] {
    [stem.to_owned() + ".bin", stem.to_owned() + ".z.bin"].map(|f| {
        let bytes = fixture(&f);
        (f, bytes)
    })
}

#[test]
fn control_fixtures_decode_to_typed_values_and_reencode_byte_identically() {
    for (stem, expected) in control_fixtures() {
        for (file, bytes) in both(stem) {
            assert_eq!(ControlMessage::decode(&bytes).unwrap(), expected, "{file}");
        }
        // Plain encoding is byte-for-byte what term_to_binary/1 wrote.
        assert_eq!(
            encode(&expected.to_term()),
            fixture(&format!("{stem}.bin")),
            "{stem}"
        );
        // Our compressed form decodes back to the same value.
        assert_eq!(
            ControlMessage::decode(&expected.encode()).unwrap(),
            expected,
            "{stem}"
        );
    }
}

#[test]
fn incarnation_above_2_pow_31_is_a_small_big_on_the_wire() {
    let bytes = fixture("actor_init.bin");
    // 11 => 1718000000123 is written as SMALL_BIG_EXT, 6 magnitude bytes, positive.
    let needle = [97, 11, 110, 6, 0];
    assert!(
        bytes.windows(needle.len()).any(|w| w == needle),
        "{bytes:?}"
    );
}

#[test]
fn large_route_batch_arrives_compressed_and_decodes() {
    let z = fixture("route_batch_large.z.bin");
    assert_eq!(&z[..2], &[131, 80], "Erlang compressed the large batch");
    let plain = fixture("route_batch_large.bin");
    assert_eq!(
        u32::from_be_bytes(z[2..6].try_into().unwrap()) as usize,
        plain.len() - 1
    );
    let ControlMessage::Route(batch) = ControlMessage::decode(&z).unwrap() else {
        panic!("not a route batch")
    };
    assert_eq!(batch.ops, large_route_ops());
    // Ours compresses too, and much smaller than plain.
    let ours = ControlMessage::Route(batch).encode();
    assert_eq!(&ours[..2], &[131, 80]);
    assert!(
        ours.len() < plain.len() / 4,
        "{} vs {}",
        ours.len(),
        plain.len()
    );
}

#[test]
fn forwarded_message_fixtures_decode_to_typed_values() {
    for (stem, expected) in [
        ("message_full", message_full()),
        ("message_minimal", message_minimal()),
    ] {
        for (file, bytes) in both(stem) {
            assert_eq!(
                ForwardedMessage::decode(&bytes).unwrap(),
                expected,
                "{file}"
            );
        }
        assert_eq!(
            ForwardedMessage::decode(&expected.encode()).unwrap(),
            expected,
            "{stem}"
        );
    }
    // The minimal record carries exactly our headers, so our encoding is Erlang's byte for byte.
    assert_eq!(
        encode(&message_minimal().to_term()),
        fixture("message_minimal.bin")
    );
}

#[test]
fn forwarded_message_tolerates_unknown_header_keys_only_in_lenient_mode() {
    let bytes = fixture("message_full.bin");
    assert_eq!(
        decode(&bytes),
        Err(EtfError::UnknownAtom("client_attrs".into()))
    );
    let term = decode_with(&bytes, DecodeOptions::lenient()).unwrap();
    let headers = &term.as_tuple().unwrap()[5];
    assert_eq!(
        headers.map_get(&Term::Atom(Atom::Other("client_attrs".into()))),
        Some(&Term::Map(vec![]))
    );
    assert_eq!(
        headers.map_get(&Term::Atom(Atom::ProtoVer)),
        Some(&Term::Int(5))
    );
    assert_eq!(
        headers.map_get(&Term::Atom(Atom::Protocol)),
        Some(&Term::Atom(Atom::Mqtt))
    );
    assert_eq!(
        headers.map_get(&Term::Atom(Atom::Peerhost)),
        Some(&Term::Tuple(vec![
            Term::Int(127),
            Term::Int(0),
            Term::Int(0),
            Term::Int(1)
        ]))
    );
}

#[test]
fn every_fixture_round_trips_as_a_raw_term() {
    let mut seen = 0;
    for entry in std::fs::read_dir(fixtures_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !name.ends_with(".bin") || name.ends_with(".z.bin") {
            continue;
        }
        seen += 1;
        let plain = std::fs::read(&path).unwrap();
        let term = decode_with(&plain, DecodeOptions::lenient()).unwrap();
        if name != "legacy_atoms.bin" {
            assert_eq!(encode(&term), plain, "{name}");
        }
        let z = path.with_file_name(name.replace(".bin", ".z.bin"));
        if let Ok(z) = std::fs::read(z) {
            assert_eq!(
                decode_with(&z, DecodeOptions::lenient()).unwrap(),
                term,
                "{name} compressed"
            );
        }
        assert_eq!(
            decode_with(&encode_compressed(&term), DecodeOptions::lenient()).unwrap(),
            term,
            "{name}"
        );
    }
    assert_eq!(seen, 14);
}

#[test]
fn every_tag_erlang_writes_decodes() {
    let term = decode(&fixture("terms.bin")).unwrap();
    let int = |v: i128| Term::int(v);
    let ints = |vs: &[i128]| Term::List(vs.iter().map(|&v| Term::int(v)).collect());
    let expected = Term::Tuple(vec![
        Term::List(vec![]),
        ints(&[1, 2, 3]),
        ints(&[97, 98, 99]),
        ints(&[-1, 256, -2147483648, 2147483647, 2147483648, -2147483649]),
        ints(&[
            i128::from(i64::MAX),
            i128::from(i64::MIN),
            i128::from(u64::MAX),
            -i128::from(u64::MAX),
            i128::MAX,
            i128::MIN,
        ]),
        Term::Tuple((1..=300).map(int).collect()),
        Term::binary(Bytes::new()),
        Term::binary(vec![1u8, 2, 3]),
        Term::Map(vec![]),
        Term::Map(vec![
            (Term::Int(1), Term::Tuple(vec![])),
            (
                Term::Atom(Atom::Ok),
                Term::List(vec![Term::Atom(Atom::Undefined)]),
            ),
        ]),
        Term::Tuple(vec![]),
    ]);
    assert_eq!(term, expected);
    let raw = fixture("terms.bin");
    for tag in [106u8, 107, 108, 97, 98, 110, 105, 104, 109, 116, 119] {
        assert!(raw.contains(&tag), "fixture lacks tag {tag}");
    }
}

#[test]
fn latin1_atoms_of_older_nodes_decode() {
    let bytes = fixture("legacy_atoms.bin");
    assert_eq!(bytes[1..3], [104, 4]);
    assert_eq!(bytes[3], 100, "ATOM_EXT");
    assert_eq!(
        decode(&bytes).unwrap(),
        Term::Tuple(vec![
            Term::Atom(Atom::Ok),
            Term::Atom(Atom::Error),
            Term::Atom(Atom::UserProperty),
            Term::List(vec![Term::Atom(Atom::True), Term::Atom(Atom::False)]),
        ])
    );
}
