//! Helpers shared by the config integration tests: parse a file's text, or expect its error.

use linkmq_config::{Config, parse_str};

/// The text as `etc/emqx.conf`, with no environment; panics with the error if it does not parse.
pub fn parse(text: &str) -> Config {
    parse_str(text, "etc/emqx.conf", &[]).unwrap_or_else(|e| panic!("{e}"))
}

/// The error the text gives as `etc/emqx.conf`; panics if it parses.
pub fn error(text: &str) -> String {
    match parse_str(text, "etc/emqx.conf", &[]) {
        Ok(_) => panic!("expected an error for {text:?}"),
        Err(e) => e.to_string(),
    }
}
