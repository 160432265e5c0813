//! `node { name, cookie, data_dir }`.

use std::path::PathBuf;

use serde_json::Value;

use crate::reader::{self, Ctx, Section};
use crate::secret::Secret;

/// This node's identity and local storage.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeConfig {
    /// Node name, `name@host` (EMQX default `emqx@127.0.0.1`).
    pub name: String,
    /// Shared secret nodes of one cluster must agree on.
    pub cookie: Secret,
    /// Directory for Raft log, snapshots and runtime config (relative to the working directory).
    pub data_dir: PathBuf,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            name: "emqx@127.0.0.1".to_string(),
            cookie: Secret::new("emqxsecretcookie"),
            data_dir: PathBuf::from("data"),
        }
    }
}

/// Checks `name@host`: exactly one `@`, both parts non-empty, no whitespace.
pub(crate) fn node_name(v: &Value) -> Result<String, String> {
    let s = reader::string(v)?;
    match s.split_once('@') {
        Some((n, h))
            if !n.is_empty()
                && !h.is_empty()
                && !h.contains('@')
                && !s.contains(char::is_whitespace) =>
        {
            Ok(s)
        }
        _ => Err(format!(
            "expected a node name like \"emqx@127.0.0.1\", found {}",
            reader::describe(v)
        )),
    }
}

/// Erlang VM and Mria knobs of EMQX's `node` section: accepted, meaningless for linkmq.
const EMQX_VM_KEYS: &[&str] = &[
    "role",
    "process_limit",
    "max_ports",
    "dist_buffer_size",
    "max_ets_tables",
    "global_gc_interval",
    "crash_dump_file",
    "crash_dump_seconds",
    "crash_dump_bytes",
    "dist_net_ticktime",
    "backtrace_depth",
    "applications",
    "etc_dir",
    "cluster_call",
    "db_backend",
    "db_role",
    "default_bootstrap_batch_size",
    "broker_pool_size",
    "generic_pool_size",
    "channel_cleanup_batch_size",
];

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> NodeConfig {
    let d = NodeConfig::default();
    let out = NodeConfig {
        name: sec.get(ctx, "name", d.name, node_name),
        cookie: sec.get(ctx, "cookie", d.cookie, |v| {
            reader::non_empty_string(v).map(Secret::new)
        }),
        data_dir: sec.get(ctx, "data_dir", d.data_dir, |v| {
            reader::non_empty_string(v).map(PathBuf::from)
        }),
    };
    sec.accept(EMQX_VM_KEYS);
    sec.finish(ctx);
    out
}
