//! Where a scenario's publishers and subscribers connect: one broker, or two brokers joined so that
//! a message published on the first reaches a subscriber on the second. For linkmq the two are
//! nodes of one cluster (`cluster-2node-*`) or two single-node clusters joined by Cluster Linking
//! (`linked-clusters-*`); Mosquitto has neither, so both compare with its closest: two brokers
//! joined by a Mosquitto bridge that forwards `bench/#` from the first to the second.

use std::path::Path;

use super::brokers::{
    Broker, Deployment, LinkmqNode, free_port, quiet_port, start_linkmq, start_mosquitto,
    start_relay,
};

/// How the brokers of a run are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topology {
    /// One broker: publishers and subscribers on it.
    Single,
    /// linkmq: two nodes of one cluster; publishers on the first, subscribers on the second.
    Cluster2,
    /// linkmq: two single-node clusters joined by Cluster Linking; publishers on the first.
    Linked,
}

impl Topology {
    /// The layout a scenario runs on, from its name.
    pub fn of(scenario: &str) -> Topology {
        if scenario.starts_with("cluster-2node") {
            Topology::Cluster2
        } else if scenario.starts_with("linked-clusters") {
            Topology::Linked
        } else {
            Topology::Single
        }
    }

    /// More than one broker process: the figures are summed over them.
    pub fn is_pair(self) -> bool {
        self != Topology::Single
    }
}

/// The binaries of the brokers.
pub struct Bins<'a> {
    pub linkmq: &'a Path,
    pub mosquitto: Option<&'a Path>,
    /// `linkmq-bench`, whose `relay` subcommand is the bare relay.
    pub relay: &'a Path,
}

/// Starts the brokers of one run (fresh: new ports, configuration, data) and waits until each
/// accepts MQTT connections. The joint (cluster membership, link, bridge) may still be forming:
/// the generator's warm-up message waits for it.
pub fn deploy(
    broker: Broker,
    topology: Topology,
    bins: &Bins,
    work: &Path,
    tag: &str,
) -> anyhow::Result<Deployment> {
    match (broker, topology) {
        (Broker::Linkmq, Topology::Single) => {
            let port = free_port()?;
            let mut d = Deployment::new(port, port);
            let node = LinkmqNode {
                tag,
                name: "bench@127.0.0.1",
                port,
                extra: "",
                env: &[],
            };
            d.add(start_linkmq(bins.linkmq, work, &node)?, port)?;
            Ok(d)
        }
        (Broker::Mosquitto, Topology::Single) => {
            let port = free_port()?;
            let mut d = Deployment::new(port, port);
            d.add(
                start_mosquitto(mosquitto(bins)?, work, tag, port, "")?,
                port,
            )?;
            Ok(d)
        }
        (Broker::Relay, Topology::Single) => {
            let port = free_port()?;
            let mut d = Deployment::new(port, port);
            d.add(start_relay(bins.relay, work, tag, port)?, port)?;
            Ok(d)
        }
        (Broker::Relay, _) => anyhow::bail!("the bare relay serves one-broker scenarios only"),
        (Broker::Linkmq, Topology::Cluster2) => cluster2(bins.linkmq, work, tag),
        (Broker::Linkmq, Topology::Linked) => linked(bins.linkmq, work, tag),
        (Broker::Mosquitto, _) => bridge(mosquitto(bins)?, work, tag),
    }
}

fn mosquitto<'a>(bins: &Bins<'a>) -> anyhow::Result<&'a Path> {
    bins.mosquitto
        .ok_or_else(|| anyhow::anyhow!("mosquitto is not available"))
}

/// Two nodes `b1`, `b2` of one cluster formed by static seeds (no operator step), each with its
/// own MQTT and cluster port and data directory; publishers on `b1`, subscribers on `b2`.
fn cluster2(bin: &Path, work: &Path, tag: &str) -> anyhow::Result<Deployment> {
    let mqtt = [quiet_port()?, quiet_port()?];
    let rpc = [quiet_port()?, quiet_port()?];
    let seeds = format!("\"b1@127.0.0.1:{}\", \"b2@127.0.0.1:{}\"", rpc[0], rpc[1]);
    let mut d = Deployment::new(mqtt[0], mqtt[1]);
    for i in 0..2 {
        let extra = format!(
            "node.cookie = \"bench-cookie\"\n\
             cluster {{ name = \"bench\", discovery_strategy = static, static.seeds = [{seeds}] }}\n\
             rpc {{ listen_address = \"127.0.0.1\", tcp_server_port = {} }}\n",
            rpc[i]
        );
        let name = format!("b{}@127.0.0.1", i + 1);
        let node_tag = format!("{tag}-b{}", i + 1);
        let node = LinkmqNode {
            tag: &node_tag,
            name: &name,
            port: mqtt[i],
            extra: &extra,
            env: &[],
        };
        d.add(start_linkmq(bin, work, &node)?, mqtt[i])?;
    }
    Ok(d)
}

/// Two single-node clusters `bench-a` and `bench-b`, each with a link to the other: `bench-b`'s link
/// asks for `bench/#`, `bench-a`'s for nothing, so messages flow from A to B only. Publishers on A,
/// subscribers on B. A link that finds its peer not yet started retries after 0.5 s instead of
/// the default 5 s (`LINKMQ_LINK_TIMERS`), so a run does not wait for it; every other timer keeps
/// its default.
fn linked(bin: &Path, work: &Path, tag: &str) -> anyhow::Result<Deployment> {
    let mqtt = [quiet_port()?, quiet_port()?];
    let rpc = [quiet_port()?, quiet_port()?];
    let mut d = Deployment::new(mqtt[0], mqtt[1]);
    let sides = [("a", "b", "", mqtt[1]), ("b", "a", "\"bench/#\"", mqtt[0])];
    for (i, (me, peer, topics, peer_port)) in sides.into_iter().enumerate() {
        let extra = format!(
            "cluster {{\n  name = \"bench-{me}\"\n  links = [\n    {{ name = \"bench-{peer}\", \
             server = \"127.0.0.1:{peer_port}\", topics = [{topics}] }}\n  ]\n}}\n\
             rpc {{ listen_address = \"127.0.0.1\", tcp_server_port = {} }}\n",
            rpc[i]
        );
        let name = format!("{me}@127.0.0.1");
        let node_tag = format!("{tag}-{me}");
        let node = LinkmqNode {
            tag: &node_tag,
            name: &name,
            port: mqtt[i],
            extra: &extra,
            env: &[("LINKMQ_LINK_TIMERS", "reconnect=500ms")],
        };
        d.add(start_linkmq(bin, work, &node)?, mqtt[i])?;
    }
    Ok(d)
}

/// Two Mosquitto brokers; the first bridges to the second and forwards `bench/#` to it (`out`,
/// up to QoS 1, so QoS 1 messages stay QoS 1 on the way, as in a linkmq cluster or link). The
/// second is started first, so the bridge connects at once. Publishers on the first.
fn bridge(bin: &Path, work: &Path, tag: &str) -> anyhow::Result<Deployment> {
    let ports = [quiet_port()?, quiet_port()?];
    let mut d = Deployment::new(ports[0], ports[1]);
    d.add(
        start_mosquitto(bin, work, &format!("{tag}-m2"), ports[1], "")?,
        ports[1],
    )?;
    let bridge = format!(
        "connection bench-bridge\n\
         address 127.0.0.1:{}\n\
         topic bench/# out 1\n\
         cleansession true\n\
         notifications false\n",
        ports[1]
    );
    d.add(
        start_mosquitto(bin, work, &format!("{tag}-m1"), ports[0], &bridge)?,
        ports[0],
    )?;
    Ok(d)
}
