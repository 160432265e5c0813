//! The cluster-wide client-id registry. Each node owns its client ids and replicates them to its
//! peers (with their connect time), like its routes. On CONNECT, [`ClusterDirectory::claim`] takes
//! the client id over from whichever nodes hold it (moving the session when the client resumes),
//! then announces it. Two connects racing on two nodes resolve by connect time (then node name):
//! a node hearing of a newer owner closes its own connection, so exactly one stays.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use linkmq_core::hooks::{HookFuture, SessionDirectory};
use linkmq_core::registry::{ClientInfo, Control};
use linkmq_core::session::snapshot::SessionSnapshot;
use tokio::sync::oneshot;
use tracing::{debug, info};

use crate::Cluster;
use crate::raft::types::NodeId;
use crate::transport::{Request, Response};

/// How long a takeover on another node may take.
pub const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Default)]
struct Remote {
    /// Client id → node → connected at (ms).
    by_client: HashMap<String, BTreeMap<NodeId, u64>>,
    by_node: HashMap<NodeId, HashSet<String>>,
}

/// Client ids other nodes hold.
#[derive(Default)]
pub struct Directory {
    inner: Mutex<Remote>,
}

impl Directory {
    fn lock(&self) -> std::sync::MutexGuard<'_, Remote> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn up(r: &mut Remote, node: NodeId, client: &str, ts: u64) {
        r.by_client
            .entry(client.to_string())
            .or_default()
            .insert(node, ts);
        r.by_node
            .entry(node)
            .or_default()
            .insert(client.to_string());
    }

    fn down(r: &mut Remote, node: NodeId, client: &str) {
        if let Some(m) = r.by_client.get_mut(client) {
            m.remove(&node);
            if m.is_empty() {
                r.by_client.remove(client);
            }
        }
        if let Some(s) = r.by_node.get_mut(&node) {
            s.remove(client);
        }
    }

    /// Forgets every client id of `node`.
    pub(crate) fn drop_node(&self, node: NodeId) {
        let mut r = self.lock();
        for c in r.by_node.remove(&node).unwrap_or_default() {
            if let Some(m) = r.by_client.get_mut(&c) {
                m.remove(&node);
                if m.is_empty() {
                    r.by_client.remove(&c);
                }
            }
        }
    }

    /// The nodes holding `client`, newest connect first.
    pub fn holders(&self, client: &str) -> Vec<(NodeId, u64)> {
        let mut v: Vec<(NodeId, u64)> = self
            .lock()
            .by_client
            .get(client)
            .map(|m| m.iter().map(|(n, t)| (*n, *t)).collect())
            .unwrap_or_default();
        v.sort_by_key(|x| std::cmp::Reverse(x.1));
        v
    }

    /// Client ids known on other nodes.
    pub fn len(&self) -> usize {
        self.lock().by_client.len()
    }

    /// True when no other node holds a client id.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Cluster {
    /// Client-id changes pushed by `from`; closes local connections a newer owner replaces.
    pub(crate) fn client_updates(
        self: &Arc<Self>,
        from: NodeId,
        full: bool,
        up: Vec<(String, u64)>,
        down: Vec<String>,
    ) {
        {
            let mut r = self.directory.lock();
            if full {
                for c in r.by_node.remove(&from).unwrap_or_default() {
                    if let Some(m) = r.by_client.get_mut(&c) {
                        m.remove(&from);
                        if m.is_empty() {
                            r.by_client.remove(&c);
                        }
                    }
                }
            }
            for c in &down {
                Directory::down(&mut r, from, c);
            }
            for (c, ts) in &up {
                Directory::up(&mut r, from, c, *ts);
            }
        }
        let Some(broker) = self.broker() else { return };
        let from_name = self.member_name(from).unwrap_or_default();
        for (client, ts) in up {
            let Some(entry) = broker.registry.get(&client) else {
                continue;
            };
            let mine = (entry.info.connected_at_ms, self.me.name.as_str());
            if (ts, from_name.as_str()) > mine {
                info!(client_id = %client, node = %from_name, "client id connected on another node later: closing it here");
                let b = broker.clone();
                self.tracker.spawn(async move {
                    let (tx, rx) = oneshot::channel();
                    if entry
                        .ctl
                        .try_send(Control::Takeover {
                            resume: false,
                            reply: tx,
                        })
                        .is_ok()
                    {
                        let _ = tokio::time::timeout(TAKEOVER_TIMEOUT, rx).await;
                    }
                    b.registry.unregister(&client, entry.conn_id);
                });
            }
        }
    }
}

/// The session directory core consults on CONNECT.
pub struct ClusterDirectory(pub Arc<Cluster>);

impl SessionDirectory for ClusterDirectory {
    fn claim(
        &self,
        info: Arc<ClientInfo>,
        conn_id: u64,
        want_session: bool,
    ) -> HookFuture<Option<SessionSnapshot>> {
        let c = self.0.clone();
        Box::pin(async move {
            let client = info.client_id.to_string();
            let mut snapshot = None;
            for (node, _) in c.directory.holders(&client) {
                if node == c.id {
                    continue;
                }
                let Some(link) = c.peer(node) else { continue };
                let req = Request::Takeover {
                    client_id: client.clone(),
                    want_session: want_session && snapshot.is_none(),
                };
                match link.request(req, TAKEOVER_TIMEOUT).await {
                    Ok(Response::Session(Some(w))) => {
                        info!(client_id = %client, from = %link.node.name, "session moved here from another node");
                        snapshot = Some(w.into_snapshot());
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(client_id = %client, error = %e, "takeover on another node failed")
                    }
                }
            }
            c.local.lock().unwrap_or_else(|e| e.into_inner()).client_up(
                &client,
                conn_id,
                info.connected_at_ms,
            );
            for p in c.all_peers() {
                p.wake();
            }
            snapshot
        })
    }

    fn released(&self, client_id: &str, conn_id: u64) {
        let c = &self.0;
        let changed = c
            .local
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .client_down(client_id, conn_id);
        if changed {
            for p in c.all_peers() {
                p.wake();
            }
        }
    }
}
