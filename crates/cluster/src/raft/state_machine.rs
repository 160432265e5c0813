//! The replicated state: what every node must agree on (retained messages, and the membership
//! openraft records), applied from the log and kept on disk next to it so a restarted node comes
//! back with it. Applying a retained command updates the node's retained store at once.

// The error type is openraft's, fixed by its storage traits.
#![allow(clippy::result_large_err)]

use std::io::Cursor;
use std::sync::{Arc, Weak};

use linkmq_core::Broker;
use linkmq_core::message::now_ms;
use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, RaftSnapshotBuilder, StorageIOError};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use super::types::{
    Command, CommandResult, Entry, LogId, NodeId, Snapshot, SnapshotMeta, StorageError,
    StoredMembership, TypeConfig,
};
use crate::retained_order::OwnRetainedWrites;
use crate::wire::WireMessage;

/// Topic → postcard-encoded retained message.
const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_retained");
/// "applied", "membership", "snapshot" → postcard-encoded values.
const SM_META: TableDefinition<&str, &[u8]> = TableDefinition::new("sm_meta");

fn sm_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write_state_machine(&e).into()
}

/// The whole state in a snapshot.
#[derive(Serialize, Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    retained: Vec<WireMessage>,
}

/// The state machine; cheap to clone (the snapshot builder is a clone).
#[derive(Clone)]
pub struct StateMachine {
    db: Arc<Database>,
    broker: Weak<Broker>,
    app: Arc<AppHandlers>,
    own_retained: Arc<OwnRetainedWrites>,
    me: NodeId,
}

/// Handler of replicated application commands: (origin node, data).
pub type AppHandler = Arc<dyn Fn(NodeId, &[u8]) + Send + Sync>;

/// The handlers of [`Command::App`] by kind, shared with [`crate::Cluster`].
#[derive(Default)]
pub struct AppHandlers {
    by_kind: std::sync::RwLock<std::collections::HashMap<String, AppHandler>>,
}

impl AppHandlers {
    pub fn set(&self, kind: &str, h: AppHandler) {
        self.by_kind
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(kind.to_string(), h);
    }

    fn get(&self, kind: &str) -> Option<AppHandler> {
        self.by_kind
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(kind)
            .cloned()
    }
}

impl StateMachine {
    /// Opens the state in `db` and loads its retained messages into `broker`'s store.
    pub fn open(
        db: Arc<Database>,
        broker: &Arc<Broker>,
        app: Arc<AppHandlers>,
        own_retained: Arc<OwnRetainedWrites>,
        me: NodeId,
    ) -> Result<StateMachine, redb::Error> {
        let txn = db.begin_write()?;
        txn.open_table(RETAINED)?;
        txn.open_table(SM_META)?;
        txn.commit()?;
        let sm = StateMachine {
            db,
            broker: Arc::downgrade(broker),
            app,
            own_retained,
            me,
        };
        for w in sm
            .all_retained()
            .map_err(|e| redb::Error::Corrupted(e.to_string()))?
        {
            set_retained(broker, w);
        }
        Ok(sm)
    }

    fn meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        let txn = self.db.begin_read().map_err(sm_err)?;
        let t = txn.open_table(SM_META).map_err(sm_err)?;
        match t.get(key).map_err(sm_err)? {
            Some(v) => Ok(Some(postcard::from_bytes(v.value()).map_err(sm_err)?)),
            None => Ok(None),
        }
    }

    fn all_retained(&self) -> Result<Vec<WireMessage>, StorageError> {
        let txn = self.db.begin_read().map_err(sm_err)?;
        let t = txn.open_table(RETAINED).map_err(sm_err)?;
        let mut out = Vec::new();
        for item in t.iter().map_err(sm_err)? {
            let (_, v) = item.map_err(sm_err)?;
            out.push(postcard::from_bytes(v.value()).map_err(sm_err)?);
        }
        Ok(out)
    }

    /// Number of retained messages in the replicated state (tests, status).
    pub fn retained_count(&self) -> usize {
        self.all_retained().map(|v| v.len()).unwrap_or(0)
    }
}

/// Puts a replicated retained message into the node's store (expired ones are dropped).
fn set_retained(broker: &Broker, mut w: WireMessage) {
    if let Some(total) = w.expiry_s {
        let deadline = w.timestamp_ms.saturating_add(total.saturating_mul(1000));
        let now = now_ms();
        if deadline <= now {
            broker.retained.set(&w.topic, None);
            return;
        }
        w.expiry_left_ms = Some(deadline - now);
    }
    let topic = w.topic.clone();
    let mut m = w.into_message();
    m.retain = true;
    broker.retained.set(&topic, Some(Arc::new(m)));
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let last_applied: Option<LogId> = self.meta("applied")?.flatten();
        let membership: StoredMembership = self.meta("membership")?.unwrap_or_default();
        let data = SnapshotData {
            last_applied,
            membership: membership.clone(),
            retained: self.all_retained()?,
        };
        let bytes = postcard::to_allocvec(&data).map_err(sm_err)?;
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id: format!(
                "{}-{}",
                last_applied.map(|l| l.index).unwrap_or(0),
                now_ms()
            ),
        };
        let stored = postcard::to_allocvec(&(&meta, &bytes)).map_err(sm_err)?;
        let txn = self.db.begin_write().map_err(sm_err)?;
        {
            let mut t = txn.open_table(SM_META).map_err(sm_err)?;
            t.insert("snapshot", stored.as_slice()).map_err(sm_err)?;
        }
        txn.commit().map_err(sm_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok((
            self.meta("applied")?.flatten(),
            self.meta("membership")?.unwrap_or_default(),
        ))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + Send,
        I::IntoIter: Send,
    {
        let broker = self.broker.upgrade();
        let mut results = Vec::new();
        let mut retained_changes = Vec::new();
        let mut app_commands = Vec::new();
        let txn = self.db.begin_write().map_err(sm_err)?;
        {
            let mut meta = txn.open_table(SM_META).map_err(sm_err)?;
            let mut ret = txn.open_table(RETAINED).map_err(sm_err)?;
            let mut last = None;
            for e in entries {
                last = Some(e.log_id);
                match e.payload {
                    EntryPayload::Blank => {}
                    // An empty payload clears (the form this node proposes a clear in).
                    EntryPayload::Normal(Command::SetRetained(w)) if w.payload.is_empty() => {
                        ret.remove(w.topic.as_str()).map_err(sm_err)?;
                        retained_changes.push((w.topic.clone(), w.id, None));
                    }
                    EntryPayload::Normal(Command::SetRetained(w)) => {
                        let bytes = postcard::to_allocvec(&w).map_err(sm_err)?;
                        ret.insert(w.topic.as_str(), bytes.as_slice())
                            .map_err(sm_err)?;
                        retained_changes.push((w.topic.clone(), w.id, Some(*w)));
                    }
                    EntryPayload::Normal(Command::App { origin, kind, data }) => {
                        if origin != self.me {
                            app_commands.push((origin, kind, data));
                        }
                    }
                    EntryPayload::Normal(Command::ClearRetained { topic }) => {
                        ret.remove(topic.as_str()).map_err(sm_err)?;
                        retained_changes.push((topic, 0, None));
                    }
                    EntryPayload::Membership(m) => {
                        let sm = StoredMembership::new(Some(e.log_id), m);
                        let bytes = postcard::to_allocvec(&sm).map_err(sm_err)?;
                        meta.insert("membership", bytes.as_slice())
                            .map_err(sm_err)?;
                    }
                }
                results.push(CommandResult {});
            }
            if let Some(last) = last {
                let bytes = postcard::to_allocvec(&Some(last)).map_err(sm_err)?;
                meta.insert("applied", bytes.as_slice()).map_err(sm_err)?;
            }
        }
        txn.commit().map_err(sm_err)?;
        for (origin, kind, data) in app_commands {
            if let Some(h) = self.app.get(&kind) {
                h(origin, &data);
            }
        }
        if let Some(b) = broker {
            for (topic, id, w) in retained_changes {
                // A newer write of this node to the topic is stored already and comes later.
                if !self.own_retained.applies(&topic, id) {
                    continue;
                }
                match w {
                    Some(w) => set_retained(&b, w),
                    None => {
                        b.retained.set(&topic, None);
                    }
                }
            }
        }
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData = postcard::from_bytes(&bytes).map_err(sm_err)?;
        let stored = postcard::to_allocvec(&(meta, &bytes)).map_err(sm_err)?;
        let txn = self.db.begin_write().map_err(sm_err)?;
        {
            let mut ret = txn.open_table(RETAINED).map_err(sm_err)?;
            ret.retain(|_, _| false).map_err(sm_err)?;
            for w in &data.retained {
                let b = postcard::to_allocvec(w).map_err(sm_err)?;
                ret.insert(w.topic.as_str(), b.as_slice()).map_err(sm_err)?;
            }
            let mut m = txn.open_table(SM_META).map_err(sm_err)?;
            let applied = postcard::to_allocvec(&meta.last_log_id).map_err(sm_err)?;
            m.insert("applied", applied.as_slice()).map_err(sm_err)?;
            let mem = postcard::to_allocvec(&meta.last_membership).map_err(sm_err)?;
            m.insert("membership", mem.as_slice()).map_err(sm_err)?;
            m.insert("snapshot", stored.as_slice()).map_err(sm_err)?;
        }
        txn.commit().map_err(sm_err)?;
        if let Some(b) = self.broker.upgrade() {
            b.retained.retain_only(|_| false);
            for w in data.retained {
                set_retained(&b, w);
            }
        }
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let stored: Option<(SnapshotMeta, Vec<u8>)> = self.meta("snapshot")?;
        Ok(stored.map(|(meta, bytes)| Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        }))
    }
}
