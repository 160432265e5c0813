//! Access control hooks: who may connect ([`Authenticator`]) and what a client may publish or
//! subscribe to ([`Authorizer`]). Core defines the shape; `crates/acl` implements it (built-in user
//! database, SCRAM, `acl.conf` rules). With nothing installed every client is allowed, as in EMQX.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use linkmq_codec::{Protocol, QoS, ReasonCode};

use crate::registry::{ClientInfo, PeerCert};

/// A boxed future, so the hooks stay object-safe (hashing runs off the async workers).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which certificate field replaces the CONNECT username / client id (EMQX `peer_cert_as_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PeerCertAs {
    /// Keep what the client sent.
    #[default]
    Disabled,
    /// The subject Common Name.
    Cn,
    /// The subject distinguished name.
    Dn,
}

impl PeerCertAs {
    /// The identity this setting takes from `cert`, if the certificate has it.
    pub fn pick(self, cert: Option<&PeerCert>) -> Option<String> {
        let cert = cert?;
        match self {
            PeerCertAs::Disabled => None,
            PeerCertAs::Cn => cert.common_name.clone(),
            PeerCertAs::Dn => cert.subject_dn.clone(),
        }
    }
}

/// What a client presented in CONNECT (after `peer_cert_as_*` was applied).
#[derive(Debug, Clone)]
pub struct AuthnRequest {
    pub client_id: String,
    pub username: Option<String>,
    pub password: Option<Bytes>,
    pub peer: SocketAddr,
    pub peer_cert: Option<PeerCert>,
    /// The listener, e.g. `tcp:default`.
    pub listener: Arc<str>,
    pub protocol: Protocol,
}

/// The verdict on a CONNECT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthnResult {
    /// Let the client in; a superuser skips authorization.
    Allow { is_superuser: bool },
    /// Refuse with this CONNACK reason (0x86 bad credentials, 0x87 not authorized, ...; the codec maps
    /// it to the v3 return code).
    Deny(ReasonCode),
}

/// One step of an enhanced authentication exchange (v5 AUTH).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthStep {
    /// Send AUTH 0x18 with this Authentication Data and wait for the client's next AUTH.
    Continue(Bytes),
    /// Authenticated; CONNACK carries `data` (e.g. the SCRAM server-final message).
    Success {
        is_superuser: bool,
        data: Option<Bytes>,
    },
    /// Refuse with this CONNACK reason.
    Failure(ReasonCode),
}

/// The server side of one enhanced authentication exchange (e.g. SCRAM-SHA-256).
pub trait EnhancedAuth: Send {
    /// Feeds the client's Authentication Data (from CONNECT, then from each AUTH).
    fn step(&mut self, data: &[u8]) -> AuthStep;
}

/// Decides whether a client may connect.
pub trait Authenticator: Send + Sync {
    /// Password-based authentication (CONNECT without an Authentication Method).
    fn authenticate<'a>(&'a self, req: &'a AuthnRequest) -> BoxFuture<'a, AuthnResult>;

    /// Starts an enhanced authentication exchange for `method`; `None` if the method is not
    /// supported (CONNACK 0x8C).
    fn start_enhanced(&self, method: &str, req: &AuthnRequest) -> Option<Box<dyn EnhancedAuth>>;
}

/// What a client wants to do with a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Publish { qos: QoS, retain: bool },
    Subscribe { qos: QoS },
}

/// An authorization verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Allow,
    Deny,
}

/// What happens to a client whose publish is denied (EMQX `authorization.deny_action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DenyAction {
    /// Answer with 0x87 (QoS 1/2) or drop it (QoS 0), and keep the connection.
    #[default]
    Ignore,
    /// Close the connection (v5: DISCONNECT 0x87).
    Disconnect,
}

/// Per-connection authorization state (e.g. its decision cache). Owned by the connection task.
pub trait ClientAuthz: Send {
    /// May the client do `action` on `topic` (a topic name, or the inner filter of a subscription)?
    fn authorize(&mut self, action: Action, topic: &str) -> Permission;
    /// What to do with a denied publish.
    fn deny_action(&self) -> DenyAction;
}

/// Decides what clients may publish and subscribe to.
pub trait Authorizer: Send + Sync {
    /// The authorization state for one connected client.
    fn client(&self, client: Arc<ClientInfo>, is_superuser: bool) -> Box<dyn ClientAuthz>;
}

/// Lets every client in and allows everything: the default when nothing is configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct AllowAll;

impl Authenticator for AllowAll {
    fn authenticate<'a>(&'a self, _req: &'a AuthnRequest) -> BoxFuture<'a, AuthnResult> {
        Box::pin(async {
            AuthnResult::Allow {
                is_superuser: false,
            }
        })
    }

    fn start_enhanced(&self, _method: &str, _req: &AuthnRequest) -> Option<Box<dyn EnhancedAuth>> {
        None
    }
}

impl Authorizer for AllowAll {
    fn client(&self, _client: Arc<ClientInfo>, _is_superuser: bool) -> Box<dyn ClientAuthz> {
        Box::new(AllowAll)
    }
}

impl ClientAuthz for AllowAll {
    fn authorize(&mut self, _action: Action, _topic: &str) -> Permission {
        Permission::Allow
    }

    fn deny_action(&self) -> DenyAction {
        DenyAction::Ignore
    }
}

/// The installed authenticator and authorizer of a broker; read once per connection.
pub struct AccessHooks {
    authn: RwLock<Arc<dyn Authenticator>>,
    authz: RwLock<Arc<dyn Authorizer>>,
}

impl Default for AccessHooks {
    fn default() -> Self {
        AccessHooks {
            authn: RwLock::new(Arc::new(AllowAll)),
            authz: RwLock::new(Arc::new(AllowAll)),
        }
    }
}

impl std::fmt::Debug for AccessHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessHooks").finish_non_exhaustive()
    }
}

impl AccessHooks {
    /// Installs the authenticator used for new connections.
    pub fn set_authenticator(&self, a: Arc<dyn Authenticator>) {
        *self.authn.write().unwrap_or_else(|e| e.into_inner()) = a;
    }

    /// Installs the authorizer used for new connections.
    pub fn set_authorizer(&self, a: Arc<dyn Authorizer>) {
        *self.authz.write().unwrap_or_else(|e| e.into_inner()) = a;
    }

    /// The current authenticator.
    pub fn authenticator(&self) -> Arc<dyn Authenticator> {
        self.authn.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The current authorizer.
    pub fn authorizer(&self) -> Arc<dyn Authorizer> {
        self.authz.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}
