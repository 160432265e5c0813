//! Authorization: EMQX's `authorization { no_match, deny_action, cache, sources }` with the `file`
//! source (`acl.conf` rules), first match wins.
//!
//! [`AclEngine`] holds the rules and settings; each connection gets an [`AclClient`] with its own
//! decision cache (`cache { enable, max_size, ttl }`). Rules can be replaced at runtime
//! ([`AclEngine::reload_from_str`]): a text with an error is refused and the old rules stay; a
//! successful reload invalidates every client's cache.

pub mod rule;
pub mod term;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;
use linkmq_core::access::{Action, Authorizer, ClientAuthz, DenyAction, Permission};
use linkmq_core::registry::ClientInfo;
use linkmq_core::topic;

use rule::{Request, Rule};
pub use term::AclError;

/// `authorization.cache`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    pub enable: bool,
    pub max_size: usize,
    pub ttl: Duration,
    /// Topics (filters) whose decisions are never cached.
    pub excludes: Vec<String>,
}

impl Default for CacheSettings {
    /// EMQX's defaults: enabled, 32 entries, 1 minute.
    fn default() -> Self {
        CacheSettings {
            enable: true,
            max_size: 32,
            ttl: Duration::from_secs(60),
            excludes: Vec::new(),
        }
    }
}

/// `authorization { no_match, deny_action, cache }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthzSettings {
    /// The verdict when no rule matches.
    pub no_match: Permission,
    pub deny_action: DenyAction,
    pub cache: CacheSettings,
}

impl Default for AuthzSettings {
    /// EMQX's defaults: `no_match = allow`, `deny_action = ignore`.
    fn default() -> Self {
        AuthzSettings {
            no_match: Permission::Allow,
            deny_action: DenyAction::Ignore,
            cache: CacheSettings::default(),
        }
    }
}

/// Parses and compiles an `acl.conf` text.
pub fn parse_rules(text: &str) -> Result<Vec<Rule>, AclError> {
    rule::compile(&term::parse_terms(text)?)
}

#[derive(Debug)]
struct Snapshot {
    rules: Vec<Rule>,
    text: String,
    settings: AuthzSettings,
}

#[derive(Debug)]
struct Inner {
    current: RwLock<Arc<Snapshot>>,
    /// Bumped on every change of rules or settings; clients drop their cache when it moves.
    generation: AtomicU64,
    /// Where runtime rule changes are saved (EMQX: `data/authz/acl.conf`).
    persist: Option<PathBuf>,
}

/// Why a runtime rule change was refused (the old rules stay).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{0}")]
    Syntax(#[from] AclError),
    #[error("cannot save {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The authorization engine (implements core's [`Authorizer`]); cheap to clone.
#[derive(Debug, Clone)]
pub struct AclEngine {
    inner: Arc<Inner>,
}

impl AclEngine {
    /// An engine with `rules_text` (an `acl.conf`); an error names line and column.
    pub fn new(settings: AuthzSettings, rules_text: &str) -> Result<AclEngine, AclError> {
        let rules = parse_rules(rules_text)?;
        Ok(AclEngine {
            inner: Arc::new(Inner {
                current: RwLock::new(Arc::new(Snapshot {
                    rules,
                    text: rules_text.to_string(),
                    settings,
                })),
                generation: AtomicU64::new(1),
                persist: None,
            }),
        })
    }

    /// Saves rules changed at runtime to `path` (written atomically).
    pub fn with_persist_path(self, path: impl Into<PathBuf>) -> AclEngine {
        let snapshot = self.snapshot();
        AclEngine {
            inner: Arc::new(Inner {
                current: RwLock::new(snapshot),
                generation: AtomicU64::new(self.inner.generation.load(Ordering::Acquire)),
                persist: Some(path.into()),
            }),
        }
    }

    fn snapshot(&self) -> Arc<Snapshot> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn replace(&self, f: impl FnOnce(&Snapshot) -> Snapshot) {
        let mut cur = self
            .inner
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *cur = Arc::new(f(&cur));
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The rules as text (EMQX `GET /authorization/sources/file` → `rules`).
    pub fn rules_text(&self) -> String {
        self.snapshot().text.clone()
    }

    /// Number of rules in force.
    pub fn rule_count(&self) -> usize {
        self.snapshot().rules.len()
    }

    /// Replaces the rules (EMQX `PUT /authorization/sources/file`). A text with an error is refused
    /// with its line and column and the old rules stay; on success every client cache is dropped
    /// and, with a persist path, the text is saved.
    pub fn reload_from_str(&self, text: &str) -> Result<(), ReloadError> {
        let rules = parse_rules(text)?;
        if let Some(path) = &self.inner.persist {
            write_atomically(path, text).map_err(|source| ReloadError::Io {
                path: path.clone(),
                source,
            })?;
        }
        self.replace(|old| Snapshot {
            rules,
            text: text.to_string(),
            settings: old.settings.clone(),
        });
        tracing::info!("authorization rules reloaded");
        Ok(())
    }

    /// The settings in force.
    pub fn settings(&self) -> AuthzSettings {
        self.snapshot().settings.clone()
    }

    /// Changes `no_match`, `deny_action` and the cache settings (EMQX `PUT /authorization/settings`).
    pub fn set_settings(&self, settings: AuthzSettings) {
        self.replace(|old| Snapshot {
            rules: old.rules.clone(),
            text: old.text.clone(),
            settings,
        });
    }

    /// Drops every client's cached decisions (EMQX `DELETE /authorization/cache`).
    pub fn clean_cache(&self) {
        self.inner.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The verdict for one request, uncached (superusers are not special here).
    pub fn check(&self, client: &ClientInfo, action: Action, topic: &str) -> Permission {
        let s = self.snapshot();
        decide(&s, client, action, topic)
    }
}

impl AclEngine {
    /// The first rule matching the request: its permission and line (`None`: no rule matched,
    /// `no_match` decides). For tests and diagnostics.
    pub fn explain(
        &self,
        client: &ClientInfo,
        action: Action,
        topic: &str,
    ) -> Option<(Permission, usize)> {
        let s = self.snapshot();
        let r = Request {
            client,
            action,
            topic,
        };
        s.rules
            .iter()
            .find(|rule| rule.matches(&r))
            .map(|rule| (rule.permission, rule.line))
    }
}

fn decide(s: &Snapshot, client: &ClientInfo, action: Action, topic: &str) -> Permission {
    rule::evaluate(
        &s.rules,
        &Request {
            client,
            action,
            topic,
        },
    )
    .unwrap_or(s.settings.no_match)
}

fn write_atomically(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("conf.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

impl AclEngine {
    /// The authorization state of one connection (what [`Authorizer::client`] boxes).
    pub fn client_for(&self, client: Arc<ClientInfo>, is_superuser: bool) -> AclClient {
        AclClient {
            engine: self.inner.clone(),
            generation: 0,
            snapshot: None,
            client,
            is_superuser,
            cache: DecisionCache::default(),
        }
    }
}

impl Authorizer for AclEngine {
    fn client(&self, client: Arc<ClientInfo>, is_superuser: bool) -> Box<dyn ClientAuthz> {
        Box::new(self.client_for(client, is_superuser))
    }
}

/// One connection's view of the engine, with its decision cache.
pub struct AclClient {
    engine: Arc<Inner>,
    generation: u64,
    snapshot: Option<Arc<Snapshot>>,
    client: Arc<ClientInfo>,
    is_superuser: bool,
    cache: DecisionCache,
}

/// Decisions by (action, topic). Looked up by a borrowed topic, so a hit allocates nothing; hashed
/// with foldhash (seeded per process): the map is per client and bounded by `max_size`.
type DecisionCache = hashbrown::HashMap<(Action, String), (Permission, Instant), RandomState>;

/// `(Action, &str)` standing for the `(Action, String)` key: same hash, same equality.
#[derive(Hash)]
struct KeyRef<'a>(Action, &'a str);

impl hashbrown::Equivalent<(Action, String)> for KeyRef<'_> {
    fn equivalent(&self, key: &(Action, String)) -> bool {
        self.0 == key.0 && self.1 == key.1
    }
}

impl AclClient {
    /// Refreshes the snapshot in force (and drops the cache) when the engine changed. Callers then
    /// borrow it from `self.snapshot`: cloning the `Arc` would write its count, one cache line every
    /// connection of every worker shares, on every check.
    fn refresh(&mut self) {
        let g = self.engine.generation.load(Ordering::Acquire);
        if g != self.generation || self.snapshot.is_none() {
            self.cache.clear();
            self.generation = g;
            self.snapshot = Some(
                self.engine
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone(),
            );
        }
    }

    /// Cached entries (tests).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }
}

impl ClientAuthz for AclClient {
    fn authorize(&mut self, action: Action, topic: &str) -> Permission {
        if self.is_superuser {
            return Permission::Allow;
        }
        self.refresh();
        let Some(s) = self.snapshot.as_deref() else {
            return Permission::Deny;
        };
        let c = &s.settings.cache;
        let cacheable = c.enable
            && c.max_size > 0
            && !c
                .excludes
                .iter()
                .any(|f| topic::matches(f, topic) || f == topic);
        let now = Instant::now();
        if cacheable
            && let Some((p, at)) = self.cache.get(&KeyRef(action, topic))
            && now.duration_since(*at) < c.ttl
        {
            return *p;
        }
        let p = decide(s, &self.client, action, topic);
        if cacheable {
            if self.cache.len() >= c.max_size {
                self.cache
                    .retain(|_, (_, at)| now.duration_since(*at) < c.ttl);
            }
            if self.cache.len() >= c.max_size
                && let Some(oldest) = self
                    .cache
                    .iter()
                    .min_by_key(|(_, (_, at))| *at)
                    .map(|(k, _)| k.clone())
            {
                self.cache.remove(&oldest);
            }
            self.cache.insert((action, topic.to_string()), (p, now));
        }
        p
    }

    fn deny_action(&self) -> DenyAction {
        self.snapshot
            .as_ref()
            .map(|s| s.settings.deny_action)
            .unwrap_or_else(|| {
                self.engine
                    .current
                    .read()
                    .unwrap_or_else(|e| e.into_inner())
                    .settings
                    .deny_action
            })
    }
}

#[cfg(test)]
mod tests {
    use linkmq_codec::{Protocol, QoS};

    use super::*;

    #[test]
    fn a_cached_decision_is_found_by_the_borrowed_topic_and_its_own_action() {
        let e = AclEngine::new(AuthzSettings::default(), "{allow, all}.").unwrap();
        let info = ClientInfo {
            client_id: "c1".into(),
            username: None,
            peer: None,
            protocol: Protocol::V5,
            keep_alive: 60,
            clean_start: true,
            connected_at_ms: 0,
            listener: "tcp:default".into(),
            peer_cert: None,
        };
        let mut c = e.client_for(Arc::new(info), false);
        let publish = Action::Publish {
            qos: QoS::AtMostOnce,
            retain: false,
        };
        assert_eq!(c.authorize(publish, "a/b"), Permission::Allow);
        assert_eq!(c.cached(), 1);
        // Mark the entry: a lookup that finds it answers Deny, one that misses decides Allow again.
        for (p, _) in c.cache.values_mut() {
            *p = Permission::Deny;
        }
        assert_eq!(
            c.authorize(publish, "a/b"),
            Permission::Deny,
            "served from the cache"
        );
        assert_eq!(
            c.authorize(publish, "a/c"),
            Permission::Allow,
            "another topic"
        );
        let subscribe = Action::Subscribe {
            qos: QoS::AtMostOnce,
        };
        assert_eq!(
            c.authorize(subscribe, "a/b"),
            Permission::Allow,
            "another action"
        );
        assert_eq!(c.cached(), 3);
    }
}
