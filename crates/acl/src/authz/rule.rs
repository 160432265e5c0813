//! `acl.conf` rules: compiled from terms, evaluated first-match.
//!
//! `{Permission, Who, Action, Topics}.` or `{Permission, all}.` (= all clients, all actions, `#`).
//!
//! Topic matching:
//! - a published topic is matched by a rule's filter as MQTT matches it;
//! - a subscription filter is refused by a `deny` rule as EMQX 5.8 refuses it
//!   (`emqx_topic:match/2`): the requested filter's levels are taken literally and matched by the
//!   rule's filter, so `deny secret/#` refuses `secret/+` but not `+/#` or `#` (EMQX's default
//!   `acl.conf` adds `{eq, "#"}` for that);
//! - a subscription filter is granted by an `allow` rule only if the rule's filter covers every
//!   topic the subscription can match. Here linkmq is stricter than EMQX, which lets `allow a/+`
//!   grant `a/#`: an allow rule never grants more than its filter says;
//! - `{eq, F}` matches only the literal filter `F`;
//! - a placeholder value (`${clientid}`, `${username}`, ...) is a literal: if it contains `+`,
//!   `#`, `/` or NUL, or is empty, an `allow` entry with it does not match, and a `deny` entry
//!   with it applies with the wildcard meaning (so the value can only narrow what is allowed).

use std::net::IpAddr;

use linkmq_codec::QoS;
use linkmq_core::access::{Action, Permission};
use linkmq_core::registry::ClientInfo;
use linkmq_core::topic;
use regex::Regex;

use super::term::{AclError, Term, TermKind};

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub permission: Permission,
    who: Who,
    action: ActionCond,
    topics: Vec<TopicCond>,
    /// Where the rule starts in its file.
    pub line: usize,
}

#[derive(Debug, Clone)]
enum StrMatch {
    Eq(String),
    Re(Regex),
}

impl StrMatch {
    fn is_match(&self, s: &str) -> bool {
        match self {
            StrMatch::Eq(e) => e == s,
            StrMatch::Re(r) => r.is_match(s),
        }
    }
}

#[derive(Debug, Clone)]
enum Who {
    All,
    Username(StrMatch),
    ClientId(StrMatch),
    IpAddrs(Vec<Cidr>),
    And(Vec<Who>),
    Or(Vec<Who>),
}

/// An address block (`10.0.0.0/8`, `::1`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `ip` or `ip/len`.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (ip, len) = match s.trim().split_once('/') {
            Some((ip, len)) => (ip, Some(len)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("{s:?} is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match len {
            None => max,
            Some(l) => l
                .parse::<u8>()
                .ok()
                .filter(|l| *l <= max)
                .ok_or_else(|| format!("{s:?}: bad prefix length"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    /// True when `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ActionKind {
    Publish,
    Subscribe,
    All,
}

#[derive(Debug, Clone)]
struct ActionCond {
    kind: ActionKind,
    /// Allowed QoS levels (bit i = QoS i).
    qos: u8,
    /// `None` = any retain flag.
    retain: Option<bool>,
}

impl ActionCond {
    fn matches(&self, a: Action) -> bool {
        let bit = |q: QoS| 1u8 << (q as u8);
        match a {
            Action::Publish { qos, retain } => {
                matches!(self.kind, ActionKind::Publish | ActionKind::All)
                    && self.qos & bit(qos) != 0
                    && self.retain.is_none_or(|r| r == retain)
            }
            Action::Subscribe { qos } => {
                matches!(self.kind, ActionKind::Subscribe | ActionKind::All)
                    && self.qos & bit(qos) != 0
            }
        }
    }
}

/// A placeholder of a topic template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Var {
    ClientId,
    Username,
    PeerHost,
    CertCommonName,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Var(Var),
}

#[derive(Debug, Clone)]
enum TopicCond {
    Filter(String),
    Eq(String),
    Pattern(Vec<Part>),
}

/// Compiles every top-level term into a rule.
pub fn compile(terms: &[Term]) -> Result<Vec<Rule>, AclError> {
    terms.iter().map(compile_rule).collect()
}

fn compile_rule(t: &Term) -> Result<Rule, AclError> {
    let TermKind::Tuple(items) = &t.kind else {
        return Err(t.error(format!(
            "a rule is {{allow | deny, Who, Action, Topics}} or {{allow | deny, all}}, found {}",
            t.describe()
        )));
    };
    let permission = match items.first().and_then(Term::atom) {
        Some("allow") => Permission::Allow,
        Some("deny") => Permission::Deny,
        _ => {
            let at = items.first().unwrap_or(t);
            return Err(at.error(format!("expected allow or deny, found {}", at.describe())));
        }
    };
    match items.len() {
        2 if items[1].atom() == Some("all") => Ok(Rule {
            permission,
            who: Who::All,
            action: ActionCond {
                kind: ActionKind::All,
                qos: 0b111,
                retain: None,
            },
            topics: vec![TopicCond::Filter("#".into())],
            line: t.line,
        }),
        2 => Err(items[1].error(format!(
            "the two-element rule form is {{allow | deny, all}}, found {}",
            items[1].describe()
        ))),
        4 => Ok(Rule {
            permission,
            who: compile_who(&items[1])?,
            action: compile_action(&items[2])?,
            topics: compile_topics(&items[3])?,
            line: t.line,
        }),
        n => Err(t.error(format!(
            "a rule has 4 elements {{allow | deny, Who, Action, Topics}} (or 2: {{allow | deny, all}}), found {n}"
        ))),
    }
}

fn string_of(t: &Term) -> Result<&str, AclError> {
    match &t.kind {
        TermKind::Str(s) => Ok(s),
        _ => Err(t.error(format!("expected a string, found {}", t.describe()))),
    }
}

fn compile_str_match(t: &Term) -> Result<StrMatch, AclError> {
    match &t.kind {
        TermKind::Str(s) => Ok(StrMatch::Eq(s.clone())),
        TermKind::Tuple(items) if items.len() == 2 && items[0].atom() == Some("re") => {
            let re = string_of(&items[1])?;
            Regex::new(re)
                .map(StrMatch::Re)
                .map_err(|e| items[1].error(format!("bad regular expression: {e}")))
        }
        _ => Err(t.error(format!(
            "expected a string or {{re, \"regex\"}}, found {}",
            t.describe()
        ))),
    }
}

fn compile_who(t: &Term) -> Result<Who, AclError> {
    if t.atom() == Some("all") {
        return Ok(Who::All);
    }
    let TermKind::Tuple(items) = &t.kind else {
        return Err(t.error(format!(
            "expected all, {{username, ...}}, {{clientid, ...}}, {{ipaddr, ...}}, {{ipaddrs, ...}}, {{'and', [...]}} or {{'or', [...]}}, found {}",
            t.describe()
        )));
    };
    let key = items.first().and_then(Term::atom);
    match (key, items.len()) {
        (Some("user" | "username"), 2) => Ok(Who::Username(compile_str_match(&items[1])?)),
        (Some("client" | "clientid"), 2) => Ok(Who::ClientId(compile_str_match(&items[1])?)),
        (Some("ipaddr"), 2) => {
            let s = string_of(&items[1])?;
            Ok(Who::IpAddrs(vec![
                Cidr::parse(s).map_err(|e| items[1].error(e))?,
            ]))
        }
        (Some("ipaddrs"), 2) => {
            let TermKind::List(l) = &items[1].kind else {
                return Err(items[1].error("expected a list of addresses"));
            };
            let cidrs = l
                .iter()
                .map(|i| Cidr::parse(string_of(i)?).map_err(|e| i.error(e)))
                .collect::<Result<_, _>>()?;
            Ok(Who::IpAddrs(cidrs))
        }
        (Some(op @ ("and" | "or")), 2) => {
            let TermKind::List(l) = &items[1].kind else {
                return Err(items[1].error(format!("expected a list after '{op}'")));
            };
            let whos = l.iter().map(compile_who).collect::<Result<_, _>>()?;
            Ok(if op == "and" {
                Who::And(whos)
            } else {
                Who::Or(whos)
            })
        }
        _ => Err(t.error(format!(
            "unknown client condition {}: expected username, clientid, ipaddr, ipaddrs, 'and' or 'or'",
            items
                .first()
                .map(Term::describe)
                .unwrap_or_else(|| "{}".into())
        ))),
    }
}

fn action_kind(t: &Term) -> Result<ActionKind, AclError> {
    match t.atom() {
        Some("publish") => Ok(ActionKind::Publish),
        Some("subscribe") => Ok(ActionKind::Subscribe),
        Some("all") => Ok(ActionKind::All),
        _ => Err(t.error(format!(
            "expected publish, subscribe, all or {{publish | subscribe | all, [{{qos, ...}}, {{retain, ...}}]}}, found {}",
            t.describe()
        ))),
    }
}

fn compile_action(t: &Term) -> Result<ActionCond, AclError> {
    if let TermKind::Tuple(items) = &t.kind {
        if items.len() != 2 {
            return Err(t.error("expected {publish | subscribe | all, [Options]}"));
        }
        let kind = action_kind(&items[0])?;
        let TermKind::List(opts) = &items[1].kind else {
            return Err(items[1].error("expected a list of {qos, ...} and {retain, ...}"));
        };
        let mut qos = 0u8;
        let mut retain = None;
        for o in opts {
            let TermKind::Tuple(kv) = &o.kind else {
                return Err(o.error("expected {qos, ...} or {retain, ...}"));
            };
            match (kv.first().and_then(Term::atom), kv.len()) {
                (Some("qos"), 2) => {
                    let levels: Vec<&Term> = match &kv[1].kind {
                        TermKind::List(l) => l.iter().collect(),
                        _ => vec![&kv[1]],
                    };
                    for l in levels {
                        match l.kind {
                            TermKind::Int(q @ 0..=2) => qos |= 1 << q,
                            _ => return Err(l.error("QoS must be 0, 1 or 2")),
                        }
                    }
                }
                (Some("retain"), 2) => {
                    retain = match kv[1].atom() {
                        Some("true") => Some(true),
                        Some("false") => Some(false),
                        Some("all") => None,
                        _ => return Err(kv[1].error("retain must be true, false or all")),
                    }
                }
                _ => {
                    return Err(
                        o.error("unknown action option: expected {qos, ...} or {retain, ...}")
                    );
                }
            }
        }
        return Ok(ActionCond {
            kind,
            qos: if qos == 0 { 0b111 } else { qos },
            retain,
        });
    }
    Ok(ActionCond {
        kind: action_kind(t)?,
        qos: 0b111,
        retain: None,
    })
}

fn compile_topics(t: &Term) -> Result<Vec<TopicCond>, AclError> {
    match &t.kind {
        TermKind::List(l) => l.iter().map(compile_topic).collect(),
        // `"t/#"` alone: an Erlang string is a list; take it as one topic.
        TermKind::Str(_) => Ok(vec![compile_topic(t)?]),
        _ => Err(t.error(format!("expected a list of topics, found {}", t.describe()))),
    }
}

fn valid_filter(t: &Term, f: &str) -> Result<(), AclError> {
    topic::validate_filter(f, 0)
        .map_err(|e| t.error(format!("invalid topic filter {f:?}: {e}")))?;
    if f.starts_with("$share/") || f.starts_with("$queue/") {
        return Err(t.error(format!(
            "{f:?}: write the topic without $share/<group>/ (rules apply to the inner filter)"
        )));
    }
    Ok(())
}

fn compile_topic(t: &Term) -> Result<TopicCond, AclError> {
    match &t.kind {
        TermKind::Tuple(items) if items.len() == 2 && items[0].atom() == Some("eq") => {
            let f = string_of(&items[1])?;
            valid_filter(&items[1], f)?;
            Ok(TopicCond::Eq(f.to_string()))
        }
        TermKind::Str(s) => {
            if let Some(f) = s.strip_prefix("eq ") {
                valid_filter(t, f)?;
                return Ok(TopicCond::Eq(f.to_string()));
            }
            let parts = parse_template(s).map_err(|e| t.error(e))?;
            if parts.iter().all(|p| matches!(p, Part::Lit(_))) {
                valid_filter(t, s)?;
                Ok(TopicCond::Filter(s.clone()))
            } else {
                // Check the shape with a stand-in value for each placeholder.
                let sample: String = parts
                    .iter()
                    .map(|p| match p {
                        Part::Lit(l) => l.as_str(),
                        Part::Var(_) => "x",
                    })
                    .collect();
                valid_filter(t, &sample)?;
                Ok(TopicCond::Pattern(parts))
            }
        }
        _ => Err(t.error(format!(
            "expected a topic string or {{eq, \"topic\"}}, found {}",
            t.describe()
        ))),
    }
}

fn parse_template(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find("${") {
        let Some(end) = rest[i..].find('}') else {
            return Err(format!("unterminated placeholder in {s:?}"));
        };
        if i > 0 {
            parts.push(Part::Lit(rest[..i].to_string()));
        }
        let name = &rest[i + 2..i + end];
        parts.push(Part::Var(match name {
            "clientid" => Var::ClientId,
            "username" => Var::Username,
            "peerhost" => Var::PeerHost,
            "cert_common_name" | "cn" => Var::CertCommonName,
            other => {
                return Err(format!(
                    "unsupported placeholder ${{{other}}}: use ${{clientid}}, ${{username}}, ${{peerhost}} or ${{cert_common_name}}"
                ));
            }
        }));
        rest = &rest[i + end + 1..];
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    Ok(parts)
}

/// A request to check: who, what, which topic (a topic name or the inner subscription filter).
pub(crate) struct Request<'a> {
    pub client: &'a ClientInfo,
    pub action: Action,
    pub topic: &'a str,
}

impl Who {
    fn matches(&self, c: &ClientInfo) -> bool {
        match self {
            Who::All => true,
            Who::Username(m) => c.username.as_deref().is_some_and(|u| m.is_match(u)),
            Who::ClientId(m) => m.is_match(&c.client_id),
            Who::IpAddrs(cidrs) => c
                .peer
                .is_some_and(|p| cidrs.iter().any(|n| n.contains(p.ip()))),
            Who::And(l) => l.iter().all(|w| w.matches(c)),
            Who::Or(l) => l.iter().any(|w| w.matches(c)),
        }
    }
}

/// A placeholder value that cannot change the shape of a filter.
fn is_safe_value(v: &str) -> bool {
    !v.is_empty() && !v.bytes().any(|b| matches!(b, b'+' | b'#' | b'/' | 0))
}

fn render(parts: &[Part], c: &ClientInfo, allow: bool) -> Option<String> {
    let mut out = String::new();
    for p in parts {
        match p {
            Part::Lit(l) => out.push_str(l),
            Part::Var(v) => {
                let value = match v {
                    Var::ClientId => Some(c.client_id.to_string()),
                    Var::Username => c.username.clone(),
                    Var::PeerHost => c.peer.map(|p| p.ip().to_canonical().to_string()),
                    Var::CertCommonName => c.peer_cert.as_ref().and_then(|p| p.common_name.clone()),
                }?;
                if allow && !is_safe_value(&value) {
                    return None;
                }
                out.push_str(&value);
            }
        }
    }
    Some(out)
}

impl Rule {
    /// Whether this rule applies to the request (then its permission decides).
    pub(crate) fn matches(&self, r: &Request<'_>) -> bool {
        self.action.matches(r.action) && self.who.matches(r.client) && self.topic_matches(r)
    }

    fn topic_matches(&self, r: &Request<'_>) -> bool {
        let allow = self.permission == Permission::Allow;
        let subscribe = matches!(r.action, Action::Subscribe { .. });
        let filter_matches = |f: &str| {
            if !subscribe {
                topic::matches(f, r.topic)
            } else if allow {
                topic::covers(f, r.topic)
            } else {
                topic::matches(f, r.topic)
            }
        };
        self.topics.iter().any(|t| match t {
            TopicCond::Filter(f) => filter_matches(f),
            TopicCond::Eq(e) => e == r.topic,
            TopicCond::Pattern(parts) => {
                render(parts, r.client, allow).is_some_and(|f| filter_matches(&f))
            }
        })
    }
}

/// First match wins; `None` when no rule matches.
pub(crate) fn evaluate(rules: &[Rule], r: &Request<'_>) -> Option<Permission> {
    rules
        .iter()
        .find(|rule| rule.matches(r))
        .map(|rule| rule.permission)
}
