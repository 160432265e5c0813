//! Access control for linkmq, EMQX style: who may connect and what a client may publish or
//! subscribe to.
//!
//! - [`authn`]: the authentication chain ([`authn::Authn`]) over the built-in user database
//!   ([`authn::store::UserStore`]: users CRUD, kept on disk), EMQX password hashing, bootstrap
//!   files, and SCRAM-SHA-256 over MQTT v5 AUTH.
//! - [`authz`]: EMQX `acl.conf` rules ([`authz::AclEngine`]): parser with line/column errors,
//!   first-match evaluation with placeholders, per-client cache, runtime reload.
//!
//! Both implement the hooks of `linkmq_core::access`; this crate knows nothing of sockets or of the
//! configuration file format (the `linkmq` crate maps the config onto these types).

pub mod authn;
pub mod authz;

pub use authn::Authn;
pub use authn::store::{UserError, UserInfo, UserPage, UserStore};
pub use authz::{AclEngine, AclError, AuthzSettings, CacheSettings, ReloadError};
