//! Bytes → [`Term`], for untrusted input.

use std::collections::HashSet;
use std::io::Read;

use bytes::Bytes;

use crate::{Atom, EtfError, Term, VERSION, tag};

/// Deepest nesting of tuples, lists and maps that [`decode`] accepts.
pub const MAX_DEPTH: usize = 64;

/// Largest inflated size of a compressed term (64 MiB), whatever it declares.
pub const MAX_INFLATED_SIZE: usize = 64 * 1024 * 1024;

/// Largest integer magnitude accepted, in bytes (`i128`).
const MAX_BIG_BYTES: usize = 16;

/// How strict decoding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Keep atoms outside the protocol's set as [`Atom::Other`] instead of failing with
    /// [`EtfError::UnknownAtom`]; used for forwarded messages, whose header maps may carry keys we
    /// do not know.
    pub lenient_atoms: bool,
    /// Longest [`Atom::Other`] kept, in bytes (Erlang's own limit is 255 characters).
    pub max_other_atom_len: usize,
    /// Deepest nesting accepted.
    pub max_depth: usize,
    /// Largest inflated size of a compressed term.
    pub max_inflated_size: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            lenient_atoms: false,
            max_other_atom_len: 255,
            max_depth: MAX_DEPTH,
            max_inflated_size: MAX_INFLATED_SIZE,
        }
    }
}

impl DecodeOptions {
    /// Defaults, but unknown atoms are kept as [`Atom::Other`].
    pub fn lenient() -> Self {
        DecodeOptions {
            lenient_atoms: true,
            ..Self::default()
        }
    }
}

/// Decodes one external term (`131`, then a term or a compressed term), refusing atoms outside the
/// protocol's set.
pub fn decode(input: &[u8]) -> Result<Term, EtfError> {
    decode_with(input, DecodeOptions::default())
}

/// Decodes one external term with explicit options.
pub fn decode_with(input: &[u8], opts: DecodeOptions) -> Result<Term, EtfError> {
    let (&version, rest) = input.split_first().ok_or(EtfError::Empty)?;
    if version != VERSION {
        return Err(EtfError::BadVersion(version));
    }
    if rest.first() == Some(&tag::COMPRESSED) {
        let inflated = inflate(&rest[1..], &opts)?;
        return Decoder {
            buf: &inflated,
            pos: 0,
            opts,
        }
        .whole();
    }
    Decoder {
        buf: input,
        pos: 1,
        opts,
    }
    .whole()
}

/// Inflates `u32 BE size` + zlib stream, never producing more than the declared size.
fn inflate(body: &[u8], opts: &DecodeOptions) -> Result<Vec<u8>, EtfError> {
    let Some((size, stream)) = body.split_first_chunk::<4>() else {
        return Err(EtfError::UnexpectedEof {
            offset: 2,
            need: 4 - body.len(),
        });
    };
    let declared = u32::from_be_bytes(*size) as usize;
    let max = opts.max_inflated_size.min(MAX_INFLATED_SIZE);
    if declared > max {
        return Err(EtfError::InflatedTooLarge {
            declared: declared as u64,
            max,
        });
    }
    let mut out = Vec::new();
    // One byte past the declared size is enough to notice a stream that is too long.
    flate2::read::ZlibDecoder::new(stream)
        .take(declared as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| EtfError::Inflate(e.to_string()))?;
    if out.len() != declared {
        return Err(EtfError::InflatedSizeMismatch {
            declared,
            actual: out.len(),
        });
    }
    Ok(out)
}

/// Maps up to this size are checked for duplicate keys pairwise instead of with a hash set (the
/// `$LINK` maps have a handful of keys; a set would be an allocation per map).
const PAIRWISE_MAX: usize = 16;

fn has_duplicate_key(pairs: &[(Term, Term)]) -> bool {
    if pairs.len() <= PAIRWISE_MAX {
        return pairs
            .iter()
            .enumerate()
            .any(|(i, (k, _))| pairs[..i].iter().any(|(earlier, _)| earlier == k));
    }
    let mut seen = HashSet::with_capacity(pairs.len());
    !pairs.iter().all(|(k, _)| seen.insert(k))
}

struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
    opts: DecodeOptions,
}

impl<'a> Decoder<'a> {
    fn whole(mut self) -> Result<Term, EtfError> {
        let term = self.term(0)?;
        let left = self.buf.len() - self.pos;
        if left != 0 {
            return Err(EtfError::TrailingBytes {
                offset: self.pos,
                count: left,
            });
        }
        Ok(term)
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], EtfError> {
        if n > self.remaining() {
            return Err(EtfError::UnexpectedEof {
                offset: self.pos,
                need: n - self.remaining(),
            });
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, EtfError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, EtfError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, EtfError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// Checks that `count` items of at least `min_item` bytes each can still follow, so nothing is
    /// allocated for a length the input cannot back.
    fn check_len(&self, count: usize, min_item: usize, offset: usize) -> Result<(), EtfError> {
        let needed = count.saturating_mul(min_item);
        if needed > self.remaining() {
            return Err(EtfError::LengthExceedsInput {
                len: count as u64,
                offset,
                remaining: self.remaining(),
            });
        }
        Ok(())
    }

    fn term(&mut self, depth: usize) -> Result<Term, EtfError> {
        let at = self.pos;
        let t = self.u8()?;
        match t {
            tag::SMALL_INTEGER => Ok(Term::Int(i64::from(self.u8()?))),
            tag::INTEGER => Ok(Term::Int(i64::from(self.u32()? as i32))),
            tag::SMALL_BIG => {
                let n = usize::from(self.u8()?);
                self.big(n, at)
            }
            tag::LARGE_BIG => {
                let n = self.u32()? as usize;
                self.check_len(n, 1, at)?;
                self.big(n, at)
            }
            tag::ATOM | tag::ATOM_UTF8 => {
                let n = usize::from(self.u16()?);
                self.atom(n, t == tag::ATOM_UTF8, at)
            }
            tag::SMALL_ATOM | tag::SMALL_ATOM_UTF8 => {
                let n = usize::from(self.u8()?);
                self.atom(n, t == tag::SMALL_ATOM_UTF8, at)
            }
            tag::BINARY => {
                let n = self.u32()? as usize;
                self.check_len(n, 1, at)?;
                Ok(Term::Binary(Bytes::copy_from_slice(self.take(n)?)))
            }
            tag::SMALL_TUPLE => {
                let n = usize::from(self.u8()?);
                Ok(Term::Tuple(self.items(n, depth, at)?))
            }
            tag::LARGE_TUPLE => {
                let n = self.u32()? as usize;
                Ok(Term::Tuple(self.items(n, depth, at)?))
            }
            tag::NIL => Ok(Term::List(Vec::new())),
            tag::STRING => {
                let n = usize::from(self.u16()?);
                let bytes = self.take(n)?;
                Ok(Term::List(
                    bytes.iter().map(|&b| Term::Int(i64::from(b))).collect(),
                ))
            }
            tag::LIST => {
                let n = self.u32()? as usize;
                // Each element and the tail take at least one byte.
                self.check_len(n.saturating_add(1), 1, at)?;
                let items = self.items(n, depth, at)?;
                let tail_at = self.pos;
                if self.u8()? != tag::NIL {
                    return Err(EtfError::ImproperList { offset: tail_at });
                }
                Ok(Term::List(items))
            }
            tag::MAP => {
                let n = self.u32()? as usize;
                self.check_len(n, 2, at)?;
                if depth >= self.opts.max_depth {
                    return Err(EtfError::TooDeep(self.opts.max_depth));
                }
                let mut pairs = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.term(depth + 1)?;
                    let v = self.term(depth + 1)?;
                    pairs.push((k, v));
                }
                if has_duplicate_key(&pairs) {
                    return Err(EtfError::DuplicateMapKey { offset: at });
                }
                Ok(Term::Map(pairs))
            }
            _ => Err(EtfError::UnknownTag { tag: t, offset: at }),
        }
    }

    fn items(&mut self, n: usize, depth: usize, at: usize) -> Result<Vec<Term>, EtfError> {
        self.check_len(n, 1, at)?;
        if depth >= self.opts.max_depth {
            return Err(EtfError::TooDeep(self.opts.max_depth));
        }
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.term(depth + 1)?);
        }
        Ok(items)
    }

    /// Sign byte, then `n` little-endian magnitude bytes.
    fn big(&mut self, n: usize, at: usize) -> Result<Term, EtfError> {
        let sign = self.u8()?;
        let digits = self.take(n)?;
        let significant = digits.iter().rposition(|&d| d != 0).map_or(0, |i| i + 1);
        if significant > MAX_BIG_BYTES {
            return Err(EtfError::BigIntTooLarge { offset: at });
        }
        let magnitude = digits[..significant]
            .iter()
            .rev()
            .fold(0u128, |acc, &d| (acc << 8) | u128::from(d));
        let value = match sign {
            0 => i128::try_from(magnitude).map_err(|_| EtfError::BigIntTooLarge { offset: at })?,
            _ if magnitude == 1u128 << 127 => i128::MIN,
            _ => -i128::try_from(magnitude).map_err(|_| EtfError::BigIntTooLarge { offset: at })?,
        };
        Ok(Term::int(value))
    }

    fn atom(&mut self, n: usize, utf8: bool, at: usize) -> Result<Term, EtfError> {
        let bytes = self.take(n)?;
        // Latin-1 below 0x80 is ASCII, so most names are looked up without copying them.
        let name: std::borrow::Cow<'_, str> = if utf8 || bytes.is_ascii() {
            std::str::from_utf8(bytes)
                .map_err(|_| EtfError::InvalidAtom { offset: at })?
                .into()
        } else {
            bytes
                .iter()
                .map(|&b| char::from(b))
                .collect::<String>()
                .into()
        };
        if let Some(known) = Atom::known(&name) {
            return Ok(Term::Atom(known));
        }
        if !self.opts.lenient_atoms {
            return Err(EtfError::UnknownAtom(name.chars().take(64).collect()));
        }
        if name.len() > self.opts.max_other_atom_len {
            return Err(EtfError::AtomTooLong {
                len: name.len(),
                max: self.opts.max_other_atom_len,
                offset: at,
            });
        }
        Ok(Term::Atom(Atom::Other(name.into_owned())))
    }
}
