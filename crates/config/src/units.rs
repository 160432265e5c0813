//! EMQX duration and byte-size notation: `"15s"`, `"1h30m"`, `"100ms"`, `"1MB"`, `"256KB"`.

use std::time::Duration;

const MS_PER_SECOND: u64 = 1_000;
const MS_PER_MINUTE: u64 = 60 * MS_PER_SECOND;
const MS_PER_HOUR: u64 = 60 * MS_PER_MINUTE;
const MS_PER_DAY: u64 = 24 * MS_PER_HOUR;

/// Parses an EMQX duration: `<number><unit>` segments (`d`, `h`, `m`, `s`, `ms`, any case),
/// e.g. `"15s"`, `"1h30m"`, `"1.5h"`; a bare integer counts milliseconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u64>().ok().map(Duration::from_millis);
    }
    let mut rest = s.as_str();
    let mut total_ms: f64 = 0.0;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_len);
        if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let (unit_ms, unit_len) = if after.starts_with("ms") {
            (1, 2)
        } else if after.starts_with('d') {
            (MS_PER_DAY, 1)
        } else if after.starts_with('h') {
            (MS_PER_HOUR, 1)
        } else if after.starts_with('m') {
            (MS_PER_MINUTE, 1)
        } else if after.starts_with('s') {
            (MS_PER_SECOND, 1)
        } else {
            return None;
        };
        total_ms += value * unit_ms as f64;
        rest = &after[unit_len..];
    }
    if !total_ms.is_finite() || total_ms > u64::MAX as f64 {
        return None;
    }
    Some(Duration::from_millis(total_ms.round() as u64))
}

/// Renders a duration in the largest unit that represents it exactly (`"2h"`, `"90s"`, `"1500ms"`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis().min(u128::from(u64::MAX)) as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    for (unit, suffix) in [
        (MS_PER_DAY, "d"),
        (MS_PER_HOUR, "h"),
        (MS_PER_MINUTE, "m"),
        (MS_PER_SECOND, "s"),
    ] {
        if ms.is_multiple_of(unit) {
            return format!("{}{suffix}", ms / unit);
        }
    }
    format!("{ms}ms")
}

/// Parses an EMQX byte size, 1024-based: `"1MB"`, `"256KB"`, `"1GB"`, `"10k"`, `"512B"` or plain bytes.
pub fn parse_size(text: &str) -> Option<u64> {
    let s = text.trim().to_ascii_lowercase();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits);
    if num.is_empty() {
        return None;
    }
    let value: u64 = num.parse().ok()?;
    let factor: u64 = match unit.trim_start() {
        "" | "b" => 1,
        "k" | "kb" => 1 << 10,
        "m" | "mb" => 1 << 20,
        "g" | "gb" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(factor)
}

/// Renders a byte size in the largest unit that represents it exactly (`"1MB"`, `"1500B"`).
pub fn format_size(bytes: u64) -> String {
    for (factor, suffix) in [(1u64 << 30, "GB"), (1 << 20, "MB"), (1 << 10, "KB")] {
        if bytes != 0 && bytes.is_multiple_of(factor) {
            return format!("{}{suffix}", bytes / factor);
        }
    }
    format!("{bytes}B")
}

/// Serde helpers that write durations as EMQX strings and read strings or integer milliseconds.
pub mod serde_duration {
    use super::format_duration;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    /// Writes `"15s"`-style text.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(*d))
    }

    /// Reads `"15s"`-style text or integer milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        crate::reader::duration(&v).map_err(D::Error::custom)
    }
}

/// Serde helpers for an optional duration where `None` is EMQX's `infinity`.
pub mod serde_timeout {
    use super::format_duration;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};
    use std::time::Duration;

    /// Writes `"15s"`-style text or `"infinity"`.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_str(&format_duration(*d)),
            None => s.serialize_str("infinity"),
        }
    }

    /// Reads `"15s"`-style text, integer milliseconds or `"infinity"`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        crate::reader::duration_or_infinity(&v).map_err(D::Error::custom)
    }
}

/// Serde helpers that write byte sizes as EMQX strings and read strings or plain byte counts.
pub mod serde_size {
    use super::format_size;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `"256MB"`-style text.
    pub fn serialize<S: Serializer>(n: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_size(*n))
    }

    /// Reads `"256MB"`-style text or a plain byte count.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let v = serde_json::Value::deserialize(d)?;
        crate::reader::size(&v).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_every_emqx_form() {
        let cases = [
            ("15s", 15_000),
            ("2h", 7_200_000),
            ("100ms", 100),
            ("1d", 86_400_000),
            ("5m", 300_000),
            ("1h30m", 5_400_000),
            ("1d2h3m4s5ms", 93_784_005),
            ("1.5h", 5_400_000),
            ("30S", 30_000),
            ("500", 500),
            (" 10s ", 10_000),
        ];
        for (text, ms) in cases {
            assert_eq!(
                parse_duration(text),
                Some(Duration::from_millis(ms)),
                "{text}"
            );
        }
        for bad in ["", "s", "15x", "1h 30m", ".5s", "5.s", "-1s", "lots", "1w"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn duration_formatting_round_trips() {
        for ms in [
            0u64, 1, 999, 1_000, 15_000, 90_000, 3_600_000, 5_400_000, 86_400_000, 93_784_005,
        ] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Some(d), "{ms}");
        }
        assert_eq!(format_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn sizes_are_1024_based_and_case_insensitive() {
        let cases = [
            ("1MB", 1 << 20),
            ("256KB", 256 << 10),
            ("1GB", 1 << 30),
            ("1mb", 1 << 20),
            ("10k", 10 << 10),
            ("2m", 2 << 20),
            ("3g", 3 << 30),
            ("512B", 512),
            ("4096", 4096),
            ("1 KB", 1024),
        ];
        for (text, bytes) in cases {
            assert_eq!(parse_size(text), Some(bytes), "{text}");
        }
        for bad in [
            "",
            "MB",
            "1TB",
            "1.5MB",
            "lots",
            "-1KB",
            "99999999999999999999GB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn size_formatting_round_trips() {
        for n in [
            0u64,
            1,
            1000,
            1024,
            1536,
            1 << 20,
            256 << 20,
            1 << 30,
            3 << 30,
        ] {
            assert_eq!(parse_size(&format_size(n)), Some(n), "{n}");
        }
        assert_eq!(format_size(256 << 20), "256MB");
        assert_eq!(format_size(1000), "1000B");
    }
}
