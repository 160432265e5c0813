//! Cluster Linking: independent clusters exchange exactly the messages their subscribers need over
//! plain MQTT with EMQX's `$LINK` protocol (design doc `cluster-link-protocol.md`).
//!
//! Per enabled link, this node runs a route-replication actor ([`actor`]: replicates the
//! intersections of local subscriptions with the link's `topics` into the remote cluster) and a
//! forwarding pool ([`pool`]: sends local publishes that match the remote's replicated routes). The
//! receiving side ([`receiver`]) consumes the remote's `$LINK/cluster/route|msg/<C>` publishes, keeps
//! the remote's routes in the external route table ([`extrouter`], behind the [`ExtRouter`] trait so
//! that a multi-node cluster can share it) and delivers forwarded messages locally, tagged with their
//! origin so they are never forwarded again. [`LinkManager`] ties it together, applies configuration
//! changes hot, persists runtime changes ([`persist`]) and reports status and metrics.
//!
//! This crate plugs into `core` only through its hooks (interceptor, forwarder, route listener); it
//! knows nothing about listeners, the REST API or other nodes.

pub mod actor;
mod convert;
pub mod extrouter;
mod forwarder;
mod manager;
pub mod persist;
pub mod pool;
pub mod receiver;
mod runtime;
mod stash;
pub mod status;
mod table;
mod timers;

pub use convert::{from_forwarded, to_forwarded};
pub use extrouter::{ActorHandle, ActorInitOutcome, ExtRoute, ExtRouter, ExtRouterError, MemExtRouter};
pub use manager::{LinkManager, LinkManagerOptions, LinkOpError};
pub use runtime::h8;
pub use status::{ActorState, LinkMetrics, NodeLinkStatus};
pub use timers::{LinkTimers, TIMERS_ENV};
