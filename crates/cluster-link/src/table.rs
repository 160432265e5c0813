//! The current links as the publish path sees them: configuration by remote cluster name, and the
//! forwarding pool of every enabled link. Replaced whole on each change; readers take a snapshot.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use linkmq_config::LinkConfig;

use crate::pool::ForwardPool;

/// One consistent view of the links.
#[derive(Default)]
pub(crate) struct Snapshot {
    /// Every configured link (enabled or not), by remote cluster name.
    pub links: HashMap<String, Arc<LinkConfig>>,
    /// Pools of the enabled links.
    pub pools: HashMap<String, Arc<ForwardPool>>,
}

#[derive(Default)]
pub(crate) struct LinkTable {
    current: RwLock<Arc<Snapshot>>,
}

impl LinkTable {
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut Snapshot)) {
        let mut g = self.current.write().unwrap_or_else(|e| e.into_inner());
        let mut next = Snapshot {
            links: g.links.clone(),
            pools: g.pools.clone(),
        };
        f(&mut next);
        *g = Arc::new(next);
    }
}
