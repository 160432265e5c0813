//! EMQX rate notation for listener limits (`max_conn_rate`, `messages_rate`, `bytes_rate`):
//! `"1000/s"`, `"100/10s"`, `"10KB/s"`, `"1MB/m"`, a bare number (per second), or `"infinity"`.

use std::time::Duration;

use serde_json::Value;

use crate::units::{parse_duration, parse_size};
use crate::values::{describe, is_word};

/// `amount` per `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Tokens (connections, messages or bytes) per period.
    pub amount: u64,
    /// The period, e.g. 1 s.
    pub period: Duration,
}

/// Parses `N/T` (N a count or a 1024-based size, T `s`/`m`/`h`/`d` or a duration like `10s`),
/// a bare count (per second), or `infinity` (`None`).
pub fn parse_rate(text: &str) -> Result<Option<Rate>, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("infinity") {
        return Ok(None);
    }
    let bad = || format!("expected a rate like \"100/s\", \"10KB/s\" or \"1000/10s\", found {t:?}");
    let (amount, period) = match t.split_once('/') {
        Some((a, p)) => {
            let p = p.trim();
            if p.is_empty() || p.ends_with(|c: char| c.is_ascii_digit()) {
                return Err(bad());
            }
            // "1000/s": a bare unit means one of it.
            let p = if p.starts_with(|c: char| c.is_ascii_digit()) {
                p.to_string()
            } else {
                format!("1{p}")
            };
            (a.trim(), parse_duration(&p).ok_or_else(bad)?)
        }
        None => (t, Duration::from_secs(1)),
    };
    let amount = parse_size(amount).ok_or_else(bad)?;
    if amount == 0 || period.is_zero() {
        return Err(format!("a rate must be positive, found {t:?}"));
    }
    Ok(Some(Rate { amount, period }))
}

/// Reads a rate value (string or number) for a [`crate::reader::Section`] getter.
pub(crate) fn rate(v: &Value) -> Result<Option<Rate>, String> {
    match v {
        Value::String(s) => parse_rate(s),
        Value::Number(n) => parse_rate(&n.to_string()),
        _ if is_word(v, "infinity") => Ok(None),
        other => Err(format!(
            "expected a rate like \"100/s\", found {}",
            describe(other)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(amount: u64, secs: u64) -> Option<Rate> {
        Some(Rate {
            amount,
            period: Duration::from_secs(secs),
        })
    }

    #[test]
    fn emqx_rate_forms() {
        assert_eq!(parse_rate("1000/s"), Ok(r(1000, 1)));
        assert_eq!(parse_rate("100/10s"), Ok(r(100, 10)));
        assert_eq!(parse_rate("10KB/s"), Ok(r(10 * 1024, 1)));
        assert_eq!(parse_rate("1MB/m"), Ok(r(1024 * 1024, 60)));
        assert_eq!(parse_rate("5/h"), Ok(r(5, 3600)));
        assert_eq!(parse_rate("50"), Ok(r(50, 1)));
        assert_eq!(parse_rate("infinity"), Ok(None));
        assert_eq!(parse_rate(" 7 / 2s "), Ok(r(7, 2)));
    }

    #[test]
    fn bad_rates_are_refused() {
        for bad in [
            "",
            "fast",
            "10/",
            "/s",
            "0/s",
            "10/0s",
            "10/parsec",
            "-1/s",
            "10/5",
        ] {
            assert!(parse_rate(bad).is_err(), "{bad:?} accepted");
        }
    }
}
