//! Readers for single values: booleans, strings, integers in range, EMQX durations and sizes,
//! `infinity`/`disabled` words, listener addresses and closed word sets.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde_json::Value;

use crate::units::{parse_duration, parse_size};

/// Short human description of a value for error messages: strings quoted, containers by kind.
pub(crate) fn describe(v: &Value) -> String {
    match v {
        Value::String(s) => Value::String(s.clone()).to_string(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".to_string(),
        Value::Array(_) => "an array".to_string(),
        Value::Object(_) => "an object".to_string(),
    }
}

/// Reads `true`/`false` (also as strings, as env values arrive).
pub(crate) fn boolean(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        other => Err(format!("expected true or false, found {}", describe(other))),
    }
}

/// Reads a string; numbers are accepted as their text.
pub(crate) fn string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, found {}", describe(other))),
    }
}

/// Reads a non-empty string.
pub(crate) fn non_empty_string(v: &Value) -> Result<String, String> {
    let s = string(v)?;
    if s.is_empty() {
        return Err("expected a non-empty string".to_string());
    }
    Ok(s)
}

/// Reads a list of strings; a comma-separated string is also accepted (EMQX allows both).
pub(crate) fn string_list(v: &Value) -> Result<Vec<String>, String> {
    match v {
        Value::Array(items) => items
            .iter()
            .map(|i| string(i).map_err(|e| format!("in list: {e}")))
            .collect(),
        Value::String(s) => Ok(s
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_string)
            .collect()),
        other => Err(format!(
            "expected a list of strings, found {}",
            describe(other)
        )),
    }
}

/// Reads an integer in `min..=max` (numeric strings accepted).
pub(crate) fn int_in(min: u64, max: u64) -> impl Fn(&Value) -> Result<u64, String> {
    move |v| {
        let n = match v {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => s.trim().parse::<u64>().ok(),
            _ => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(n),
            Some(n) => Err(format!(
                "expected an integer between {min} and {max}, found {n}"
            )),
            None => Err(format!(
                "expected an integer between {min} and {max}, found {}",
                describe(v)
            )),
        }
    }
}

/// Reads an integer in `min..=max` or `infinity` (→ `None`).
pub(crate) fn int_or_infinity(
    min: u64,
    max: u64,
) -> impl Fn(&Value) -> Result<Option<u64>, String> {
    move |v| {
        if is_word(v, "infinity") {
            return Ok(None);
        }
        int_in(min, max)(v).map(Some).map_err(|_| {
            format!(
                "expected an integer between {min} and {max} or infinity, found {}",
                describe(v)
            )
        })
    }
}

/// Reads a positive float.
pub(crate) fn positive_float(v: &Value) -> Result<f64, String> {
    let f = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match f {
        Some(f) if f.is_finite() && f > 0.0 => Ok(f),
        _ => Err(format!("expected a positive number, found {}", describe(v))),
    }
}

/// Reads an EMQX duration: `"15s"`, `"1h30m"`, or integer milliseconds.
pub(crate) fn duration(v: &Value) -> Result<Duration, String> {
    let parsed = match v {
        Value::Number(n) => n.as_u64().map(Duration::from_millis),
        Value::String(s) => parse_duration(s),
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected a duration like \"15s\", found {}", describe(v)))
}

/// Reads a duration or `infinity` (→ `None`).
pub(crate) fn duration_or_infinity(v: &Value) -> Result<Option<Duration>, String> {
    if is_word(v, "infinity") {
        return Ok(None);
    }
    duration(v).map(Some).map_err(|_| {
        format!(
            "expected a duration like \"15s\" or infinity, found {}",
            describe(v)
        )
    })
}

/// Reads a duration or `disabled` (→ `None`).
pub(crate) fn duration_or_disabled(v: &Value) -> Result<Option<Duration>, String> {
    if is_word(v, "disabled") {
        return Ok(None);
    }
    duration(v).map(Some).map_err(|_| {
        format!(
            "expected a duration like \"15s\" or disabled, found {}",
            describe(v)
        )
    })
}

/// Reads an EMQX byte size: `"1MB"`, `"256KB"`, or plain bytes.
pub(crate) fn size(v: &Value) -> Result<u64, String> {
    let parsed = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => parse_size(s),
        _ => None,
    };
    parsed.ok_or_else(|| format!("expected a size like \"1MB\", found {}", describe(v)))
}

/// Reads a byte size in `min..=max`.
pub(crate) fn size_in(min: u64, max: u64) -> impl Fn(&Value) -> Result<u64, String> {
    move |v| {
        let n = size(v)?;
        if (min..=max).contains(&n) {
            Ok(n)
        } else {
            Err(format!(
                "expected a size between {} and {}, found {}",
                crate::units::format_size(min),
                crate::units::format_size(max),
                describe(v)
            ))
        }
    }
}

/// Reads a byte size or `infinity` (→ `None`).
pub(crate) fn size_or_infinity(v: &Value) -> Result<Option<u64>, String> {
    if is_word(v, "infinity") {
        return Ok(None);
    }
    size(v).map(Some).map_err(|_| {
        format!(
            "expected a size like \"1MB\" or infinity, found {}",
            describe(v)
        )
    })
}

/// Reads a listener address: `"ip:port"`, `":port"`, `"[v6]:port"` or a bare port number.
pub(crate) fn bind(v: &Value) -> Result<SocketAddr, String> {
    let err = || {
        format!(
            "expected \"ip:port\" or a port number, found {}",
            describe(v)
        )
    };
    let text = match v {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err(err()),
    };
    if let Ok(port) = text.parse::<u16>() {
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    if let Some(port) = text.strip_prefix(':') {
        let port = port.parse::<u16>().map_err(|_| err())?;
        return Ok(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port));
    }
    text.parse::<SocketAddr>().map_err(|_| err())
}

/// Whether `v` is the bare word `word` (case-insensitive).
pub(crate) fn is_word(v: &Value, word: &str) -> bool {
    matches!(v, Value::String(s) if s.trim().eq_ignore_ascii_case(word))
}

/// A closed set of words accepted for a key (`verify_none | verify_peer`, log levels, ...).
pub(crate) trait ConfigEnum: Sized + Copy + 'static {
    /// Every accepted word with its variant, in documentation order.
    const ALL: &'static [(&'static str, Self)];
}

/// Reads one word of a [`ConfigEnum`].
pub(crate) fn one_of<E: ConfigEnum>(v: &Value) -> Result<E, String> {
    if let Value::String(s) = v {
        let s = s.trim();
        if let Some((_, e)) = E::ALL.iter().find(|(w, _)| w.eq_ignore_ascii_case(s)) {
            return Ok(*e);
        }
    }
    let words: Vec<&str> = E::ALL.iter().map(|(w, _)| *w).collect();
    Err(format!(
        "expected one of {}, found {}",
        words.join(" | "),
        describe(v)
    ))
}

/// Defines a public config enum with its accepted words, `Default`, `as_str` and serde as the word.
macro_rules! config_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal ),+ $(,)?
        }
        default = $default:ident;
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant ),+
        }

        impl $name {
            /// The configuration word for this value.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word ),+
                }
            }
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl $crate::values::ConfigEnum for $name {
            const ALL: &'static [(&'static str, Self)] = &[ $( ($word, $name::$variant) ),+ ];
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                $crate::values::one_of::<$name>(&v).map_err(<D::Error as serde::de::Error>::custom)
            }
        }
    };
}
pub(crate) use config_enum;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bind_accepts_ip_port_colon_port_and_bare_port() {
        assert_eq!(
            bind(&json!("0.0.0.0:1883")).unwrap(),
            "0.0.0.0:1883".parse().unwrap()
        );
        assert_eq!(
            bind(&json!(":1884")).unwrap(),
            "0.0.0.0:1884".parse().unwrap()
        );
        assert_eq!(
            bind(&json!(18083)).unwrap(),
            "0.0.0.0:18083".parse().unwrap()
        );
        assert_eq!(
            bind(&json!("18083")).unwrap(),
            "0.0.0.0:18083".parse().unwrap()
        );
        assert_eq!(
            bind(&json!("[::1]:1883")).unwrap(),
            "[::1]:1883".parse().unwrap()
        );
        let e = bind(&json!("localhost")).unwrap_err();
        assert_eq!(
            e,
            r#"expected "ip:port" or a port number, found "localhost""#
        );
        assert!(bind(&json!("1.2.3.4:99999")).is_err());
    }

    #[test]
    fn infinity_and_disabled_words() {
        assert_eq!(duration_or_infinity(&json!("infinity")).unwrap(), None);
        assert_eq!(duration_or_disabled(&json!("disabled")).unwrap(), None);
        assert_eq!(int_or_infinity(0, 10)(&json!("infinity")).unwrap(), None);
        assert_eq!(int_or_infinity(0, 10)(&json!(7)).unwrap(), Some(7));
        assert!(int_or_infinity(0, 10)(&json!(11)).is_err());
        assert_eq!(size_or_infinity(&json!("2KB")).unwrap(), Some(2048));
        assert_eq!(
            int_in(1, 5)(&json!(9)).unwrap_err(),
            "expected an integer between 1 and 5, found 9"
        );
    }
}
