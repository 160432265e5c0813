//! A string that never shows up in logs or `Debug` output (passwords, cookies).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What the REST API shows instead of a secret, and what a client sends back to keep it unchanged.
pub const REDACTED: &str = "******";

/// A secret value; `Debug` prints `"******"`, [`Secret::expose`] gives the value.
///
/// `Serialize` writes the real value (for persisting configuration); API output must go
/// through a redacting view such as [`crate::LinkConfig::redacted`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value itself, for the one place that needs it (a CONNECT, a cookie check).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether this is the `"******"` placeholder an API client sends to mean "keep the stored one".
    pub fn is_redacted_placeholder(&self) -> bool {
        self.0 == REDACTED
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_string())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let s = Secret::new("clink-password-no-one-knows");
        assert_eq!(format!("{s:?}"), "******");
        assert_eq!(format!("{:?}", Some(&s)), "Some(******)");
        assert_eq!(s.expose(), "clink-password-no-one-knows");
        assert!(Secret::new(REDACTED).is_redacted_placeholder());
    }
}
