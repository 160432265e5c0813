//! Raft (openraft) for what the nodes must agree on: [`types`] (commands, node records),
//! [`log_store`] (the log and vote on disk), [`state_machine`] (retained messages, membership, on
//! disk), [`network`] (RPCs over the cluster transport), [`thread`] (where it runs). [`start`]
//! opens them for this node.

pub mod log_store;
pub mod network;
pub mod state_machine;
pub(crate) mod thread;
pub mod types;

use std::sync::Arc;

use linkmq_core::Broker;

use crate::{Cluster, ClusterError};
use types::Raft;

/// openraft's configuration from the cluster timers.
fn config(cluster: &Cluster) -> Result<Arc<openraft::Config>, ClusterError> {
    let t = &cluster.opts.timers;
    let election = t.election.as_millis().max(3 * t.heartbeat.as_millis()) as u64;
    let c = openraft::Config {
        cluster_name: "linkmq".into(),
        heartbeat_interval: t.heartbeat.as_millis() as u64,
        election_timeout_min: election,
        election_timeout_max: election * 2,
        install_snapshot_timeout: 10_000,
        ..Default::default()
    };
    c.validate()
        .map(Arc::new)
        .map_err(|e| ClusterError::Raft(e.to_string()))
}

/// Opens this node's Raft on the stored log and state (a fresh node starts uninitialized), on the
/// node's Raft thread.
pub(crate) async fn start(
    cluster: &Arc<Cluster>,
    broker: &Arc<Broker>,
) -> Result<Raft, ClusterError> {
    let storage = |e: redb::Error| ClusterError::Storage {
        path: cluster.opts.data_dir.join("cluster").display().to_string(),
        message: e.to_string(),
    };
    let db = cluster.db()?;
    let log = log_store::LogStore::new(db.clone()).map_err(storage)?;
    let sm = state_machine::StateMachine::open(
        db,
        broker,
        cluster.app.clone(),
        cluster.own_retained.clone(),
        cluster.id,
    )
    .map_err(storage)?;
    let net = network::Network {
        cluster: cluster.clone(),
    };
    let (id, config) = (cluster.id, config(cluster)?);
    // On the Raft thread, so that what openraft spawns runs there.
    cluster
        .raft_thread
        .run(async move { Raft::new(id, config, net, log, sm).await })
        .await
        .ok_or_else(|| ClusterError::Op("shutting down".into()))?
        .map_err(|e| ClusterError::Raft(e.to_string()))
}

/// Deletes the stored log and state (the node joins another cluster or leaves its own).
pub(crate) fn wipe(db: &redb::Database) -> Result<(), redb::Error> {
    let txn = db.begin_write()?;
    txn.delete_table(redb::TableDefinition::<u64, &[u8]>::new("raft_log"))?;
    for name in ["raft_meta", "sm_retained", "sm_meta"] {
        txn.delete_table(redb::TableDefinition::<&str, &[u8]>::new(name))?;
    }
    txn.commit()?;
    Ok(())
}
