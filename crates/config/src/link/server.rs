//! A link's `server`: `host[:port]` with an optional `mqtt://` or `mqtts://` scheme.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// MQTT port used when `server` names none.
pub const DEFAULT_MQTT_PORT: u16 = 1883;

/// The remote cluster's MQTT endpoint, parsed; keeps the text the user wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkServer {
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port (1883 when omitted).
    pub port: u16,
    /// `mqtts://` was given: connect with TLS even if `ssl.enable` is false.
    pub tls: bool,
    raw: String,
}

impl LinkServer {
    /// The address as written in the configuration.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// `host:port` for connecting (`[v6]:port` for IPv6 literals).
    pub fn host_port(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// Why a `server` value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected \"host[:port]\" (optionally mqtt:// or mqtts://), found {found:?}: {reason}")]
pub struct LinkServerError {
    /// The rejected text.
    pub found: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl FromStr for LinkServer {
    type Err = LinkServerError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let err = |reason| LinkServerError {
            found: text.to_string(),
            reason,
        };
        let trimmed = text.trim();
        let lower = trimmed.to_ascii_lowercase();
        let (tls, rest) = if lower.starts_with("mqtts://") {
            (true, &trimmed[8..])
        } else if lower.starts_with("mqtt://") {
            (false, &trimmed[7..])
        } else if lower.contains("://") {
            return Err(err("only the mqtt:// and mqtts:// schemes are supported"));
        } else {
            (false, trimmed)
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (host, after) = v6
                .split_once(']')
                .ok_or_else(|| err("unclosed '[' in IPv6 address"))?;
            match after {
                "" => (host, None),
                p => (
                    host,
                    Some(
                        p.strip_prefix(':')
                            .ok_or_else(|| err("expected ':' after ']'"))?,
                    ),
                ),
            }
        } else {
            match rest.split_once(':') {
                Some((_, p)) if p.contains(':') => {
                    return Err(err("write IPv6 addresses as [addr]:port"));
                }
                Some((h, p)) => (h, Some(p)),
                None => (rest, None),
            }
        };
        if host.is_empty() {
            return Err(err("host is empty"));
        }
        if host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
        {
            return Err(err("host contains an invalid character"));
        }
        let port = match port {
            None => DEFAULT_MQTT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p > 0 => p,
                _ => return Err(err("port must be a number between 1 and 65535")),
            },
        };
        Ok(LinkServer {
            host: host.to_string(),
            port,
            tls,
            raw: trimmed.to_string(),
        })
    }
}

impl fmt::Display for LinkServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl Serialize for LinkServer {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> Deserialize<'de> for LinkServer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(<D::Error as serde::de::Error>::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> (String, u16, bool) {
        let server: LinkServer = s.parse().unwrap();
        (server.host, server.port, server.tls)
    }

    #[test]
    fn host_port_scheme_forms() {
        assert_eq!(
            parse("emqx.us-east.myinfra.net:11883"),
            ("emqx.us-east.myinfra.net".into(), 11883, false)
        );
        assert_eq!(
            parse("broker.emqx.io"),
            ("broker.emqx.io".into(), 1883, false)
        );
        assert_eq!(
            parse("mqtt://10.0.0.1:1884"),
            ("10.0.0.1".into(), 1884, false)
        );
        assert_eq!(
            parse("MQTTS://example.com"),
            ("example.com".into(), 1883, true)
        );
        assert_eq!(
            parse("mqtts://example.com:8883"),
            ("example.com".into(), 8883, true)
        );
        assert_eq!(parse("[::1]:1883"), ("::1".into(), 1883, false));
        assert_eq!(parse("[::1]"), ("::1".into(), 1883, false));
        let s: LinkServer = "[::1]:2000".parse().unwrap();
        assert_eq!(s.host_port(), "[::1]:2000");
        assert_eq!(s.to_string(), "[::1]:2000");
    }

    #[test]
    fn rejected_servers() {
        for bad in [
            "",
            ":1883",
            "host:0",
            "host:70000",
            "host:abc",
            "http://h",
            "::1",
            "[::1",
            "a b:1",
            "u@h:1",
        ] {
            assert!(bad.parse::<LinkServer>().is_err(), "{bad}");
        }
    }
}
