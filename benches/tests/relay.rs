//! `linkmq-bench relay`, the bare relay `cargo xtask bench` reads the brokers against: the real
//! binary on a loopback port, driven by the real generator through the scenarios it stands in
//! for, delivers every message unchanged (the payload stamps check order and sequence) and its
//! CPU time is measured as a broker's is.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_linkmq-bench");

/// The relay process, killed on drop.
struct Relay {
    child: Child,
    port: u16,
}

impl Relay {
    /// Starts the relay on a port the system picks, read from the line it prints once bound (no
    /// port chosen here that something else could take first, no probe connection).
    fn start() -> Relay {
        let mut child = Command::new(BIN)
            .args(["relay", "-p", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start relay");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read the relay's first line");
        let port = line
            .trim()
            .strip_prefix("relay listening on ")
            .and_then(|a| a.parse::<SocketAddr>().ok())
            .unwrap_or_else(|| panic!("the relay's first line names its address: {line:?}"))
            .port();
        Relay { child, port }
    }

    /// `linkmq-bench scenario NAME --quick` through the relay, with `extra` flags; its summary.
    fn scenario(&mut self, name: &str, extra: &[&str]) -> Value {
        let out = Command::new(BIN)
            .args(["scenario", name, "--quick", "--quiet", "-p"])
            .arg(self.port.to_string())
            .arg("--broker-pid")
            .arg(self.child.id().to_string())
            .args(extra)
            .stdin(Stdio::null())
            .output()
            .expect("run linkmq-bench");
        assert!(
            out.status.success(),
            "{name} failed: {} (the relay on port {}: {:?})",
            String::from_utf8_lossy(&out.stderr),
            self.port,
            self.child
                .try_wait()
                .map(|s| s.map_or("running".into(), |s| s.to_string()))
        );
        serde_json::from_slice(&out.stdout).expect("JSON summary")
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn assert_every_message_arrived(s: &Value) {
    let name = &s["name"];
    let expected = s["expected"].as_u64().expect("expected");
    assert!(expected > 0, "{name}: nothing was published");
    assert_eq!(s["received"].as_u64(), Some(expected), "{name}: {s}");
    assert_eq!(s["lost"].as_u64(), Some(0), "{name}");
    assert_eq!(s["out_of_order"].as_u64(), Some(0), "{name}");
    assert!(
        s["broker_cpu_us"].as_f64().is_some_and(|c| c > 0.0),
        "{name}: the relay's CPU time is measured: {s}"
    );
}

#[test]
fn the_relay_delivers_every_message_of_the_scenarios_it_stands_in_for() {
    let mut relay = Relay::start();
    for name in ["qos0", "qos1", "fanout", "fanin", "payload-64k"] {
        let s = relay.scenario(name, &[]);
        assert_every_message_arrived(&s);
        if name == "qos1" {
            assert_eq!(
                s["acked"], s["published"],
                "every QoS 1 PUBLISH acknowledged"
            );
        }
    }
}

#[test]
fn the_relay_answers_mqtt_3_1_1_clients_in_their_version() {
    let mut relay = Relay::start();
    let s = relay.scenario("qos1", &["-V", "4"]);
    assert_eq!(s["protocol"].as_u64(), Some(4));
    assert_every_message_arrived(&s);
}

#[test]
fn the_relay_keeps_an_open_loop_rate() {
    let mut relay = Relay::start();
    let s = relay.scenario("latency-qos1-10k", &[]);
    assert_every_message_arrived(&s);
    assert!(s["latency_us"]["count"].as_u64() > Some(0), "{s}");
}
