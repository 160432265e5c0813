//! The external route table (spec §5): routes that remote clusters replicated into this cluster.
//!
//! Each remote route-replication actor (one per remote node) owns a *lane*, a bit index unique within
//! its cluster. A route key (cluster, filter, route id) maps to the set of lanes holding it; the route
//! lives while any lane bit is set. An actor restarting with a newer incarnation loses its lane's
//! routes; an actor whose TTL passes (no init, no heartbeat) is garbage-collected the same way, for
//! its own cluster only. The table sits behind [`ExtRouter`] so that a multi-node cluster can share
//! it (e.g. through Raft) while this in-memory [`MemExtRouter`] serves a single node.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Duration;

use linkmq_core::router::trie::TopicTrie;
use linkmq_etf::link::RouteOp;

/// How many actors (lanes) one remote cluster may have at once.
pub const MAX_LANES: u32 = 64;

/// What a receiving connection remembers after a successful `actor_init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorHandle {
    pub cluster: Arc<str>,
    pub actor: Arc<str>,
    pub incarnation: u64,
    pub lane: u32,
}

/// The result of `actor_init`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInitOutcome {
    pub handle: ActorHandle,
    /// True when the actor's routes are not (or no longer) held here: the initiator must bootstrap.
    pub need_bootstrap: bool,
}

/// One matched external route: forward to `cluster` (at most one per cluster per match).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExtRoute {
    pub cluster: Arc<str>,
    pub filter: Arc<str>,
}

/// A remote actor as recorded here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInfo {
    pub actor: Arc<str>,
    pub incarnation: u64,
    pub lane: u32,
    /// Milliseconds since the Unix epoch after which GC drops the actor.
    pub until_ms: u64,
}

/// Protocol errors of the external route table; the receiver disconnects the sender with 0x83.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExtRouterError {
    /// `actor_init` with an incarnation older than the one recorded.
    #[error("actor {actor} incarnation {incarnation} is older than the current {current}")]
    OutdatedIncarnation {
        actor: String,
        incarnation: u64,
        current: u64,
    },
    /// Route op or heartbeat from an incarnation that is no longer current.
    #[error("actor {actor} incarnation {incarnation} is not current")]
    StaleIncarnation { actor: String, incarnation: u64 },
    /// Route op or heartbeat from an actor not recorded (never initialised, or GC'd).
    #[error("actor {actor} is unknown (never initialised or expired)")]
    UnknownActor { actor: String },
    /// The cluster already has [`MAX_LANES`] actors.
    #[error("cluster {cluster} has no free lane for another actor")]
    NoFreeLane { cluster: String },
}

/// The external route table, shared by every node of the receiving cluster.
pub trait ExtRouter: Send + Sync {
    /// Handles `actor_init` (spec §5): create, keep (same incarnation, TTL bumped), or replace (newer).
    fn actor_init(
        &self,
        cluster: &str,
        actor: &str,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<ActorInitOutcome, ExtRouterError>;

    /// Applies one route op for a current actor incarnation (idempotent per lane).
    fn apply(&self, actor: &ActorHandle, op: &RouteOp) -> Result<(), ExtRouterError>;

    /// Bumps the actor's TTL.
    fn heartbeat(&self, actor: &ActorHandle, now_ms: u64) -> Result<(), ExtRouterError>;

    /// The routes matching `topic`: at most one per destination cluster, sorted by cluster.
    fn match_routes(&self, topic: &str) -> Vec<ExtRoute>;

    /// Drops actors whose TTL passed, with their routes (their own cluster's only). Returns them.
    fn gc(&self, now_ms: u64) -> Vec<(Arc<str>, Arc<str>)>;

    /// Number of route keys `cluster` holds here (the link's `routes` metric).
    fn route_count(&self, cluster: &str) -> usize;

    /// The route keys (filter, route id) `cluster` holds here, sorted.
    fn routes(&self, cluster: &str) -> Vec<(String, String)>;

    /// The actors recorded for `cluster`, sorted by name.
    fn actors(&self, cluster: &str) -> Vec<ActorInfo>;
}

/// Route ids of one filter: (cluster, route id) → lane bitset.
type FilterRoutes = HashMap<(Arc<str>, Arc<str>), u64>;

/// (cluster, actor).
type ActorKey = (Arc<str>, Arc<str>);

#[derive(Default)]
struct Table {
    actors: HashMap<ActorKey, ActorInfo>,
    routes: TopicTrie<FilterRoutes>,
    counts: HashMap<Arc<str>, usize>,
}

impl Table {
    fn current(&self, h: &ActorHandle) -> Result<&ActorInfo, ExtRouterError> {
        match self.actors.get(&(h.cluster.clone(), h.actor.clone())) {
            None => Err(ExtRouterError::UnknownActor {
                actor: h.actor.to_string(),
            }),
            Some(rec) if rec.incarnation != h.incarnation => {
                Err(ExtRouterError::StaleIncarnation {
                    actor: h.actor.to_string(),
                    incarnation: h.incarnation,
                })
            }
            Some(rec) => Ok(rec),
        }
    }

    fn free_lane(&self, cluster: &str) -> Option<u32> {
        let used = self
            .actors
            .iter()
            .filter(|((c, _), _)| &**c == cluster)
            .fold(0u64, |acc, (_, a)| acc | (1 << a.lane));
        (0..MAX_LANES).find(|l| used & (1 << l) == 0)
    }

    /// Clears `lane` on every route of `cluster`; returns how many route keys disappeared.
    fn clear_lane(&mut self, cluster: &Arc<str>, lane: u32) {
        let bit = 1u64 << lane;
        let filters: Vec<String> = self
            .routes
            .iter()
            .filter(|(_, r)| r.keys().any(|(c, _)| c == cluster))
            .map(|(f, _)| f.to_string())
            .collect();
        let mut removed = 0;
        for f in filters {
            let Some(entry) = self.routes.get_mut(&f) else {
                continue;
            };
            entry.retain(|(c, _), lanes| {
                if c == cluster {
                    *lanes &= !bit;
                    if *lanes == 0 {
                        removed += 1;
                        return false;
                    }
                }
                true
            });
            if entry.is_empty() {
                self.routes.remove(&f);
            }
        }
        self.uncount(cluster, removed);
    }

    fn uncount(&mut self, cluster: &Arc<str>, n: usize) {
        if n == 0 {
            return;
        }
        if let Some(c) = self.counts.get_mut(cluster) {
            *c = c.saturating_sub(n);
            if *c == 0 {
                self.counts.remove(cluster);
            }
        }
    }
}

/// The external route table of a single node: one lock, read on every publish.
pub struct MemExtRouter {
    table: RwLock<Table>,
    ttl: Duration,
}

impl std::fmt::Debug for MemExtRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemExtRouter")
            .field("ttl", &self.ttl)
            .finish()
    }
}

impl MemExtRouter {
    /// An empty table whose actors live `ttl` past their last init or heartbeat.
    pub fn new(ttl: Duration) -> MemExtRouter {
        MemExtRouter {
            table: RwLock::new(Table::default()),
            ttl,
        }
    }

    fn read(&self) -> RwLockReadGuard<'_, Table> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    fn until(&self, now_ms: u64) -> u64 {
        now_ms.saturating_add(self.ttl.as_millis() as u64)
    }
}

impl ExtRouter for MemExtRouter {
    fn actor_init(
        &self,
        cluster: &str,
        actor: &str,
        incarnation: u64,
        now_ms: u64,
    ) -> Result<ActorInitOutcome, ExtRouterError> {
        let until_ms = self.until(now_ms);
        let mut t = self.write();
        let key: ActorKey = (cluster.into(), actor.into());
        let need_bootstrap = match t.actors.get_mut(&key) {
            Some(rec) if rec.incarnation == incarnation => {
                rec.until_ms = until_ms;
                false
            }
            Some(rec) if rec.incarnation > incarnation => {
                return Err(ExtRouterError::OutdatedIncarnation {
                    actor: actor.to_string(),
                    incarnation,
                    current: rec.incarnation,
                });
            }
            Some(rec) => {
                let lane = rec.lane;
                t.actors.remove(&key);
                t.clear_lane(&key.0, lane);
                true
            }
            None => true,
        };
        if need_bootstrap {
            let lane = t.free_lane(cluster).ok_or(ExtRouterError::NoFreeLane {
                cluster: cluster.to_string(),
            })?;
            t.actors.insert(
                key.clone(),
                ActorInfo {
                    actor: key.1.clone(),
                    incarnation,
                    lane,
                    until_ms,
                },
            );
        }
        let lane = t.actors[&key].lane;
        Ok(ActorInitOutcome {
            handle: ActorHandle {
                cluster: key.0,
                actor: key.1,
                incarnation,
                lane,
            },
            need_bootstrap,
        })
    }

    fn apply(&self, h: &ActorHandle, op: &RouteOp) -> Result<(), ExtRouterError> {
        let mut t = self.write();
        let lane = t.current(h)?.lane;
        let bit = 1u64 << lane;
        let key = (h.cluster.clone(), Arc::<str>::from(op.route_id()));
        match op {
            RouteOp::Add { filter, .. } => {
                let entry = t.routes.get_or_insert_with(filter, FilterRoutes::new);
                let lanes = entry.entry(key).or_insert(0);
                let new_key = *lanes == 0;
                *lanes |= bit;
                if new_key {
                    *t.counts.entry(h.cluster.clone()).or_insert(0) += 1;
                }
            }
            RouteOp::Delete { filter, .. } => {
                let Some(entry) = t.routes.get_mut(filter) else {
                    return Ok(());
                };
                let mut gone = false;
                if let Some(lanes) = entry.get_mut(&key) {
                    *lanes &= !bit;
                    if *lanes == 0 {
                        entry.remove(&key);
                        gone = true;
                    }
                }
                if entry.is_empty() {
                    t.routes.remove(filter);
                }
                if gone {
                    t.uncount(&h.cluster, 1);
                }
            }
        }
        Ok(())
    }

    fn heartbeat(&self, h: &ActorHandle, now_ms: u64) -> Result<(), ExtRouterError> {
        let until_ms = self.until(now_ms);
        let mut t = self.write();
        t.current(h)?;
        if let Some(rec) = t.actors.get_mut(&(h.cluster.clone(), h.actor.clone())) {
            rec.until_ms = until_ms;
        }
        Ok(())
    }

    fn match_routes(&self, topic: &str) -> Vec<ExtRoute> {
        let t = self.read();
        let mut out: Vec<ExtRoute> = Vec::new();
        t.routes.for_each_match(topic, |filter, entry| {
            for ((cluster, _), lanes) in entry {
                if *lanes != 0 && !out.iter().any(|r| r.cluster == *cluster) {
                    out.push(ExtRoute {
                        cluster: cluster.clone(),
                        filter: filter.into(),
                    });
                }
            }
        });
        out.sort();
        out
    }

    fn gc(&self, now_ms: u64) -> Vec<(Arc<str>, Arc<str>)> {
        let mut t = self.write();
        let dead: Vec<(ActorKey, u32)> = t
            .actors
            .iter()
            .filter(|(_, a)| a.until_ms < now_ms)
            .map(|(k, a)| (k.clone(), a.lane))
            .collect();
        for (key, lane) in &dead {
            t.actors.remove(key);
            t.clear_lane(&key.0, *lane);
        }
        dead.into_iter().map(|(k, _)| k).collect()
    }

    fn route_count(&self, cluster: &str) -> usize {
        self.read().counts.get(cluster).copied().unwrap_or(0)
    }

    fn routes(&self, cluster: &str) -> Vec<(String, String)> {
        let t = self.read();
        let mut out: Vec<(String, String)> = t
            .routes
            .iter()
            .flat_map(|(f, r)| {
                r.keys()
                    .filter(|(c, _)| &**c == cluster)
                    .map(move |(_, id)| (f.to_string(), id.to_string()))
            })
            .collect();
        out.sort();
        out
    }

    fn actors(&self, cluster: &str) -> Vec<ActorInfo> {
        let t = self.read();
        let mut out: Vec<ActorInfo> = t
            .actors
            .iter()
            .filter(|((c, _), _)| &**c == cluster)
            .map(|(_, a)| a.clone())
            .collect();
        out.sort_by(|a, b| a.actor.cmp(&b.actor));
        out
    }
}

#[cfg(test)]
#[path = "extrouter_tests.rs"]
mod tests;
