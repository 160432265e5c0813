//! The atoms `$LINK` payloads carry.
//!
//! EMQX decodes with `binary_to_term(B, [safe])`, which refuses atoms its node does not already know, so
//! we only ever send atoms from this fixed set; decoding accepts the same set and, in lenient mode only,
//! keeps any other atom as [`Atom::Other`].

use std::fmt;

macro_rules! known_atoms {
    ($($(#[$doc:meta])* $variant:ident => $name:literal,)*) => {
        /// An Erlang atom: one the protocol names, or (lenient decoding only) any other.
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Atom {
            $($(#[$doc])* $variant,)*
            /// An atom outside the protocol's set, kept by lenient decoding (e.g. unknown header keys).
            Other(String),
        }

        impl Atom {
            /// Every atom the protocol names, in declaration order.
            pub const KNOWN: &'static [Atom] = &[$(Atom::$variant,)*];

            /// The atom's text as Erlang prints it without quotes.
            pub fn as_str(&self) -> &str {
                match self {
                    $(Atom::$variant => $name,)*
                    Atom::Other(s) => s,
                }
            }

            /// The known atom with this text, if the protocol names it.
            pub fn known(name: &str) -> Option<Atom> {
                match name {
                    $($name => Some(Atom::$variant),)*
                    _ => None,
                }
            }
        }
    };
}

known_atoms! {
    /// `'$op'`, the key of a control map's operation.
    Op => "$op",
    Ok => "ok",
    Error => "error",
    True => "true",
    False => "false",
    Undefined => "undefined",
    /// First element of the `#message{}` record.
    Message => "message",
    Dup => "dup",
    Retain => "retain",
    Sys => "sys",
    Properties => "properties",
    Username => "username",
    Peerhost => "peerhost",
    ProtoVer => "proto_ver",
    Protocol => "protocol",
    Mqtt => "mqtt",
    UserProperty => "User-Property",
    MessageExpiryInterval => "Message-Expiry-Interval",
    ContentType => "Content-Type",
    PayloadFormatIndicator => "Payload-Format-Indicator",
    ResponseTopic => "Response-Topic",
    CorrelationData => "Correlation-Data",
}

impl Atom {
    /// `true` or `false` as an atom.
    pub fn from_bool(b: bool) -> Atom {
        if b { Atom::True } else { Atom::False }
    }

    /// The boolean this atom stands for, if it is `true` or `false`.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Atom::True => Some(true),
            Atom::False => Some(false),
            _ => None,
        }
    }
}

impl fmt::Display for Atom {
    /// Erlang's printed form: quoted unless it is a plain lowercase identifier.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.as_str();
        let plain = s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '@');
        if plain {
            f.write_str(s)
        } else {
            write!(f, "'")?;
            for c in s.chars() {
                match c {
                    '\'' => f.write_str("\\'")?,
                    '\\' => f.write_str("\\\\")?,
                    c => write!(f, "{c}")?,
                }
            }
            write!(f, "'")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_round_trips_through_text() {
        for a in Atom::KNOWN {
            assert_eq!(Atom::known(a.as_str()).as_ref(), Some(a));
        }
        assert_eq!(Atom::known("erlang"), None);
    }

    #[test]
    fn display_quotes_like_erlang() {
        assert_eq!(Atom::Op.to_string(), "'$op'");
        assert_eq!(Atom::ProtoVer.to_string(), "proto_ver");
        assert_eq!(Atom::UserProperty.to_string(), "'User-Property'");
    }
}
