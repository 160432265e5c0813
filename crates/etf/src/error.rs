//! Why a byte string is not an acceptable external term.

/// A decoding failure; `offset` is the byte position in the (inflated) input where it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EtfError {
    #[error("empty input: an external term starts with version byte 131")]
    Empty,
    #[error("bad version byte {0}, expected 131")]
    BadVersion(u8),
    #[error("unexpected end of input at byte {offset}: {need} more byte(s) needed")]
    UnexpectedEof { offset: usize, need: usize },
    #[error("unknown or unsupported tag {tag} at byte {offset}")]
    UnknownTag { tag: u8, offset: usize },
    #[error("terms nested deeper than {0} levels")]
    TooDeep(usize),
    #[error("length {len} at byte {offset} cannot fit in the {remaining} byte(s) left")]
    LengthExceedsInput {
        len: u64,
        offset: usize,
        remaining: usize,
    },
    #[error("atom '{0}' is not one the $LINK protocol uses")]
    UnknownAtom(String),
    #[error("atom at byte {offset} is not valid UTF-8")]
    InvalidAtom { offset: usize },
    #[error("atom of {len} byte(s) at byte {offset} is longer than the {max} allowed")]
    AtomTooLong {
        len: usize,
        max: usize,
        offset: usize,
    },
    #[error("integer at byte {offset} does not fit in 128 bits")]
    BigIntTooLarge { offset: usize },
    #[error("improper list at byte {offset}: tail is not []")]
    ImproperList { offset: usize },
    #[error("map at byte {offset} repeats a key")]
    DuplicateMapKey { offset: usize },
    #[error("compressed term declares {declared} bytes, more than the {max} allowed")]
    InflatedTooLarge { declared: u64, max: usize },
    #[error("compressed term is corrupt: {0}")]
    Inflate(String),
    #[error("compressed term declares {declared} bytes but inflates to {actual}")]
    InflatedSizeMismatch { declared: usize, actual: usize },
    #[error("{count} trailing byte(s) after the term at byte {offset}")]
    TrailingBytes { offset: usize, count: usize },
}
