//! `log { console { ... }, file { ... } }`.

use std::collections::BTreeMap;

use crate::reader::{self, Ctx, Section, config_enum};

config_enum! {
    /// Log severity, EMQX's (syslog) names.
    pub enum LogLevel {
        /// Everything.
        All = "all",
        /// Debug and above.
        Debug = "debug",
        /// Info and above.
        Info = "info",
        /// Notice and above.
        Notice = "notice",
        /// Warnings and above.
        Warning = "warning",
        /// Errors and above.
        Error = "error",
        /// Critical and above.
        Critical = "critical",
        /// Alert and above.
        Alert = "alert",
        /// Emergencies only.
        Emergency = "emergency",
    }
    default = Warning;
}

impl LogLevel {
    /// The nearest `tracing` level name, for an `EnvFilter` directive.
    pub fn tracing_level(self) -> &'static str {
        match self {
            LogLevel::All => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info | LogLevel::Notice => "info",
            LogLevel::Warning => "warn",
            LogLevel::Error | LogLevel::Critical | LogLevel::Alert | LogLevel::Emergency => "error",
        }
    }
}

config_enum! {
    /// Log line format.
    pub enum LogFormatter {
        /// Human-readable text.
        Text = "text",
        /// One JSON object per line.
        Json = "json",
    }
    default = Text;
}

/// Logging handlers.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogConfig {
    /// Standard output.
    pub console: ConsoleHandler,
    /// File handlers by name (`log.file { ... }` alone is the handler named `default`).
    pub file: BTreeMap<String, FileHandler>,
}

/// `log.console`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsoleHandler {
    /// Whether it logs.
    pub enable: bool,
    /// Lowest level logged.
    pub level: LogLevel,
    /// Line format.
    pub formatter: LogFormatter,
}

impl Default for ConsoleHandler {
    fn default() -> Self {
        ConsoleHandler {
            enable: true,
            level: LogLevel::Warning,
            formatter: LogFormatter::Text,
        }
    }
}

/// `log.file.<name>`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileHandler {
    /// Whether it logs.
    pub enable: bool,
    /// Lowest level logged.
    pub level: LogLevel,
    /// Log file path.
    pub path: String,
    /// Rotated files kept.
    pub rotation_count: u32,
    /// Rotate when the file reaches this size; `None` is `infinity` (never).
    pub rotation_size: Option<u64>,
    /// Line format.
    pub formatter: LogFormatter,
}

impl Default for FileHandler {
    fn default() -> Self {
        FileHandler {
            enable: true,
            level: LogLevel::Warning,
            path: "log/emqx.log".to_string(),
            rotation_count: 10,
            rotation_size: Some(50 << 20),
            formatter: LogFormatter::Text,
        }
    }
}

/// Keys shared by both handler kinds that linkmq accepts without using them.
const ACCEPTED_HANDLER_KEYS: &[&str] = &[
    "time_offset",
    "timestamp_format",
    "single_line",
    "max_depth",
    "payload_encode",
    "chars_limit",
    "burst_limit",
    "overload_kill",
    "supervisor_reports",
    "drop_mode_qlen",
    "flush_qlen",
    "sync_mode_qlen",
    "rotation",
];

/// Keys that mark `log.file { ... }` as a single (`default`) handler rather than a map.
const FILE_HANDLER_KEYS: &[&str] = &[
    "enable",
    "level",
    "path",
    "rotation_count",
    "rotation_size",
    "formatter",
];

fn read_console(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> ConsoleHandler {
    let d = ConsoleHandler::default();
    let out = ConsoleHandler {
        enable: sec.get(ctx, "enable", d.enable, reader::boolean),
        level: sec.get(ctx, "level", d.level, reader::one_of),
        formatter: sec.get(ctx, "formatter", d.formatter, reader::one_of),
    };
    sec.accept(ACCEPTED_HANDLER_KEYS);
    sec.finish(ctx);
    out
}

fn read_file_handler(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> FileHandler {
    let d = FileHandler::default();
    let out = FileHandler {
        enable: sec.get(ctx, "enable", d.enable, reader::boolean),
        level: sec.get(ctx, "level", d.level, reader::one_of),
        path: sec.get(ctx, "path", d.path, reader::non_empty_string),
        rotation_count: sec.get(
            ctx,
            "rotation_count",
            d.rotation_count.into(),
            reader::int_in(1, 128),
        ) as u32,
        rotation_size: sec.get(
            ctx,
            "rotation_size",
            d.rotation_size,
            reader::size_or_infinity,
        ),
        formatter: sec.get(ctx, "formatter", d.formatter, reader::one_of),
    };
    sec.accept(ACCEPTED_HANDLER_KEYS);
    sec.finish(ctx);
    out
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> LogConfig {
    let console_sec = sec.section(ctx, "console");
    let console = read_console(console_sec, ctx);
    let mut file = BTreeMap::new();
    let single = sec
        .raw("file")
        .and_then(|v| v.as_object())
        .is_some_and(|m| m.keys().any(|k| FILE_HANDLER_KEYS.contains(&k.as_str())));
    let mut file_sec = sec.section(ctx, "file");
    if single {
        file.insert("default".to_string(), read_file_handler(file_sec, ctx));
    } else {
        let base = file_sec.path().clone();
        for (name, value) in file_sec.entries() {
            let handler = read_file_handler(Section::new(ctx, base.key(&name), Some(value)), ctx);
            file.insert(name, handler);
        }
        file_sec.finish(ctx);
    }
    sec.accept(&["audit", "throttling"]);
    sec.finish(ctx);
    LogConfig { console, file }
}
