//! The sending side on the publish path: external routes → the matching links' pools (spec §6),
//! and local route changes → every running route-replication actor (spec §4).

use std::sync::{Arc, RwLock};

use linkmq_core::Message;
use linkmq_core::hooks::{Forwarder, RouteKey, RouteListener};

use crate::actor::ActorShared;
use crate::extrouter::ExtRouter;
use crate::table::LinkTable;

/// Forwards each locally published message once to every remote cluster whose external routes
/// match it and whose local link is enabled. Messages that came over a link are never forwarded.
pub(crate) struct LinkForwarder {
    pub table: Arc<LinkTable>,
    pub extrouter: Arc<dyn ExtRouter>,
}

impl Forwarder for LinkForwarder {
    fn forward(&self, msg: &Arc<Message>) -> usize {
        if msg.origin.is_some() || msg.topic.starts_with("$LINK/") {
            return 0;
        }
        let snapshot = self.table.snapshot();
        if snapshot.pools.is_empty() {
            return 0;
        }
        self.extrouter
            .match_routes(&msg.topic)
            .iter()
            .filter_map(|r| snapshot.pools.get(&*r.cluster))
            .filter(|pool| pool.enqueue(msg))
            .count()
    }
}

/// Hands local route changes to the running actors (called under the router's lock: no blocking).
#[derive(Default)]
pub(crate) struct RouteFanout {
    actors: RwLock<Vec<Arc<ActorShared>>>,
}

impl RouteFanout {
    pub fn add(&self, a: Arc<ActorShared>) {
        self.actors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(a);
    }

    pub fn remove(&self, a: &Arc<ActorShared>) {
        self.actors
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|x| !Arc::ptr_eq(x, a));
    }

    fn each(&self, f: impl Fn(&ActorShared)) {
        for a in self.actors.read().unwrap_or_else(|e| e.into_inner()).iter() {
            f(a);
        }
    }
}

impl RouteListener for RouteFanout {
    fn route_added(&self, route: &RouteKey) {
        self.each(|a| a.on_route(route, true));
    }

    fn route_removed(&self, route: &RouteKey) {
        self.each(|a| a.on_route(route, false));
    }
}
