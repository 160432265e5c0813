//! The term model: the part of Erlang's data types that `$LINK` payloads use.

use std::fmt;

use bytes::Bytes;

use crate::Atom;

/// An Erlang term.
///
/// Integers are canonical: a value that fits `i64` is always [`Term::Int`], whatever tag carried it;
/// [`Term::BigInt`] holds only values outside `i64` (up to 128 bits). Use [`Term::int`] to build one
/// from any width. Maps keep the order of the wire (Erlang writes small maps sorted by key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Term {
    Atom(Atom),
    Int(i64),
    /// An integer outside `i64`, e.g. a 128-bit value.
    BigInt(i128),
    Binary(Bytes),
    Tuple(Vec<Term>),
    /// A proper list (`[]`-terminated).
    List(Vec<Term>),
    Map(Vec<(Term, Term)>),
}

impl Term {
    /// An integer term in canonical form.
    pub fn int(v: impl Into<i128>) -> Term {
        let v = v.into();
        match i64::try_from(v) {
            Ok(small) => Term::Int(small),
            Err(_) => Term::BigInt(v),
        }
    }

    /// A binary term from anything byte-like.
    pub fn binary(b: impl Into<Bytes>) -> Term {
        Term::Binary(b.into())
    }

    /// The integer value, whatever its width.
    pub fn as_i128(&self) -> Option<i128> {
        match self {
            Term::Int(v) => Some(i128::from(*v)),
            Term::BigInt(v) => Some(*v),
            _ => None,
        }
    }

    /// The integer value if it fits `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_i128().and_then(|v| i64::try_from(v).ok())
    }

    pub fn as_atom(&self) -> Option<&Atom> {
        match self {
            Term::Atom(a) => Some(a),
            _ => None,
        }
    }

    pub fn as_binary(&self) -> Option<&Bytes> {
        match self {
            Term::Binary(b) => Some(b),
            _ => None,
        }
    }

    pub fn as_tuple(&self) -> Option<&[Term]> {
        match self {
            Term::Tuple(t) => Some(t),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&[Term]> {
        match self {
            Term::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_map(&self) -> Option<&[(Term, Term)]> {
        match self {
            Term::Map(m) => Some(m),
            _ => None,
        }
    }

    /// The value of `key` in a map term (first match); `None` for a missing key or a non-map.
    pub fn map_get(&self, key: &Term) -> Option<&Term> {
        self.as_map()?
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
    }
}

impl From<Atom> for Term {
    fn from(a: Atom) -> Term {
        Term::Atom(a)
    }
}

impl fmt::Display for Term {
    /// Erlang expression syntax that `erl_parse` reads back to the same term (binaries as byte lists).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fn seq<T>(
            f: &mut fmt::Formatter<'_>,
            items: &[T],
            mut one: impl FnMut(&mut fmt::Formatter<'_>, &T) -> fmt::Result,
        ) -> fmt::Result {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    f.write_str(",")?;
                }
                one(f, item)?;
            }
            Ok(())
        }
        match self {
            Term::Atom(a) => write!(f, "{a}"),
            Term::Int(v) => write!(f, "{v}"),
            Term::BigInt(v) => write!(f, "{v}"),
            Term::Binary(b) => {
                f.write_str("<<")?;
                seq(f, b, |f, byte| write!(f, "{byte}"))?;
                f.write_str(">>")
            }
            Term::Tuple(items) => {
                f.write_str("{")?;
                seq(f, items, |f, t| write!(f, "{t}"))?;
                f.write_str("}")
            }
            Term::List(items) => {
                f.write_str("[")?;
                seq(f, items, |f, t| write!(f, "{t}"))?;
                f.write_str("]")
            }
            Term::Map(pairs) => {
                f.write_str("#{")?;
                seq(f, pairs, |f, (k, v)| write!(f, "{k}=>{v}"))?;
                f.write_str("}")
            }
        }
    }
}
