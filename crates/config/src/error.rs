//! Errors that point at the offending file, line and key, like a compiler's.

use std::fmt;
use std::path::PathBuf;

/// Where a configuration value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A HOCON file; `line`/`col` are 1-based, 0 when unknown.
    File {
        /// File name as given by the user (or of an included file).
        file: String,
        /// 1-based line, 0 if unknown.
        line: usize,
        /// 1-based column, 0 if unknown.
        col: usize,
    },
    /// An `EMQX_*` environment variable of the overlay.
    Env {
        /// Name of the variable, e.g. `EMQX_MQTT__MAX_PACKET_SIZE`.
        var: String,
    },
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File { file, line: 0, .. } => write!(f, "{file}"),
            Location::File { file, line, col: 0 } => write!(f, "{file}:{line}"),
            Location::File { file, line, col } => write!(f, "{file}:{line}:{col}"),
            Location::Env { var } => write!(f, "env {var}"),
        }
    }
}

/// One problem (or warning) about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Where the key was set, if known.
    pub location: Option<Location>,
    /// Dotted key path, e.g. `mqtt.max_packet_size` or `cluster.links[0].name`.
    pub key: String,
    /// What is wrong, e.g. `expected a size like "1MB", found "lots"`.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        if !self.key.is_empty() {
            write!(f, "{}: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

/// Why a configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file (or an included file) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that failed.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid HOCON.
    #[error("{location}: syntax error: {message}")]
    Syntax {
        /// File, line and column of the error.
        location: Location,
        /// What the parser expected.
        message: String,
    },
    /// A `${VAR}` substitution or include could not be resolved.
    #[error("{location}: {message}")]
    Resolve {
        /// File, line and column of the substitution.
        location: Location,
        /// What failed.
        message: String,
    },
    /// The document parsed but values are wrong: one diagnostic per problem.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The individual problems (one for syntax, I/O and resolve errors).
    pub fn diagnostics(&self) -> Vec<Diagnostic> {
        match self {
            ConfigError::Invalid(d) => d.clone(),
            ConfigError::Io { path, source } => vec![Diagnostic {
                location: Some(Location::File {
                    file: path.display().to_string(),
                    line: 0,
                    col: 0,
                }),
                key: String::new(),
                message: source.to_string(),
            }],
            ConfigError::Syntax { location, message } => vec![Diagnostic {
                location: Some(location.clone()),
                key: String::new(),
                message: format!("syntax error: {message}"),
            }],
            ConfigError::Resolve { location, message } => vec![Diagnostic {
                location: Some(location.clone()),
                key: String::new(),
                message: message.clone(),
            }],
        }
    }
}

fn join_lines(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}
