//! Every way decoding refuses input, each with the error that explains it.

use std::io::Write;

use linkmq_etf::{
    Atom, DecodeOptions, EtfError, MAX_DEPTH, MAX_INFLATED_SIZE, Term, decode, decode_with, encode,
};

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(data).unwrap();
    z.finish().unwrap()
}

fn compressed(declared: u32, stream: &[u8]) -> Vec<u8> {
    let mut out = vec![131, 80];
    out.extend_from_slice(&declared.to_be_bytes());
    out.extend_from_slice(stream);
    out
}

#[test]
fn version_byte_is_required() {
    assert_eq!(decode(&[]), Err(EtfError::Empty));
    assert_eq!(decode(&[130, 97, 1]), Err(EtfError::BadVersion(130)));
    assert_eq!(
        decode(&[131]),
        Err(EtfError::UnexpectedEof { offset: 1, need: 1 })
    );
}

#[test]
fn unknown_tags_are_refused() {
    // NEW_FLOAT_EXT, PID, bit binary, and a byte that is no tag at all.
    for tag in [70u8, 88, 77, 0, 255] {
        assert_eq!(
            decode(&[131, tag, 0, 0, 0, 0, 0, 0, 0, 0]),
            Err(EtfError::UnknownTag { tag, offset: 1 })
        );
    }
}

#[test]
fn every_truncation_of_a_valid_term_is_an_error() {
    let term = Term::Tuple(vec![
        Term::Atom(Atom::Ok),
        Term::int(1_718_000_000_123u64),
        Term::int(-70000),
        Term::binary("abc"),
        Term::List(vec![
            Term::int(300),
            Term::Map(vec![(Term::int(10), Term::binary("x"))]),
        ]),
    ]);
    let bytes = encode(&term);
    assert_eq!(decode(&bytes).unwrap(), term);
    for cut in 0..bytes.len() {
        assert!(
            decode(&bytes[..cut]).is_err(),
            "prefix of {cut} bytes decoded"
        );
    }
}

#[test]
fn trailing_bytes_are_refused() {
    assert_eq!(
        decode(&[131, 97, 1, 0]),
        Err(EtfError::TrailingBytes {
            offset: 3,
            count: 1
        })
    );
}

#[test]
fn nesting_is_limited_to_max_depth() {
    let nest = |levels: usize| {
        let mut bytes = vec![131];
        bytes.extend(std::iter::repeat_n([104u8, 1], levels).flatten());
        bytes.push(106);
        bytes
    };
    assert!(decode(&nest(MAX_DEPTH)).is_ok());
    assert_eq!(
        decode(&nest(MAX_DEPTH + 1)),
        Err(EtfError::TooDeep(MAX_DEPTH))
    );
    // Lists and maps count too.
    let mut lists = vec![131];
    lists.extend(std::iter::repeat_n([108u8, 0, 0, 0, 1], 100_000).flatten());
    assert_eq!(decode(&lists), Err(EtfError::TooDeep(MAX_DEPTH)));
    let mut maps = vec![131];
    maps.extend(std::iter::repeat_n([116u8, 0, 0, 0, 1, 97, 1], 100_000).flatten());
    assert_eq!(decode(&maps), Err(EtfError::TooDeep(MAX_DEPTH)));
}

#[test]
fn length_fields_are_checked_against_the_input_before_allocating() {
    let huge = [0xFF, 0xFF, 0xFF, 0xFF];
    for tag in [108u8, 109, 105, 116, 111] {
        let mut bytes = vec![131, tag];
        bytes.extend_from_slice(&huge);
        bytes.extend_from_slice(&[97, 1, 97, 2]);
        match decode(&bytes) {
            Err(EtfError::LengthExceedsInput { len, offset: 1, .. }) => {
                assert!(len >= 0xFFFF_FFFF, "tag {tag}")
            }
            other => panic!("tag {tag}: {other:?}"),
        }
    }
    // A map needs two bytes per pair at least.
    assert!(matches!(
        decode(&[131, 116, 0, 0, 0, 2, 97, 1, 97]),
        Err(EtfError::LengthExceedsInput { len: 2, .. })
    ));
}

#[test]
fn improper_lists_are_refused() {
    // [1 | 2]
    assert_eq!(
        decode(&[131, 108, 0, 0, 0, 1, 97, 1, 97, 2]),
        Err(EtfError::ImproperList { offset: 8 })
    );
}

#[test]
fn string_ext_is_a_list_of_small_integers() {
    assert_eq!(
        decode(&[131, 107, 0, 3, 1, 2, 255]).unwrap(),
        Term::List(vec![Term::Int(1), Term::Int(2), Term::Int(255)])
    );
    assert_eq!(decode(&[131, 107, 0, 0]).unwrap(), Term::List(vec![]));
    assert_eq!(
        decode(&[131, 107, 0, 4, 1]),
        Err(EtfError::UnexpectedEof { offset: 4, need: 3 })
    );
}

#[test]
fn integers_decode_to_canonical_widths() {
    assert_eq!(
        decode(&[131, 98, 0xFF, 0xFF, 0xFF, 0xFE]).unwrap(),
        Term::Int(-2)
    );
    // Small big of 2^31 fits i64, so it is an Int.
    assert_eq!(
        decode(&[131, 110, 4, 0, 0, 0, 0, 0x80]).unwrap(),
        Term::Int(1 << 31)
    );
    // Zero-padded magnitudes are fine; large big (111) too.
    assert_eq!(
        decode(&[
            131, 110, 20, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
        ])
        .unwrap(),
        Term::Int(-5)
    );
    assert_eq!(decode(&[131, 111, 0, 0, 0, 1, 0, 7]).unwrap(), Term::Int(7));
    let mut u64max = vec![131, 110, 8, 0];
    u64max.extend_from_slice(&[0xFF; 8]);
    assert_eq!(decode(&u64max).unwrap(), Term::BigInt(i128::from(u64::MAX)));
}

#[test]
fn integers_beyond_128_bits_are_refused() {
    let mut seventeen = vec![131, 110, 17, 0];
    seventeen.extend_from_slice(&[1; 17]);
    assert_eq!(
        decode(&seventeen),
        Err(EtfError::BigIntTooLarge { offset: 1 })
    );
    // 2^127 does not fit i128 as a positive value, but -2^127 does.
    let mut two_pow_127 = vec![131, 110, 16, 0];
    two_pow_127.extend_from_slice(&[0; 15]);
    two_pow_127.push(0x80);
    assert_eq!(
        decode(&two_pow_127),
        Err(EtfError::BigIntTooLarge { offset: 1 })
    );
    two_pow_127[3] = 1;
    assert_eq!(decode(&two_pow_127).unwrap(), Term::BigInt(i128::MIN));
}

#[test]
fn atoms_outside_the_protocol_set_need_lenient_mode() {
    let bytes = [131, 119, 3, b'f', b'o', b'o'];
    assert_eq!(decode(&bytes), Err(EtfError::UnknownAtom("foo".into())));
    assert_eq!(
        decode_with(&bytes, DecodeOptions::lenient()).unwrap(),
        Term::Atom(Atom::Other("foo".into()))
    );
    // Latin-1 atoms (ATOM_EXT / SMALL_ATOM_EXT) map bytes to code points.
    let latin1 = [131, 115, 2, b'h', 0xE9];
    assert_eq!(
        decode_with(&latin1, DecodeOptions::lenient()).unwrap(),
        Term::Atom(Atom::Other("hé".into()))
    );
    assert_eq!(
        decode(&[131, 100, 0, 4, b't', b'r', b'u', b'e']).unwrap(),
        Term::Atom(Atom::True)
    );
    assert_eq!(
        decode(&[131, 118, 0, 3, b'$', b'o', b'p']).unwrap(),
        Term::Atom(Atom::Op)
    );
}

#[test]
fn lenient_atoms_are_length_capped_and_utf8_checked() {
    let opts = DecodeOptions {
        max_other_atom_len: 8,
        ..DecodeOptions::lenient()
    };
    let mut long = vec![131, 118, 0, 9];
    long.extend_from_slice(b"abcdefghi");
    assert_eq!(
        decode_with(&long, opts),
        Err(EtfError::AtomTooLong {
            len: 9,
            max: 8,
            offset: 1
        })
    );
    assert_eq!(
        decode_with(&[131, 119, 2, 0xC3, 0x28], opts),
        Err(EtfError::InvalidAtom { offset: 1 })
    );
}

#[test]
fn duplicate_map_keys_are_refused() {
    let bytes = [131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 1, 97, 3];
    assert_eq!(decode(&bytes), Err(EtfError::DuplicateMapKey { offset: 1 }));
}

#[test]
fn compressed_terms_inflate_exactly_to_the_declared_size() {
    let plain = encode(&Term::binary(vec![7u8; 1000]));
    let body = &plain[1..];
    let ok = compressed(body.len() as u32, &zlib(body));
    assert_eq!(decode(&ok).unwrap(), Term::binary(vec![7u8; 1000]));
    assert_eq!(
        decode(&compressed(body.len() as u32 - 1, &zlib(body))),
        Err(EtfError::InflatedSizeMismatch {
            declared: body.len() - 1,
            actual: body.len()
        })
    );
    assert_eq!(
        decode(&compressed(body.len() as u32 + 1, &zlib(body))),
        Err(EtfError::InflatedSizeMismatch {
            declared: body.len() + 1,
            actual: body.len()
        })
    );
    assert!(matches!(
        decode(&compressed(5, b"not zlib at all")),
        Err(EtfError::Inflate(_))
    ));
    assert_eq!(
        decode(&[131, 80, 0, 0]),
        Err(EtfError::UnexpectedEof { offset: 2, need: 2 })
    );
}

#[test]
fn compressed_size_is_capped_globally_and_a_bomb_stops_at_the_declared_size() {
    let too_big = MAX_INFLATED_SIZE as u32 + 1;
    assert_eq!(
        decode(&compressed(too_big, &zlib(b"x"))),
        Err(EtfError::InflatedTooLarge {
            declared: u64::from(too_big),
            max: MAX_INFLATED_SIZE
        })
    );
    let opts = DecodeOptions {
        max_inflated_size: 100,
        ..DecodeOptions::default()
    };
    assert!(matches!(
        decode_with(&compressed(101, &zlib(b"x")), opts),
        Err(EtfError::InflatedTooLarge { .. })
    ));
    // 32 MiB of zeros declared as 64 bytes: inflation stops after 65 bytes.
    let bomb = zlib(&vec![0u8; 32 << 20]);
    assert_eq!(
        decode(&compressed(64, &bomb)),
        Err(EtfError::InflatedSizeMismatch {
            declared: 64,
            actual: 65
        })
    );
}

#[test]
fn errors_explain_themselves() {
    assert_eq!(
        EtfError::LengthExceedsInput {
            len: 9,
            offset: 1,
            remaining: 2
        }
        .to_string(),
        "length 9 at byte 1 cannot fit in the 2 byte(s) left"
    );
    assert_eq!(
        EtfError::UnknownAtom("foo".into()).to_string(),
        "atom 'foo' is not one the $LINK protocol uses"
    );
}
