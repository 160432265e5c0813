//! Control maps: `actor_init`, `actor_init_ack`, `route`, `heartbeat`.

use super::{Fields, LinkError, bin, int_key, key, op_key, utf8};
use crate::{Atom, DecodeOptions, Term, decode_with, encode_compressed};

const OP_ACTOR_INIT: &str = "actor_init";
const OP_ACTOR_INIT_ACK: &str = "actor_init_ack";
const OP_ROUTE: &str = "route";
const OP_HEARTBEAT: &str = "heartbeat";

/// Route op tag of a delete (`{100, Filter, RouteId}`).
const DELETE_TAG: i64 = 100;

/// Handshake request of a route-replication actor, sent on `$LINK/cluster/route/<sender>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInit {
    /// Actor name (the sending node's name).
    pub actor: String,
    /// Milliseconds timestamp of the actor's start; a newer one replaces the actor's routes.
    pub incarnation: u64,
    /// The `cluster.name` the sender believes it is talking to.
    pub target_cluster: String,
    pub proto_ver: u32,
}

/// Reply to [`ActorInit`], sent to its Response-Topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorInitAck {
    pub actor: String,
    pub proto_ver: u32,
    /// `ok`, or `{error, Reason}` with one of [`super::reason`].
    pub result: Result<(), String>,
    /// `true`/`false` on success; `None` (`undefined`) on rejection.
    pub need_bootstrap: Option<bool>,
}

/// One route change; the route id is opaque to the receiver.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RouteOp {
    /// `{Filter, RouteId}`.
    Add { filter: String, route_id: String },
    /// `{100, Filter, RouteId}`.
    Delete { filter: String, route_id: String },
}

/// A batch of route ops from one actor incarnation (at most [`super::MAX_ROUTE_OPS`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteBatch {
    pub actor: String,
    pub incarnation: u64,
    pub ops: Vec<RouteOp>,
}

/// Keeps an actor's routes alive on the receiver (QoS 0, every 10 s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heartbeat {
    pub actor: String,
    pub incarnation: u64,
}

/// Any control message, as dispatched on `'$op'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlMessage {
    ActorInit(ActorInit),
    ActorInitAck(ActorInitAck),
    Route(RouteBatch),
    Heartbeat(Heartbeat),
}

/// A control map with keys in Erlang's term order (integers ascending, then `'$op'`), as
/// `term_to_binary` writes small maps.
fn control_map(op: &str, mut fields: Vec<(u8, Term)>) -> Term {
    fields.sort_by_key(|(k, _)| *k);
    let mut pairs: Vec<(Term, Term)> = fields.into_iter().map(|(k, v)| (int_key(k), v)).collect();
    pairs.push((op_key(), bin(op)));
    Term::Map(pairs)
}

fn incarnation_term(inc: u64) -> Term {
    Term::int(inc)
}

impl ControlMessage {
    /// Decodes a control payload (strict atoms: control maps carry only protocol atoms).
    pub fn decode(payload: &[u8]) -> Result<Self, LinkError> {
        Self::from_term(&decode_with(payload, DecodeOptions::default())?)
    }

    /// `term_to_binary(T, [compressed])`.
    pub fn encode(&self) -> Vec<u8> {
        encode_compressed(&self.to_term())
    }

    pub fn to_term(&self) -> Term {
        match self {
            ControlMessage::ActorInit(m) => m.to_term(),
            ControlMessage::ActorInitAck(m) => m.to_term(),
            ControlMessage::Route(m) => m.to_term(),
            ControlMessage::Heartbeat(m) => m.to_term(),
        }
    }

    pub fn from_term(term: &Term) -> Result<Self, LinkError> {
        let map = term.as_map().ok_or(LinkError::NotAMap)?;
        let op = map
            .iter()
            .find(|(k, _)| *k == op_key())
            .and_then(|(_, v)| v.as_binary())
            .ok_or(LinkError::MissingOp)?;
        match &op[..] {
            b"actor_init" => ActorInit::from_map(map).map(Self::ActorInit),
            b"actor_init_ack" => ActorInitAck::from_map(map).map(Self::ActorInitAck),
            b"route" => RouteBatch::from_map(map).map(Self::Route),
            b"heartbeat" => Heartbeat::from_map(map).map(Self::Heartbeat),
            other => Err(LinkError::UnknownOp(
                String::from_utf8_lossy(other).chars().take(64).collect(),
            )),
        }
    }
}

impl ActorInit {
    /// `#{'$op'=><<"actor_init">>, 14=>1, 13=>Target, 10=>Actor, 11=>Incarnation}`.
    pub fn to_term(&self) -> Term {
        control_map(
            OP_ACTOR_INIT,
            vec![
                (key::ACTOR, bin(&self.actor)),
                (key::INCARNATION, incarnation_term(self.incarnation)),
                (key::TARGET_CLUSTER, bin(&self.target_cluster)),
                (key::PROTO_VER, Term::int(self.proto_ver)),
            ],
        )
    }

    fn from_map(map: &[(Term, Term)]) -> Result<Self, LinkError> {
        let f = Fields {
            op: OP_ACTOR_INIT,
            map,
        };
        Ok(ActorInit {
            actor: f.string(key::ACTOR, "actor")?,
            incarnation: f.u64(key::INCARNATION, "incarnation")?,
            target_cluster: f.string(key::TARGET_CLUSTER, "target_cluster")?,
            proto_ver: f.u32(key::PROTO_VER, "proto_ver")?,
        })
    }
}

impl ActorInitAck {
    /// `#{'$op'=><<"actor_init_ack">>, 14=>1, 10=>Actor, 15=>ok | {error, Reason}, 16=>NeedBootstrap}`.
    pub fn to_term(&self) -> Term {
        let result = match &self.result {
            Ok(()) => Term::Atom(Atom::Ok),
            Err(reason) => Term::Tuple(vec![Term::Atom(Atom::Error), bin(reason)]),
        };
        let need_bootstrap = match self.need_bootstrap {
            Some(b) => Term::Atom(Atom::from_bool(b)),
            None => Term::Atom(Atom::Undefined),
        };
        control_map(
            OP_ACTOR_INIT_ACK,
            vec![
                (key::ACTOR, bin(&self.actor)),
                (key::PROTO_VER, Term::int(self.proto_ver)),
                (key::RESULT, result),
                (key::NEED_BOOTSTRAP, need_bootstrap),
            ],
        )
    }

    fn from_map(map: &[(Term, Term)]) -> Result<Self, LinkError> {
        let f = Fields {
            op: OP_ACTOR_INIT_ACK,
            map,
        };
        let result = match f.get(key::RESULT, "result")? {
            Term::Atom(Atom::Ok) => Ok(()),
            Term::Tuple(t) if t.len() == 2 && t[0] == Term::Atom(Atom::Error) => {
                Err(utf8(&t[1]).ok_or_else(|| f.bad("result", "ok or {error, <<Reason>>}"))?)
            }
            _ => return Err(f.bad("result", "ok or {error, <<Reason>>}")),
        };
        let need_bootstrap = match f.get(key::NEED_BOOTSTRAP, "need_bootstrap")? {
            Term::Atom(Atom::Undefined) => None,
            Term::Atom(a) => Some(
                a.as_bool()
                    .ok_or_else(|| f.bad("need_bootstrap", "true, false or undefined"))?,
            ),
            _ => return Err(f.bad("need_bootstrap", "true, false or undefined")),
        };
        Ok(ActorInitAck {
            actor: f.string(key::ACTOR, "actor")?,
            proto_ver: f.u32(key::PROTO_VER, "proto_ver")?,
            result,
            need_bootstrap,
        })
    }
}

impl RouteOp {
    pub fn filter(&self) -> &str {
        match self {
            RouteOp::Add { filter, .. } | RouteOp::Delete { filter, .. } => filter,
        }
    }

    pub fn route_id(&self) -> &str {
        match self {
            RouteOp::Add { route_id, .. } | RouteOp::Delete { route_id, .. } => route_id,
        }
    }

    pub fn to_term(&self) -> Term {
        match self {
            RouteOp::Add { filter, route_id } => Term::Tuple(vec![bin(filter), bin(route_id)]),
            RouteOp::Delete { filter, route_id } => {
                Term::Tuple(vec![Term::Int(DELETE_TAG), bin(filter), bin(route_id)])
            }
        }
    }

    fn from_term(t: &Term, f: &Fields<'_>) -> Result<Self, LinkError> {
        const EXPECTED: &str = "a list of {Filter, RouteId} or {100, Filter, RouteId}";
        let bad = || f.bad("routes", EXPECTED);
        match t.as_tuple().ok_or_else(bad)? {
            [filter, route_id] => Ok(RouteOp::Add {
                filter: utf8(filter).ok_or_else(bad)?,
                route_id: utf8(route_id).ok_or_else(bad)?,
            }),
            [Term::Int(DELETE_TAG), filter, route_id] => Ok(RouteOp::Delete {
                filter: utf8(filter).ok_or_else(bad)?,
                route_id: utf8(route_id).ok_or_else(bad)?,
            }),
            _ => Err(bad()),
        }
    }
}

impl RouteBatch {
    /// `#{'$op'=><<"route">>, 10=>Actor, 11=>Inc, 12=>[Op...]}`.
    pub fn to_term(&self) -> Term {
        control_map(
            OP_ROUTE,
            vec![
                (key::ACTOR, bin(&self.actor)),
                (key::INCARNATION, incarnation_term(self.incarnation)),
                (
                    key::ROUTES,
                    Term::List(self.ops.iter().map(RouteOp::to_term).collect()),
                ),
            ],
        )
    }

    fn from_map(map: &[(Term, Term)]) -> Result<Self, LinkError> {
        let f = Fields { op: OP_ROUTE, map };
        let routes = f.get(key::ROUTES, "routes")?;
        let ops = routes
            .as_list()
            .ok_or_else(|| f.bad("routes", "a list"))?
            .iter()
            .map(|t| RouteOp::from_term(t, &f))
            .collect::<Result<_, _>>()?;
        Ok(RouteBatch {
            actor: f.string(key::ACTOR, "actor")?,
            incarnation: f.u64(key::INCARNATION, "incarnation")?,
            ops,
        })
    }
}

impl Heartbeat {
    /// `#{'$op'=><<"heartbeat">>, 10=>Actor, 11=>Inc}`.
    pub fn to_term(&self) -> Term {
        control_map(
            OP_HEARTBEAT,
            vec![
                (key::ACTOR, bin(&self.actor)),
                (key::INCARNATION, incarnation_term(self.incarnation)),
            ],
        )
    }

    fn from_map(map: &[(Term, Term)]) -> Result<Self, LinkError> {
        let f = Fields {
            op: OP_HEARTBEAT,
            map,
        };
        Ok(Heartbeat {
            actor: f.string(key::ACTOR, "actor")?,
            incarnation: f.u64(key::INCARNATION, "incarnation")?,
        })
    }
}

impl From<ActorInit> for ControlMessage {
    fn from(m: ActorInit) -> Self {
        ControlMessage::ActorInit(m)
    }
}

impl From<ActorInitAck> for ControlMessage {
    fn from(m: ActorInitAck) -> Self {
        ControlMessage::ActorInitAck(m)
    }
}

impl From<RouteBatch> for ControlMessage {
    fn from(m: RouteBatch) -> Self {
        ControlMessage::Route(m)
    }
}

impl From<Heartbeat> for ControlMessage {
    fn from(m: Heartbeat) -> Self {
        ControlMessage::Heartbeat(m)
    }
}
