//! `flapping_detect { enable, max_count, window_time, ban_time }`: ban client ids that connect and
//! disconnect too often (EMQX defaults: off, 15 times, 1m window, 5m ban).

use std::time::Duration;

use crate::reader::{self, Ctx, Section};

/// Flapping detection.
#[derive(Debug, Clone, PartialEq)]
pub struct FlappingDetectConfig {
    /// Whether disconnects are counted at all.
    pub enable: bool,
    /// Disconnects within `window_time` that get a client id banned.
    pub max_count: u32,
    /// The counting window.
    pub window_time: Duration,
    /// How long the client id stays banned.
    pub ban_time: Duration,
}

impl Default for FlappingDetectConfig {
    fn default() -> Self {
        FlappingDetectConfig {
            enable: false,
            max_count: 15,
            window_time: Duration::from_secs(60),
            ban_time: Duration::from_secs(300),
        }
    }
}

fn positive_duration(v: &serde_json::Value) -> Result<Duration, String> {
    let d = reader::duration(v)?;
    if d.is_zero() {
        return Err("expected a duration above zero".to_string());
    }
    Ok(d)
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> FlappingDetectConfig {
    let d = FlappingDetectConfig::default();
    let out = FlappingDetectConfig {
        enable: sec.get(ctx, "enable", d.enable, reader::boolean),
        max_count: sec.get(
            ctx,
            "max_count",
            u64::from(d.max_count),
            reader::int_in(1, u64::from(u32::MAX)),
        ) as u32,
        window_time: sec.get(ctx, "window_time", d.window_time, positive_duration),
        ban_time: sec.get(ctx, "ban_time", d.ban_time, positive_duration),
    };
    sec.finish(ctx);
    out
}
