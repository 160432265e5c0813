//! `linkmq-bench`: an MQTT load generator in the spirit of emqtt-bench, for linkmq or any broker.
//!
//! `conn` opens idle connections, `pub` publishes, `sub` subscribes, `scenario NAME` runs one of the
//! standard scenarios (publishers and subscribers in one process, closed or open loop), and `relay`
//! serves as the bare relay the brokers are measured against. Latency comes from a send timestamp in
//! the first payload bytes, read by the subscriber. One progress line a second goes to stderr, a JSON
//! summary to stdout (or `--json FILE`). With `--broker-pid` the summary also holds the broker's CPU
//! time per delivered message and its memory, from `/proc`.
//!
//! The generator is meant to cost far less CPU than the broker it measures: one thread by default,
//! PUBLISH packets built from a template into batched writes, deliveries parsed without allocating.

mod deliveries;
mod multi;
mod pacer;
mod procfs;
mod relay;
mod run;
mod scenario;
mod shards;
mod stats;
mod wire;

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{ArgAction, Args, Parser, Subcommand};
use linkmq_client::{TlsOptions, Transport};
use linkmq_codec::{Protocol, QoS};

use run::{IdlePlan, Pacing, Plan, PubPlan, SubPlan};
use wire::Target;

/// The note on transports every `--help` ends with.
const TRANSPORTS: &str = "Transports: plain TCP by default; --tls (TLS, verified against --cacert \
    FILE or --insecure; --certfile/--keyfile for mutual TLS); --ws (WebSocket on --ws-path, default \
    /mqtt, subprotocol mqtt, one binary message per write batch); both for WebSocket over TLS. The \
    default port follows: 1883, 8883, 8083, 8084.";

#[derive(Parser)]
#[command(
    name = "linkmq-bench",
    about = "MQTT load generator (emqtt-bench style flags)",
    after_help = TRANSPORTS,
    disable_help_flag = true,
    disable_version_flag = true
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
    #[arg(long, action = ArgAction::Help, global = true, help = "Print help")]
    help: Option<bool>,
}

#[derive(Subcommand)]
enum Cmd {
    /// Open `-c` connections and keep them idle.
    #[command(disable_help_flag = true, after_help = TRANSPORTS)]
    Conn {
        #[command(flatten)]
        common: Common,
        /// Seconds to hold the connections once all are up.
        #[arg(long, default_value_t = 5.0)]
        hold: f64,
    },
    /// Publish from `-c` clients.
    #[command(disable_help_flag = true, after_help = TRANSPORTS)]
    Pub {
        #[command(flatten)]
        common: Common,
        /// Topic; `%i` is the client index.
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'q', long, default_value_t = 0)]
        qos: u8,
        /// Payload size in bytes (at least 16: the timestamp stamp).
        #[arg(short = 's', long = "size", default_value_t = 64)]
        size: usize,
        /// Publish interval per client in milliseconds (0 = as fast as possible).
        #[arg(short = 'I', long = "interval_of_msg", default_value_t = 1000.0)]
        interval_ms: f64,
        /// Total publish rate over all clients in msg/s (overrides -I).
        #[arg(long)]
        rate: Option<f64>,
        /// Messages per client (0 = until --duration).
        #[arg(short = 'L', long = "limit", default_value_t = 0)]
        limit: u64,
        /// QoS 1/2 messages in flight per client.
        #[arg(short = 'F', long = "inflight", default_value_t = 32)]
        inflight: usize,
        #[arg(short = 'r', long)]
        retain: bool,
    },
    /// Subscribe `-c` clients and measure what arrives.
    #[command(disable_help_flag = true, after_help = TRANSPORTS)]
    Sub {
        #[command(flatten)]
        common: Common,
        /// Topic filter; `%i` is the client index.
        #[arg(short = 't', long)]
        topic: String,
        #[arg(short = 'q', long, default_value_t = 0)]
        qos: u8,
        /// Stop after this many messages in all (0 = until --duration).
        #[arg(short = 'L', long = "limit", default_value_t = 0)]
        limit: u64,
    },
    /// Run a standard scenario (`--list` shows them).
    #[command(disable_help_flag = true, after_help = TRANSPORTS)]
    Scenario {
        /// Scenario name.
        name: Option<String>,
        #[command(flatten)]
        common: Common,
        /// Small counts (about a tenth).
        #[arg(long)]
        quick: bool,
        /// Print the scenario names and descriptions.
        #[arg(long)]
        list: bool,
    },
    /// Serve as the bare relay `cargo xtask bench` measures brokers against: every PUBLISH passed
    /// unchanged to every subscriber, nothing else (not a broker; see `relay.rs`).
    #[command(disable_help_flag = true)]
    Relay {
        /// Address to listen on.
        #[arg(short = 'h', long, default_value = "127.0.0.1")]
        host: IpAddr,
        #[arg(short = 'p', long, default_value_t = 1883)]
        port: u16,
    },
}

#[derive(Args, Clone)]
struct Common {
    /// Broker host.
    #[arg(short = 'h', long, default_value = "127.0.0.1")]
    host: String,
    /// Broker port [default: 1883, --tls 8883, --ws 8083, --tls --ws 8084].
    #[arg(short = 'p', long)]
    port: Option<u16>,
    /// Clients.
    #[arg(short = 'c', long = "count", default_value_t = 1)]
    count: usize,
    /// Connections per second (0 = as fast as the concurrency allows).
    #[arg(short = 'R', long = "connrate", default_value_t = 0.0)]
    conn_rate: f64,
    /// Milliseconds between connection starts (another way to say -R).
    #[arg(short = 'i', long = "interval", default_value_t = 0.0)]
    conn_interval_ms: f64,
    /// Handshakes in progress at once.
    #[arg(long, default_value_t = 100)]
    concurrency: usize,
    /// MQTT version: 3 (3.1), 4 (3.1.1) or 5.
    #[arg(short = 'V', long = "version", default_value_t = 5)]
    version: u8,
    #[arg(short = 'k', long = "keepalive", default_value_t = 300)]
    keepalive: u16,
    #[arg(short = 'u', long)]
    username: Option<String>,
    #[arg(short = 'P', long)]
    password: Option<String>,
    /// Client id prefix.
    #[arg(long, default_value = "bench")]
    prefix: String,
    /// Local addresses to connect from, round robin (e.g. 127.0.0.1,127.0.0.2 for more ports).
    #[arg(long = "ifaddr", value_delimiter = ',')]
    ifaddr: Vec<IpAddr>,
    /// MQTT over TLS (with --ws: WebSocket over TLS). Needs --cacert or --insecure.
    #[arg(short = 'S', long, alias = "ssl")]
    tls: bool,
    /// CA certificates (PEM) the broker's certificate is verified against.
    #[arg(long, alias = "cacertfile", value_name = "FILE")]
    cacert: Option<PathBuf>,
    /// Client certificate chain (PEM) for mutual TLS; needs --keyfile.
    #[arg(long, value_name = "FILE")]
    certfile: Option<PathBuf>,
    /// Private key (PEM) of --certfile.
    #[arg(long, value_name = "FILE")]
    keyfile: Option<PathBuf>,
    /// Accept any broker certificate (no verification).
    #[arg(long)]
    insecure: bool,
    /// MQTT over WebSocket (subprotocol `mqtt`, one binary message per write batch).
    #[arg(long)]
    ws: bool,
    /// HTTP path of the broker's WebSocket endpoint.
    #[arg(long, default_value = "/mqtt", value_name = "PATH")]
    ws_path: String,
    /// Bound on the run in seconds.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Broker process ids (comma separated): adds their CPU per message and memory, summed, to
    /// the summary.
    #[arg(long, value_delimiter = ',')]
    broker_pid: Vec<u32>,
    /// Subscribers connect to this port of the same host instead of -p (another node of a cluster,
    /// a linked cluster, a bridged broker); a warm-up message must reach them before the measured phase.
    #[arg(long)]
    sub_port: Option<u16>,
    /// Write the JSON summary here instead of stdout.
    #[arg(long)]
    json: Option<PathBuf>,
    /// No progress lines.
    #[arg(long)]
    quiet: bool,
    /// Runtime worker threads (1 keeps the generator on one core).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Threads, each with its own single-threaded runtime, that the idle connections' handshakes
    /// are dealt over (on loopback a connect costs the generator more than the broker's accept).
    #[arg(long, default_value_t = 1)]
    conn_threads: usize,
}

impl Common {
    /// The transport the flags describe; the TLS configuration is built (files read) once here.
    fn transport(&self) -> anyhow::Result<Transport> {
        if !self.tls && (self.cacert.is_some() || self.certfile.is_some() || self.insecure) {
            bail!("--cacert, --certfile and --insecure need --tls");
        }
        if !self.ws && self.ws_path != "/mqtt" {
            bail!("--ws-path needs --ws");
        }
        let path = self.ws_path.clone();
        if !self.tls {
            return Ok(if self.ws {
                Transport::Ws { path }
            } else {
                Transport::Tcp
            });
        }
        let mut tls = match (&self.cacert, self.insecure) {
            (Some(_), true) => bail!("--cacert and --insecure: choose one"),
            (None, false) => {
                bail!("--tls needs --cacert FILE to verify the broker (or --insecure)")
            }
            (Some(ca), false) => TlsOptions::new().ca_file(ca),
            (None, true) => TlsOptions::insecure(),
        };
        match (&self.certfile, &self.keyfile) {
            (Some(c), Some(k)) => tls = tls.client_cert_files(c, k),
            (None, None) => {}
            _ => bail!("--certfile and --keyfile go together"),
        }
        let config = tls.client_config().context("TLS setup")?;
        let tls = TlsOptions::new().rustls_config(config);
        Ok(if self.ws {
            Transport::Wss { tls, path }
        } else {
            Transport::Tls(tls)
        })
    }

    fn plan(&self, name: &str) -> anyhow::Result<Plan> {
        let transport = self.transport()?;
        let port = self.port.unwrap_or(match (self.tls, self.ws) {
            (false, false) => 1883,
            (true, false) => 8883,
            (false, true) => 8083,
            (true, true) => 8084,
        });
        let protocol = match self.version {
            3 => Protocol::V31,
            4 => Protocol::V311,
            5 => Protocol::V5,
            v => bail!("-V {v}: expected 3, 4 or 5"),
        };
        let addr: SocketAddr = (self.host.as_str(), port)
            .to_socket_addrs()
            .with_context(|| format!("resolve {}", self.host))?
            .next()
            .with_context(|| format!("{} has no address", self.host))?;
        let conn_rate = if self.conn_rate > 0.0 {
            self.conn_rate
        } else if self.conn_interval_ms > 0.0 {
            1000.0 / self.conn_interval_ms
        } else {
            0.0
        };
        Ok(Plan {
            name: name.into(),
            target: Target {
                addr,
                authority: if self.host.contains(':') {
                    format!("[{}]:{port}", self.host)
                } else {
                    format!("{}:{port}", self.host)
                },
                transport,
                protocol,
                keep_alive: self.keepalive,
                username: self.username.clone(),
                password: self.password.clone(),
                ifaddrs: self.ifaddr.clone(),
                clean_start: true,
            },
            client_prefix: format!("{}-{}", self.prefix, std::process::id()),
            idle: None,
            sub: None,
            publ: None,
            fanout: 0,
            conn_rate,
            conn_concurrency: self.concurrency,
            conn_threads: self.conn_threads.max(1),
            duration: Duration::from_secs_f64(self.duration),
            drain: Duration::from_secs(2),
            sub_target: None,
            broker_pids: self.broker_pid.clone(),
            quiet: self.quiet,
        })
    }
}

fn qos(q: u8) -> anyhow::Result<QoS> {
    QoS::from_u8(q).with_context(|| format!("QoS {q}: expected 0, 1 or 2"))
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Before any other thread exists (see `linkmq_fdlimit`): room for the open-files limit, at
    // most 65,536 descriptors (512 KiB of kernel memory).
    let limit = linkmq_fdlimit::raise_nofile_limit(None).now;
    linkmq_fdlimit::pregrow_fd_table(limit.min(65_536));
    let (mut plan, common) = match cli.command {
        Cmd::Conn { common, hold } => {
            let mut plan = common.plan("conn")?;
            plan.idle = Some(IdlePlan {
                count: common.count,
                hold: Duration::from_secs_f64(hold),
            });
            (plan, common)
        }
        Cmd::Pub {
            common,
            topic,
            qos: q,
            size,
            interval_ms,
            rate,
            limit,
            inflight,
            retain,
        } => {
            let mut plan = common.plan("pub")?;
            let pacing = match rate {
                Some(r) if r > 0.0 => Pacing::Rate(r / common.count.max(1) as f64),
                _ if interval_ms > 0.0 => Pacing::Rate(1000.0 / interval_ms),
                _ => Pacing::Unpaced,
            };
            plan.publ = Some(PubPlan {
                count: common.count,
                topic,
                qos: qos(q)?,
                size,
                retain,
                limit,
                pacing,
                inflight,
            });
            (plan, common)
        }
        Cmd::Sub {
            common,
            topic,
            qos: q,
            limit,
        } => {
            let mut plan = common.plan("sub")?;
            plan.sub = Some(SubPlan {
                count: common.count,
                filter: topic,
                qos: qos(q)?,
                limit,
            });
            (plan, common)
        }
        Cmd::Relay { host, port } => return relay::run(SocketAddr::new(host, port)),
        Cmd::Scenario {
            name,
            common,
            quick,
            list,
        } => {
            if list {
                for (n, d) in scenario::SCENARIOS {
                    println!("{n}\t{d}");
                }
                return Ok(());
            }
            let Some(name) = name else {
                bail!("scenario: give a NAME or --list");
            };
            let plan = scenario::plan(&name, quick, common.plan(&name)?)?;
            (plan, common)
        }
    };
    if let Some(port) = common.sub_port {
        plan.sub_target = Some(multi::on_port(&plan.target, port));
    }
    let rt = if common.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(common.threads)
            .enable_all()
            .build()?
    };
    let summary = rt.block_on(run::run(plan))?;
    let text = serde_json::to_string_pretty(&summary)?;
    match &common.json {
        Some(path) => std::fs::write(path, text + "\n")
            .with_context(|| format!("write {}", path.display()))?,
        None => println!("{text}"),
    }
    Ok(())
}
