//! `api_key { bootstrap_file }`: API keys (`key:secret[:role]` lines) created at start.

use std::path::PathBuf;

use crate::reader::{self, Ctx, Section};

/// API keys of the REST API.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ApiKeyConfig {
    /// File of `key:secret[:role]` lines loaded at start (EMQX `api_key.bootstrap_file`);
    /// `None` when unset or empty.
    pub bootstrap_file: Option<PathBuf>,
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> ApiKeyConfig {
    let out = ApiKeyConfig {
        bootstrap_file: sec
            .opt(ctx, "bootstrap_file", reader::string)
            .filter(|s| !s.trim().is_empty())
            .map(PathBuf::from),
    };
    sec.finish(ctx);
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use crate::{ConfigError, parse_str};

    #[test]
    fn api_key_and_unsuccessful_login_are_typed() {
        let c = parse_str(
            "api_key.bootstrap_file = \"etc/keys.txt\"\n\
             dashboard.unsuccessful_login { max_attempts = 3, time_window = 1m, lock_duration = 30s }",
            "t.conf",
            &[],
        )
        .unwrap();
        assert_eq!(
            c.api_key.bootstrap_file,
            Some(PathBuf::from("etc/keys.txt"))
        );
        let ul = &c.dashboard.unsuccessful_login;
        assert_eq!(ul.max_attempts, 3);
        assert_eq!(ul.time_window, Duration::from_secs(60));
        assert_eq!(ul.lock_duration, Duration::from_secs(30));
        assert!(c.warnings.is_empty(), "{:?}", c.warnings);
        let d = parse_str("api_key.bootstrap_file = \"\"", "t.conf", &[]).unwrap();
        assert_eq!(d.api_key.bootstrap_file, None);
        assert_eq!(d.dashboard.unsuccessful_login.max_attempts, 5);
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse_str(
            "dashboard.unsuccessful_login.max_attempts = 0",
            "t.conf",
            &[],
        )
        .unwrap_err();
        assert!(matches!(e, ConfigError::Invalid(_)));
        assert!(
            e.to_string()
                .contains("dashboard.unsuccessful_login.max_attempts"),
            "{e}"
        );
        let w = parse_str("api_key.colour = red", "t.conf", &[]).unwrap();
        assert_eq!(w.warnings.len(), 1, "{:?}", w.warnings);
    }
}
