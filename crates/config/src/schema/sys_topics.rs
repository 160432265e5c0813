//! `sys_topics { sys_msg_interval, sys_heartbeat_interval, sys_event_messages }`.

use std::time::Duration;

use crate::reader::{self, Ctx, Section};

/// Publication of `$SYS/brokers/...` topics.
#[derive(Debug, Clone, PartialEq)]
pub struct SysTopicsConfig {
    /// Interval of `$SYS` statistics messages; `None` is `disabled`.
    pub sys_msg_interval: Option<Duration>,
    /// Interval of `$SYS` heartbeat (uptime, datetime) messages; `None` is `disabled`.
    pub sys_heartbeat_interval: Option<Duration>,
    /// Which client events are published under `$SYS/brokers/<node>/clients/...`.
    pub sys_event_messages: SysEventMessages,
}

/// `sys_topics.sys_event_messages`.
#[derive(Debug, Clone, PartialEq)]
pub struct SysEventMessages {
    /// Publish `.../connected`.
    pub client_connected: bool,
    /// Publish `.../disconnected`.
    pub client_disconnected: bool,
    /// Publish `.../subscribed`.
    pub client_subscribed: bool,
    /// Publish `.../unsubscribed`.
    pub client_unsubscribed: bool,
}

impl Default for SysTopicsConfig {
    fn default() -> Self {
        SysTopicsConfig {
            sys_msg_interval: Some(Duration::from_secs(60)),
            sys_heartbeat_interval: Some(Duration::from_secs(30)),
            sys_event_messages: SysEventMessages {
                client_connected: true,
                client_disconnected: true,
                client_subscribed: false,
                client_unsubscribed: false,
            },
        }
    }
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> SysTopicsConfig {
    let d = SysTopicsConfig::default();
    let sys_msg_interval = sec.get(
        ctx,
        "sys_msg_interval",
        d.sys_msg_interval,
        reader::duration_or_disabled,
    );
    let sys_heartbeat_interval = sec.get(
        ctx,
        "sys_heartbeat_interval",
        d.sys_heartbeat_interval,
        reader::duration_or_disabled,
    );
    let mut ev = sec.section(ctx, "sys_event_messages");
    let e = d.sys_event_messages;
    let sys_event_messages = SysEventMessages {
        client_connected: ev.get(ctx, "client_connected", e.client_connected, reader::boolean),
        client_disconnected: ev.get(
            ctx,
            "client_disconnected",
            e.client_disconnected,
            reader::boolean,
        ),
        client_subscribed: ev.get(
            ctx,
            "client_subscribed",
            e.client_subscribed,
            reader::boolean,
        ),
        client_unsubscribed: ev.get(
            ctx,
            "client_unsubscribed",
            e.client_unsubscribed,
            reader::boolean,
        ),
    };
    ev.finish(ctx);
    sec.finish(ctx);
    SysTopicsConfig {
        sys_msg_interval,
        sys_heartbeat_interval,
        sys_event_messages,
    }
}
