//! Broker core: topic filters, the subscription trie, sessions, the retained store, shared-subscription
//! dispatch and the publish pipeline.
//!
//! `core` knows nothing about sockets, configuration files, the cluster or Cluster Linking. Those plug in
//! through the traits in [`hooks`]: a [`hooks::RouteListener`] hears when this node starts or stops
//! needing a filter, a [`hooks::PublishInterceptor`] may consume a publish before routing (the `$LINK`
//! receiver), and a [`hooks::Forwarder`] gets every message that other nodes or clusters may need.
//! Entry points: [`Broker`] (shared state), [`session::SessionState`] (owned by one connection task).

pub mod access;
pub mod ack_hold;
pub mod banned;
pub mod broker;
pub mod hooks;
pub mod message;
pub mod metrics;
pub mod registry;
pub mod retain;
pub mod router;
pub mod session;
pub mod settings;
pub mod shared_sub;
pub mod sys;
pub mod topic;

pub use broker::Broker;
pub use message::{ClientId, Message};
pub use settings::MqttSettings;
