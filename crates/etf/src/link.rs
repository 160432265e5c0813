//! Typed `$LINK` payloads (design doc `cluster-link-protocol.md` §3) on top of the term model.
//!
//! Control messages travel on `$LINK/cluster/route/<cluster>` and `.../resp/<cluster>/<actor>` as maps
//! keyed by `'$op'` and small integers; forwarded application messages travel on
//! `$LINK/cluster/msg/<cluster>` as EMQX's 10-tuple `#message{}` record. Encoding writes what EMQX
//! writes (`term_to_binary(T, [compressed])`, keys in Erlang's order); decoding tolerates extra map keys
//! and unknown header keys, and reports everything else as a [`LinkError`] (a protocol error: the
//! receiver disconnects the sender with 0x83).

mod control;
mod message;
mod message_fast;
mod message_ref;
#[cfg(test)]
mod test_support;

use bytes::Bytes;

pub use control::{ActorInit, ActorInitAck, ControlMessage, Heartbeat, RouteBatch, RouteOp};
pub use message::{ForwardedMessage, MessageProperties};
pub use message_ref::{ForwardedMessageRef, MessagePropertiesRef, UserPropertyPair};

use crate::{Atom, EtfError, Term};

/// Protocol version sent in key 14.
pub const PROTO_VER: u32 = 1;

/// Most route ops one `route` batch may carry.
pub const MAX_ROUTE_OPS: usize = 4000;

/// `actor_init_ack` rejection reasons (key 15 = `{error, Reason}`).
pub mod reason {
    /// The receiver has no link named after the sender.
    pub const UNKNOWN_CLUSTER: &str = "unknown_cluster";
    /// The receiver's link to the sender is disabled.
    pub const CLUSTER_LINK_DISABLED: &str = "cluster_link_disabled";
    /// Field 13 (target cluster) is not the receiver's `cluster.name`.
    pub const BAD_REMOTE_CLUSTER_LINK_NAME: &str = "bad_remote_cluster_link_name";
}

/// Integer keys of control maps.
pub(crate) mod key {
    pub const ACTOR: u8 = 10;
    pub const INCARNATION: u8 = 11;
    pub const ROUTES: u8 = 12;
    pub const TARGET_CLUSTER: u8 = 13;
    pub const PROTO_VER: u8 = 14;
    pub const RESULT: u8 = 15;
    pub const NEED_BOOTSTRAP: u8 = 16;
}

/// Why a `$LINK` payload is not a valid protocol message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("$LINK payload is not a valid external term: {0}")]
    Etf(#[from] EtfError),
    #[error("$LINK control payload is not a map")]
    NotAMap,
    #[error("$LINK control map has no binary '$op'")]
    MissingOp,
    #[error("$LINK control map has unknown '$op' {0:?}")]
    UnknownOp(String),
    #[error("$LINK {op}: missing key {key} ({name})")]
    MissingKey {
        op: &'static str,
        key: u8,
        name: &'static str,
    },
    #[error("$LINK {op}: {field} must be {expected}")]
    BadField {
        op: &'static str,
        field: &'static str,
        expected: &'static str,
    },
}

/// Typed access to the fields of one control map, with errors naming the op and field.
pub(crate) struct Fields<'a> {
    pub op: &'static str,
    pub map: &'a [(Term, Term)],
}

impl<'a> Fields<'a> {
    pub fn get(&self, key: u8, name: &'static str) -> Result<&'a Term, LinkError> {
        let wanted = Term::Int(i64::from(key));
        self.map
            .iter()
            .find(|(k, _)| *k == wanted)
            .map(|(_, v)| v)
            .ok_or(LinkError::MissingKey {
                op: self.op,
                key,
                name,
            })
    }

    pub fn bad(&self, field: &'static str, expected: &'static str) -> LinkError {
        LinkError::BadField {
            op: self.op,
            field,
            expected,
        }
    }

    pub fn string(&self, key: u8, name: &'static str) -> Result<String, LinkError> {
        let v = self.get(key, name)?;
        utf8(v).ok_or_else(|| self.bad(name, "a UTF-8 binary"))
    }

    pub fn u64(&self, key: u8, name: &'static str) -> Result<u64, LinkError> {
        let v = self.get(key, name)?;
        v.as_i128()
            .and_then(|i| u64::try_from(i).ok())
            .ok_or_else(|| self.bad(name, "a non-negative integer"))
    }

    pub fn u32(&self, key: u8, name: &'static str) -> Result<u32, LinkError> {
        let v = self.get(key, name)?;
        v.as_i128()
            .and_then(|i| u32::try_from(i).ok())
            .ok_or_else(|| self.bad(name, "a non-negative 32-bit integer"))
    }
}

/// A binary term holding UTF-8, as a `String`.
pub(crate) fn utf8(t: &Term) -> Option<String> {
    t.as_binary()
        .and_then(|b| std::str::from_utf8(b).ok())
        .map(str::to_owned)
}

pub(crate) fn bin(s: &str) -> Term {
    Term::Binary(Bytes::copy_from_slice(s.as_bytes()))
}

pub(crate) fn int_key(k: u8) -> Term {
    Term::Int(i64::from(k))
}

pub(crate) fn op_key() -> Term {
    Term::Atom(Atom::Op)
}
