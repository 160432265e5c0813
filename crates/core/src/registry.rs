//! Client-id registry: which connection task owns which client id on this node, and the control
//! channel used to take a session over or kick a client.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use linkmq_codec::{Protocol, ReasonCode};
use tokio::sync::{mpsc, oneshot};

use crate::message::ClientId;
use crate::session::SessionState;

/// A request to the task that owns a client id.
#[derive(Debug)]
pub enum Control {
    /// A new connection with the same client id arrived [MQTT-3.1.4-3]: close the current connection
    /// (v5: DISCONNECT 0x8E) and hand the session over when `resume`, or discard it otherwise.
    Takeover {
        resume: bool,
        reply: oneshot::Sender<Option<Box<SessionState>>>,
    },
    /// Close the connection with `reason` and end the session (administrative kick, shutdown).
    Kick { reason: ReasonCode },
}

/// What the registry knows of a connected (or detached) client.
#[derive(Debug, Clone)]
pub struct ClientInfo {
    pub client_id: ClientId,
    pub username: Option<String>,
    pub peer: Option<SocketAddr>,
    pub protocol: Protocol,
    pub keep_alive: u16,
    pub clean_start: bool,
    pub connected_at_ms: u64,
    /// The listener the client came in on, e.g. `tcp:default`.
    pub listener: Arc<str>,
    /// The TLS client certificate's identity, when one was presented.
    pub peer_cert: Option<PeerCert>,
}

/// Identity taken from a verified TLS client certificate.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PeerCert {
    /// Subject Common Name (`${cert_common_name}`, `peer_cert_as_username = cn`).
    pub common_name: Option<String>,
    /// Subject distinguished name (`peer_cert_as_username = dn`).
    pub subject_dn: Option<String>,
}

/// One registered owner of a client id.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Unique per connection, so a stale owner never unregisters its successor.
    pub conn_id: u64,
    pub ctl: mpsc::Sender<Control>,
    pub info: Arc<ClientInfo>,
    pub connected: bool,
}

/// Client id → owning task. Touched on connect/disconnect only, never on the publish path.
#[derive(Default)]
pub struct Registry {
    map: Mutex<HashMap<ClientId, ClientEntry>>,
    /// Cluster-wide ownership, when this node is part of a cluster.
    directory: std::sync::RwLock<Option<Arc<dyn crate::hooks::SessionDirectory>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("len", &self.len())
            .finish()
    }
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, HashMap<ClientId, ClientEntry>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `entry` the owner of its client id; returns the previous owner, which the caller must take over.
    pub fn register(&self, entry: ClientEntry) -> Option<ClientEntry> {
        self.lock().insert(entry.info.client_id.clone(), entry)
    }

    /// Removes the owner if it is still `conn_id`. Returns whether it was removed.
    pub fn unregister(&self, client_id: &str, conn_id: u64) -> bool {
        let removed = {
            let mut map = self.lock();
            if map.get(client_id).is_some_and(|e| e.conn_id == conn_id) {
                map.remove(client_id);
                true
            } else {
                false
            }
        };
        if removed && let Some(d) = self.directory() {
            d.released(client_id, conn_id);
        }
        removed
    }

    /// Installs the cluster-wide directory consulted on CONNECT and told of released client ids.
    pub fn set_directory(&self, d: Arc<dyn crate::hooks::SessionDirectory>) {
        *self.directory.write().unwrap_or_else(|e| e.into_inner()) = Some(d);
    }

    /// The cluster-wide directory, if installed.
    pub fn directory(&self) -> Option<Arc<dyn crate::hooks::SessionDirectory>> {
        self.directory
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Marks the owner `conn_id` connected or detached (its session outlives the socket).
    pub fn set_connected(&self, client_id: &str, conn_id: u64, connected: bool) {
        if let Some(e) = self
            .lock()
            .get_mut(client_id)
            .filter(|e| e.conn_id == conn_id)
        {
            e.connected = connected;
        }
    }

    /// The current owner of `client_id`.
    pub fn get(&self, client_id: &str) -> Option<ClientEntry> {
        self.lock().get(client_id).cloned()
    }

    /// Sessions held (connected or not).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no session is held.
    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Connected clients.
    pub fn connected_count(&self) -> usize {
        self.lock().values().filter(|e| e.connected).count()
    }

    /// A snapshot of every entry (for the API and shutdown).
    pub fn entries(&self) -> Vec<ClientEntry> {
        self.lock().values().cloned().collect()
    }
}
