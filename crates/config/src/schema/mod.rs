//! The typed sections of `emqx.conf` and the root walk that fills them.

pub(crate) mod api_key;
pub(crate) mod cluster;
pub(crate) mod dashboard;
pub(crate) mod flapping;
pub(crate) mod listeners;
pub(crate) mod log;
pub(crate) mod mqtt;
pub(crate) mod node;
pub(crate) mod security;
pub(crate) mod sys_topics;

use serde_json::Value;

use crate::reader::{Ctx, KeyPath, Section};

/// EMQX root keys linkmq accepts without interpreting (yet); later crates read them from `Config::raw`.
pub const RESERVED_ROOTS: &[&str] = &[
    "retainer",
    "rpc",
    "durable_sessions",
    "durable_storage",
    "session_persistence",
    "force_shutdown",
    "force_gc",
    "overload_protection",
    "conn_congestion",
    "stats",
    "sysmon",
    "alarm",
    "limiter",
    "broker",
    "banned",
    "zones",
    "prometheus",
    "telemetry",
    "opentelemetry",
    "statsd",
    "bridges",
    "connectors",
    "actions",
    "sources",
    "rule_engine",
    "gateway",
    "exhook",
    "delayed",
    "topic_metrics",
    "slow_subs",
    "auto_subscribe",
    "rewrite",
    "psk_authentication",
    "license",
    "file_transfer",
    "schema_registry",
    "message_transformation",
    "schema_validation",
    "plugins",
    "crl_cache",
    "mqtt_sn",
];

/// Every typed section, read from the merged tree.
pub(crate) struct Sections {
    pub(crate) node: node::NodeConfig,
    pub(crate) cluster: cluster::ClusterConfig,
    pub(crate) listeners: listeners::ListenersConfig,
    pub(crate) mqtt: mqtt::MqttConfig,
    pub(crate) log: log::LogConfig,
    pub(crate) dashboard: dashboard::DashboardConfig,
    pub(crate) sys_topics: sys_topics::SysTopicsConfig,
    pub(crate) authentication: Vec<security::AuthenticatorConfig>,
    pub(crate) authorization: security::AuthorizationConfig,
    pub(crate) flapping_detect: flapping::FlappingDetectConfig,
    pub(crate) api_key: api_key::ApiKeyConfig,
}

pub(crate) fn read(tree: &Value, ctx: &mut Ctx<'_>) -> Sections {
    let mut root = Section::new(ctx, KeyPath::default(), Some(tree));
    let s = root.section(ctx, "node");
    let node = node::read(s, ctx);
    let s = root.section(ctx, "cluster");
    let cluster = cluster::read(s, ctx);
    let s = root.section(ctx, "listeners");
    let listeners = listeners::read(s, ctx);
    let s = root.section(ctx, "mqtt");
    let mqtt = mqtt::read(s, ctx);
    let s = root.section(ctx, "log");
    let log = log::read(s, ctx);
    let s = root.section(ctx, "dashboard");
    let dashboard = dashboard::read(s, ctx);
    let s = root.section(ctx, "sys_topics");
    let sys_topics = sys_topics::read(s, ctx);
    let authentication = security::read_authentication(&mut root, ctx);
    let s = root.section(ctx, "authorization");
    let authorization = security::read_authorization(s, ctx);
    let s = root.section(ctx, "flapping_detect");
    let flapping_detect = flapping::read(s, ctx);
    let s = root.section(ctx, "api_key");
    let api_key = api_key::read(s, ctx);
    root.accept(RESERVED_ROOTS);
    root.finish(ctx);
    Sections {
        node,
        cluster,
        listeners,
        mqtt,
        log,
        dashboard,
        sys_topics,
        authentication,
        authorization,
        flapping_detect,
        api_key,
    }
}
