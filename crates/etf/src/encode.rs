//! [`Term`] → bytes, in the tags Erlang itself writes (so plain output is byte-identical to
//! `term_to_binary/1` of OTP 26+ for the same term and map order).

use std::cell::RefCell;

use flate2::{Compress, Compression, FlushCompress, Status};

use crate::{Atom, Term, VERSION, tag};

/// `term_to_binary(T)`.
pub fn encode(term: &Term) -> Vec<u8> {
    let mut out = vec![VERSION];
    write_term(&mut out, term);
    out
}

/// Terms whose encoding is shorter than this go plain from [`encode_compressed`].
///
/// Erlang's `[compressed]` always tries zlib and keeps the plain encoding when that is not smaller;
/// `binary_to_term/1` reads both forms, so skipping the attempt changes nothing for the receiver.
/// Below this size zlib saves a few bytes at best, and costs more CPU than the rest of forwarding a
/// message (measured on `linked-clusters-qos0`: most of the publishing side's time).
pub const COMPRESS_MIN: usize = 512;

/// `term_to_binary(T, [compressed])`: zlib at Erlang's default level 6, or the plain encoding when
/// compressing would not make it smaller (as Erlang does) or the term is under [`COMPRESS_MIN`]
/// bytes. The compressor (a few hundred KiB of tables) is kept per thread and reset between terms.
pub fn encode_compressed(term: &Term) -> Vec<u8> {
    compress_encoded(encode(term))
}

/// `plain` (a whole plain external term, version byte included) as [`encode_compressed`] would
/// write it: compressed when that is worth it, otherwise `plain` itself.
pub(crate) fn compress_encoded(plain: Vec<u8>) -> Vec<u8> {
    let body = &plain[1..];
    if body.len() < COMPRESS_MIN {
        return plain;
    }
    let Ok(size) = u32::try_from(body.len()) else {
        return plain;
    };
    let mut out = Vec::with_capacity(plain.len());
    out.extend_from_slice(&[VERSION, tag::COMPRESSED]);
    out.extend_from_slice(&size.to_be_bytes());
    match zlib_into(body, out, plain.len()) {
        Some(out) => out,
        None => plain,
    }
}

thread_local! {
    static ZLIB: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(6), true));
}

/// Appends the zlib stream of `body` to `out`; `None` when it would reach `limit` bytes (not
/// worth it) or the compressor fails.
fn zlib_into(body: &[u8], mut out: Vec<u8>, limit: usize) -> Option<Vec<u8>> {
    ZLIB.with(|z| {
        let mut z = z.borrow_mut();
        z.reset();
        let start = z.total_in();
        loop {
            let consumed = usize::try_from(z.total_in() - start).ok()?;
            if out.len() >= limit {
                return None;
            }
            out.reserve(limit - out.len());
            let before = (out.len(), z.total_in());
            let status = z
                .compress_vec(&body[consumed..], &mut out, FlushCompress::Finish)
                .ok()?;
            if status == Status::StreamEnd {
                return (out.len() < limit).then_some(out);
            }
            if before == (out.len(), z.total_in()) {
                return None;
            }
        }
    })
}

fn write_term(out: &mut Vec<u8>, term: &Term) {
    match term {
        Term::Atom(a) => write_atom(out, a),
        Term::Int(v) => write_int(out, i128::from(*v)),
        Term::BigInt(v) => write_int(out, *v),
        Term::Binary(b) => write_binary(out, b),
        Term::Tuple(items) => {
            match u8::try_from(items.len()) {
                Ok(n) => out.extend_from_slice(&[tag::SMALL_TUPLE, n]),
                Err(_) => {
                    out.push(tag::LARGE_TUPLE);
                    out.extend_from_slice(&len32(items.len()).to_be_bytes());
                }
            }
            items.iter().for_each(|t| write_term(out, t));
        }
        Term::List(items) if items.is_empty() => out.push(tag::NIL),
        Term::List(items) => match string_ext(items) {
            // As Erlang does: a short list of bytes is a STRING_EXT.
            Some(bytes) => {
                out.push(tag::STRING);
                out.extend_from_slice(&(bytes.len() as u16).to_be_bytes());
                out.extend_from_slice(&bytes);
            }
            None => {
                out.push(tag::LIST);
                out.extend_from_slice(&len32(items.len()).to_be_bytes());
                items.iter().for_each(|t| write_term(out, t));
                out.push(tag::NIL);
            }
        },
        Term::Map(pairs) => {
            write_map_header(out, pairs.len());
            for (k, v) in pairs {
                write_term(out, k);
                write_term(out, v);
            }
        }
    }
}

/// The bytes of a list Erlang would write as STRING_EXT: at most 65535 integers, each 0..=255.
fn string_ext(items: &[Term]) -> Option<Vec<u8>> {
    if items.len() > usize::from(u16::MAX) {
        return None;
    }
    items
        .iter()
        .map(|t| match t {
            Term::Int(v) => u8::try_from(*v).ok(),
            _ => None,
        })
        .collect()
}

/// BINARY_EXT.
pub(crate) fn write_binary(out: &mut Vec<u8>, b: &[u8]) {
    out.push(tag::BINARY);
    out.extend_from_slice(&len32(b.len()).to_be_bytes());
    out.extend_from_slice(b);
}

/// The header of a map of `n` pairs (MAP_EXT); the pairs follow.
pub(crate) fn write_map_header(out: &mut Vec<u8>, n: usize) {
    out.push(tag::MAP);
    out.extend_from_slice(&len32(n).to_be_bytes());
}

/// Lengths past `u32` cannot be expressed in the format; such terms are far beyond any `$LINK` payload.
pub(crate) fn len32(n: usize) -> u32 {
    u32::try_from(n).expect("term element count exceeds the external format's u32 limit")
}

/// Atoms are written as UTF-8 (SMALL_ATOM_UTF8_EXT, or ATOM_UTF8_EXT past 255 bytes); a name longer
/// than the format's 65535 bytes (which no decoded atom can have) is cut at a character boundary.
pub(crate) fn write_atom(out: &mut Vec<u8>, atom: &Atom) {
    let mut name = atom.as_str();
    let mut end = name.len().min(usize::from(u16::MAX));
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    name = &name[..end];
    match u8::try_from(name.len()) {
        Ok(n) => out.extend_from_slice(&[tag::SMALL_ATOM_UTF8, n]),
        Err(_) => {
            out.push(tag::ATOM_UTF8);
            out.extend_from_slice(&(name.len() as u16).to_be_bytes());
        }
    }
    out.extend_from_slice(name.as_bytes());
}

pub(crate) fn write_int(out: &mut Vec<u8>, v: i128) {
    if let Ok(small) = u8::try_from(v) {
        out.extend_from_slice(&[tag::SMALL_INTEGER, small]);
    } else if let Ok(int) = i32::try_from(v) {
        out.push(tag::INTEGER);
        out.extend_from_slice(&int.to_be_bytes());
    } else {
        let magnitude = v.unsigned_abs();
        let digits = magnitude.to_le_bytes();
        let n = digits.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        out.extend_from_slice(&[tag::SMALL_BIG, n as u8, u8::from(v < 0)]);
        out.extend_from_slice(&digits[..n]);
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::{DecodeOptions, decode_with};

    #[test]
    fn integers_use_the_narrowest_tag_erlang_uses() {
        assert_eq!(encode(&Term::int(255)), [131, 97, 255]);
        assert_eq!(encode(&Term::int(-1)), [131, 98, 255, 255, 255, 255]);
        assert_eq!(
            encode(&Term::int(1i64 << 31)),
            [131, 110, 4, 0, 0, 0, 0, 128]
        );
        assert_eq!(
            encode(&Term::int(-(1i64 << 40))),
            [131, 110, 6, 1, 0, 0, 0, 0, 0, 1]
        );
    }

    #[test]
    fn long_and_multibyte_atoms_use_atom_utf8_ext() {
        let long = Atom::Other("é".repeat(200));
        let bytes = encode(&Term::Atom(long.clone()));
        assert_eq!(bytes[..4], [131, 118, 1, 144]);
        let opts = DecodeOptions {
            max_other_atom_len: 400,
            ..DecodeOptions::lenient()
        };
        assert_eq!(decode_with(&bytes, opts).unwrap(), Term::Atom(long));
        let huge = Atom::Other("é".repeat(40_000));
        let bytes = encode(&Term::Atom(huge));
        assert_eq!(
            bytes[2..4],
            65534u16.to_be_bytes(),
            "cut at a character boundary"
        );
    }

    #[test]
    fn small_terms_go_plain_large_ones_compressed_with_a_reused_compressor() {
        let small = Term::Binary(vec![b'a'; COMPRESS_MIN - 10].into());
        assert_eq!(encode_compressed(&small), encode(&small));

        let large = Term::Binary(vec![b'a'; 10 * COMPRESS_MIN].into());
        let first = encode_compressed(&large);
        assert_eq!(&first[..2], &[VERSION, tag::COMPRESSED]);
        assert!(first.len() < 100, "{} bytes", first.len());
        assert_eq!(crate::decode(&first).unwrap(), large);
        // Same bytes the second time (the compressor is reset between terms), and the same as a
        // fresh one-shot zlib stream.
        assert_eq!(encode_compressed(&large), first);
        let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(6));
        z.write_all(&encode(&large)[1..]).unwrap();
        assert_eq!(&first[6..], &z.finish().unwrap()[..]);

        // Incompressible: the plain encoding.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let noise: Vec<u8> = (0..4 * COMPRESS_MIN)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let noise = Term::Binary(noise.into());
        assert_eq!(encode_compressed(&noise), encode(&noise));
    }
}
