//! `cluster { name, discovery_strategy, static.seeds, links = [...] }`.

use std::time::Duration;

use crate::link::{LinkConfig, LinkValidationError, duplicate_names, read_link, validate_link};
use crate::reader::{self, Ctx, KeyPath, Section, config_enum};
use crate::schema::node::node_name;

config_enum! {
    /// How nodes of this cluster find each other.
    pub enum DiscoveryStrategy {
        /// Nodes are joined by an operator (`linkmq ctl cluster join`).
        Manual = "manual",
        /// Nodes join the fixed `cluster.static.seeds`.
        Static = "static",
    }
    default = Manual;
}

/// This cluster: its name, membership discovery and links to other clusters.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Cluster name; a remote link's `name` must equal it.
    pub name: String,
    /// Membership discovery.
    pub discovery_strategy: DiscoveryStrategy,
    /// `cluster.static`: seeds for the `static` strategy.
    pub static_discovery: StaticDiscovery,
    /// Remove a node that has been down this long; `None` is `disabled`.
    pub autoclean: Option<Duration>,
    /// Heal network partitions automatically.
    pub autoheal: bool,
    /// Links to remote clusters (validated: names unique, topics sane).
    pub links: Vec<LinkConfig>,
}

/// `cluster.static`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StaticDiscovery {
    /// Node names (`name@host`) to join.
    pub seeds: Vec<String>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            name: "emqxcl".to_string(),
            discovery_strategy: DiscoveryStrategy::Manual,
            static_discovery: StaticDiscovery::default(),
            autoclean: Some(Duration::from_secs(24 * 3600)),
            autoheal: true,
            links: Vec::new(),
        }
    }
}

fn seeds(v: &serde_json::Value) -> Result<Vec<String>, String> {
    let list = reader::string_list(v)?;
    for seed in &list {
        node_name(&serde_json::Value::String(seed.clone())).map_err(|e| format!("seed: {e}"))?;
    }
    Ok(list)
}

/// Cluster name: same rule as a link name, since remote links must be able to name us.
fn cluster_name(v: &serde_json::Value) -> Result<String, String> {
    let s = reader::string(v)?;
    crate::link::validate_link_name(&s).map_err(|e| e.to_string())?;
    Ok(s)
}

pub(crate) fn read(mut sec: Section<'_>, ctx: &mut Ctx<'_>) -> ClusterConfig {
    let d = ClusterConfig::default();
    let name = sec.get(ctx, "name", d.name, cluster_name);
    let discovery_strategy = sec.get(
        ctx,
        "discovery_strategy",
        d.discovery_strategy,
        reader::one_of,
    );
    let mut static_sec = sec.section(ctx, "static");
    let static_discovery = StaticDiscovery {
        seeds: static_sec.get(ctx, "seeds", Vec::new(), seeds),
    };
    static_sec.finish(ctx);
    let autoclean = sec.get(ctx, "autoclean", d.autoclean, reader::duration_or_disabled);
    let autoheal = sec.get(ctx, "autoheal", d.autoheal, reader::boolean);
    let links = read_links(&mut sec, ctx);
    sec.accept(&[
        "proto_dist",
        "dns",
        "etcd",
        "k8s",
        "mcast",
        "core_nodes",
        "quic_lb_mode",
        "prevent_overlapping_partitions",
    ]);
    sec.finish(ctx);
    ClusterConfig {
        name,
        discovery_strategy,
        static_discovery,
        autoclean,
        autoheal,
        links,
    }
}

fn read_links(sec: &mut Section<'_>, ctx: &mut Ctx<'_>) -> Vec<LinkConfig> {
    let Some(items) = sec.array(ctx, "links") else {
        return Vec::new();
    };
    let mut links = Vec::new();
    let mut paths = Vec::new();
    for (path, value) in items {
        let Some(link) = read_link(ctx, path.clone(), value) else {
            continue;
        };
        if let Err(e) = validate_link(&link) {
            ctx.error(&error_path(&path, &link, &e), e.to_string());
        }
        links.push(link);
        paths.push(path);
    }
    for name in duplicate_names(&links) {
        let mut occurrences = links.iter().zip(&paths).filter(|(l, _)| l.name == name);
        if let (Some(_), Some((_, later))) = (occurrences.next(), occurrences.next()) {
            let e = LinkValidationError::DuplicateName { name };
            ctx.error(&later.key("name"), e.to_string());
        }
    }
    links
}

/// Points a validation error at the offending `name` or the exact `topics[i]`.
fn error_path(link_path: &KeyPath, link: &LinkConfig, e: &LinkValidationError) -> KeyPath {
    if e.is_about_name() {
        return link_path.key("name");
    }
    let topics = link_path.key("topics");
    let culprit = match e {
        LinkValidationError::InvalidTopic { topic, .. }
        | LinkValidationError::TopicUnderLinkPrefix { topic } => {
            link.topics.iter().position(|t| t == topic)
        }
        LinkValidationError::DuplicateTopic { topic } => {
            link.topics.iter().rposition(|t| t == topic)
        }
        LinkValidationError::RedundantTopics { topics } => topics
            .first()
            .and_then(|first| link.topics.iter().position(|t| t == first)),
        _ => None,
    };
    match culprit {
        Some(i) => topics.index(i),
        None => topics,
    }
}
