//! End-to-end checks of the real `linkmq` binary: `start -c FILE`, SIGTERM, `check-config`, `EMQX_*`
//! environment overrides and the embedded default configuration.
//!
//! Cargo builds a package's binaries only for that package's own integration tests, so the first
//! test here runs `cargo build -p linkmq --bin linkmq` into the same target directory and profile
//! (a no-op when it is up to date).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use bytes::Bytes;
use linkmq_client::{Client, ClientError, ConnectOptions, Event, RawConnection};
use linkmq_codec::{Packet, Protocol, Publish, QoS, ReasonCode};
use linkmq_tests::{BrokerProcess, TestDir, expect_publish, free_port};

/// The `linkmq` binary, built once per test process.
fn bin() -> PathBuf {
    linkmq_tests::built_linkmq_bin()
}

/// Runs `linkmq ARGS` to completion (for `check-config`).
fn linkmq(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(bin());
    c.args(args)
        .env_remove("LINKMQ_CONFIG")
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run linkmq")
}

/// Polls `child` until it exits, at most `within`.
fn wait_exit(child: &mut Child, within: Duration) -> Option<ExitStatus> {
    let until = Instant::now() + within;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return Some(status);
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn sigterm(child: &Child) {
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -TERM failed");
}

/// Starts the binary with `extra` HOCON (like [`BrokerProcess::start`]) plus `env`, logging to a
/// file in the process's directory.
fn start_with_env(extra: &str, env: &[(&str, &str)]) -> BrokerProcess {
    let port = free_port();
    let dir = TestDir::new("linkmq-bin");
    let conf = dir.join("emqx.conf");
    std::fs::write(
        &conf,
        format!(
            "node.name = \"bin-{port}@127.0.0.1\"\nnode.data_dir = \"{}\"\nlisteners.tcp.default.bind = \"127.0.0.1:{port}\"\n{extra}\n",
            dir.join("data").display()
        ),
    )
    .expect("write config");
    let log = std::fs::File::create(dir.join("stderr.log")).expect("log file");
    let mut c = Command::new(bin());
    c.args(["start", "-c"])
        .arg(&conf)
        .env_remove("LINKMQ_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        c.env(k, v);
    }
    let child = c.spawn().expect("spawn linkmq");
    let mut p = BrokerProcess { child, port, dir };
    wait_listening(&mut p.child, port, &p.dir.join("stderr.log"));
    p
}

/// Waits until something accepts on 127.0.0.1:`port` and the broker has said so on stderr (it
/// serves before it prints); panics with the log if the process exits.
fn wait_listening(child: &mut Child, port: u16, log: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            && std::fs::read_to_string(log).is_ok_and(|t| t.contains(&format!(":{port} (")))
        {
            return;
        }
        if let Some(status) = child.try_wait().expect("try_wait") {
            panic!(
                "linkmq exited ({status}) before listening on {port}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("linkmq did not listen on {port} within 20 s");
}

// ---- linkmq start -c FILE ----

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_with_config_file_serves_mqtt_v5_and_v311() {
    bin();
    let p = BrokerProcess::start("mqtt.max_inflight = 8");
    let (sub, ack) = Client::connect(ConnectOptions::new(p.addr(), "bin-sub"))
        .await
        .unwrap();
    assert_eq!(ack.reason, ReasonCode::Success);
    let (publ, _) =
        Client::connect(ConnectOptions::new(p.addr(), "bin-pub").protocol(Protocol::V311))
            .await
            .unwrap();
    sub.subscribe("bin/#", QoS::ExactlyOnce).await.unwrap();
    for qos in [QoS::AtMostOnce, QoS::AtLeastOnce, QoS::ExactlyOnce] {
        publ.publish("bin/a", format!("m{}", qos as u8), qos, false)
            .await
            .unwrap();
        let m = expect_publish(&sub).await;
        assert_eq!((m.topic.as_str(), m.qos), ("bin/a", qos));
        assert_eq!(&m.payload[..], format!("m{}", qos as u8).as_bytes());
    }
    // The file's mqtt.max_inflight is the Receive Maximum announced to v5 clients.
    assert_eq!(ack.properties.receive_maximum, Some(8));
}

// ---- SIGTERM ----

/// SIGTERM: every v5 client gets DISCONNECT 0x8B (Server shutting down), v3 clients see the
/// connection close, and the process exits 0 within a few seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_sends_disconnect_0x8b_to_v5_clients_and_exits_0() {
    bin();
    let mut p = BrokerProcess::start("");
    let (v5, _) = Client::connect(ConnectOptions::new(p.addr(), "bin-v5"))
        .await
        .unwrap();
    let (v3, _) = Client::connect(ConnectOptions::new(p.addr(), "bin-v3").protocol(Protocol::V311))
        .await
        .unwrap();
    v5.subscribe("x", QoS::AtLeastOnce).await.unwrap();
    sigterm(&p.child);
    match v5.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::ServerShuttingDown),
        other => panic!("expected DISCONNECT 0x8B, got {other:?}"),
    }
    match v3.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Closed) => {}
        other => panic!("expected the v3.1.1 connection to close, got {other:?}"),
    }
    let status = tokio::task::block_in_place(|| wait_exit(&mut p.child, Duration::from_secs(5)))
        .expect("linkmq still running 5 s after SIGTERM");
    assert_eq!(
        status.code(),
        Some(0),
        "exit status after SIGTERM: {status}"
    );
}

// ---- check-config ----

#[test]
fn check_config_accepts_the_repository_etc_emqx_conf() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc/emqx.conf");
    let out = linkmq(&["check-config", "-c", conf.to_str().unwrap()], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check-config rejected etc/emqx.conf: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.trim(), format!("config ok: {}", conf.display()));
}

#[test]
fn check_config_without_file_checks_the_embedded_default() {
    let out = linkmq(&["check-config"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "config ok: (embedded default)"
    );
}

/// A bad value: non-zero exit, and the message names the file, the line (and column) and the key.
#[test]
fn check_config_rejects_a_broken_file_naming_file_line_and_key() {
    let dir = TestDir::new("linkmq-badconf");
    let conf = dir.join("broken.conf");
    std::fs::write(
        &conf,
        "node.name = \"a@127.0.0.1\"\n\nmqtt {\n  max_inflight = 4\n  max_packet_size = lots\n}\n",
    )
    .unwrap();
    let out = linkmq(&["check-config", "-c", conf.to_str().unwrap()], &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "a broken file was accepted");
    assert!(
        stderr.contains(&format!("{}:5:3: mqtt.max_packet_size:", conf.display())),
        "message does not name file:line:col and key: {stderr}"
    );
    assert!(
        stderr.contains("lots"),
        "message does not quote the value: {stderr}"
    );
}

/// An `EMQX_*` value that does not parse is rejected naming the variable and the key.
#[test]
fn check_config_rejects_a_bad_env_override_naming_the_variable() {
    let out = linkmq(&["check-config"], &[("EMQX_MQTT__MAX_PACKET_SIZE", "huge")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("EMQX_MQTT__MAX_PACKET_SIZE") && stderr.contains("mqtt.max_packet_size"),
        "{stderr}"
    );
}

// ---- EMQX_ environment overrides ----

/// Sends CONNECT (v5) and a QoS 1 PUBLISH of `size` payload bytes on a raw connection; returns
/// CONNACK's Maximum Packet Size and the broker's answer to the PUBLISH.
async fn publish_raw(addr: &str, size: usize) -> (Option<u32>, Option<Packet>) {
    let mut raw = RawConnection::connect(addr).await.unwrap();
    let connect = ConnectOptions::new(addr, format!("raw-{size}")).connect_packet();
    raw.send(&Packet::Connect(Box::new(connect)), Protocol::V5)
        .await
        .unwrap();
    let max = match raw.recv(Protocol::V5, Duration::from_secs(5)).await {
        Ok(Some(Packet::ConnAck(ack))) => {
            assert_eq!(ack.reason, ReasonCode::Success);
            ack.properties.maximum_packet_size
        }
        other => panic!("expected CONNACK, got {other:?}"),
    };
    let publish = Publish {
        qos: QoS::AtLeastOnce,
        topic: "big".into(),
        pkid: 1,
        payload: Bytes::from(vec![b'x'; size]),
        ..Default::default()
    };
    raw.send(&Packet::Publish(publish), Protocol::V5)
        .await
        .unwrap();
    match raw.recv(Protocol::V5, Duration::from_secs(5)).await {
        Ok(p) => (max, p),
        Err(ClientError::Io(_)) => (max, None), // reset after the DISCONNECT
        Err(e) => panic!("after PUBLISH: {e:?}"),
    }
}

/// `EMQX_MQTT__MAX_PACKET_SIZE=2KB` wins over the default 1MB: CONNACK announces 2048 and a 4 KB
/// PUBLISH is refused with DISCONNECT 0x95, while a 1 KB one is acknowledged; without the variable
/// the same 4 KB PUBLISH is acknowledged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_max_packet_size_2kb_refuses_a_4kb_publish() {
    bin();
    let limited = start_with_env("", &[("EMQX_MQTT__MAX_PACKET_SIZE", "2KB")]);
    let (max, answer) = publish_raw(&limited.addr(), 1024).await;
    assert_eq!(max, Some(2048));
    assert!(
        matches!(answer, Some(Packet::PubAck(ref a)) if a.pkid == 1),
        "{answer:?}"
    );
    let (_, answer) = publish_raw(&limited.addr(), 4096).await;
    match answer {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason, ReasonCode::PacketTooLarge),
        other => panic!("expected DISCONNECT 0x95 for a 4 KB publish, got {other:?}"),
    }

    let default = start_with_env("", &[]);
    let (max, answer) = publish_raw(&default.addr(), 4096).await;
    assert_eq!(max, Some(1 << 20));
    assert!(
        matches!(answer, Some(Packet::PubAck(ref a)) if a.pkid == 1),
        "{answer:?}"
    );
}

/// The environment also wins over a value set in the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn env_override_wins_over_the_file() {
    bin();
    let p = start_with_env(
        "mqtt.max_packet_size = 64KB",
        &[("EMQX_MQTT__MAX_PACKET_SIZE", "3KB")],
    );
    let (max, _) = publish_raw(&p.addr(), 10).await;
    assert_eq!(max, Some(3072));
}

// ---- linkmq start without -c ----

/// Without `-c` the embedded etc/emqx.conf is used: MQTT on 0.0.0.0:1883 and node name
/// `linkmq@127.0.0.1` (seen in `$SYS/brokers/<node>/version`). Skipped when 1883 is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_without_config_uses_the_embedded_default_on_1883() {
    let bin = bin();
    if let Err(e) = std::net::TcpListener::bind("0.0.0.0:1883") {
        println!("SKIPPED the 1883 assertion: port 1883 is not free here ({e})");
        return;
    }
    let dir = TestDir::new("linkmq-default");
    let log = dir.join("stderr.log");
    let child = Command::new(bin)
        .arg("start")
        .current_dir(&dir)
        .env_remove("LINKMQ_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("spawn linkmq start");
    let mut p = BrokerProcess {
        child,
        port: 1883,
        dir,
    };
    wait_listening(&mut p.child, 1883, &log);
    let c = Client::connect(ConnectOptions::new("127.0.0.1:1883", "default-cfg"))
        .await
        .unwrap()
        .0;
    c.subscribe("$SYS/brokers/+/version", QoS::AtMostOnce)
        .await
        .unwrap();
    let m = expect_publish(&c).await;
    assert_eq!(m.topic, "$SYS/brokers/linkmq@127.0.0.1/version");
    assert_eq!(&m.payload[..], env!("CARGO_PKG_VERSION").as_bytes());
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        stderr.contains("listening on 0.0.0.0:1883 (tcp:default)"),
        "{stderr}"
    );
    sigterm(&p.child);
    let status = tokio::task::block_in_place(|| wait_exit(&mut p.child, Duration::from_secs(5)))
        .expect("linkmq still running 5 s after SIGTERM");
    assert!(status.success(), "{status}");
}

// ---- an idle broker ----

/// Sleeps of each thread of `pid` so far, by thread id (each sleep is a wake-up to come or past).
/// Each thread's name and voluntary context switches, by thread id.
fn voluntary_switches(pid: u32) -> std::collections::HashMap<String, (String, u64)> {
    let mut threads = std::collections::HashMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("read /proc/PID/task") {
        let task = task.expect("task entry");
        let (Ok(status), Ok(name)) = (
            std::fs::read_to_string(task.path().join("status")),
            std::fs::read_to_string(task.path().join("comm")),
        ) else {
            continue; // the thread ended meanwhile
        };
        let count = status
            .lines()
            .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0);
        threads.insert(
            task.file_name().to_string_lossy().into_owned(),
            (name.trim().to_string(), count),
        );
    }
    threads
}

/// A lone node with no client wakes only for its own timers, about 6 times a second, and for no
/// polling: the cluster's membership watch, which looked every 100 ms, waits for Raft to report a
/// change when the node has no peer (about 24 wake-ups a second before), and the link rate sampler
/// sleeps while there is no link. Raft's timer (every 375 ms) wakes Raft's own thread, not the
/// client workers, which wake less than twice a second (2.7 times more, before Raft had its thread):
/// every wake-up of a worker that meets a client's packet makes it hand the packet to the other
/// worker. Counted, not timed: a sleep of a thread is a wake-up, however loaded the machine.
#[test]
fn an_idle_lone_broker_is_not_woken_by_polling() {
    let p = BrokerProcess::start("");
    // Past the start (discovery, the first Raft election and log writes).
    std::thread::sleep(Duration::from_secs(2));
    let pid = p.child.id();
    let before = voluntary_switches(pid);
    let window = Duration::from_secs(5);
    std::thread::sleep(window);
    // Per thread: one that ended in between takes its count with it, one that began brings its own.
    let after = voluntary_switches(pid);
    let woken = |only: Option<&str>| -> u64 {
        after
            .iter()
            .filter(|(_, (name, _))| only.is_none_or(|o| name == o))
            .map(|(tid, (_, n))| n.saturating_sub(before.get(tid).map_or(0, |b| b.1)))
            .sum()
    };
    let secs = window.as_secs_f64();
    let (all, workers) = (woken(None), woken(Some("tokio-rt-worker")));
    assert!(
        all as f64 / secs < 15.0,
        "an idle lone broker slept and woke {all} times in {window:?} ({:.1}/s)",
        all as f64 / secs
    );
    assert!(
        after.values().any(|(name, _)| name == "linkmq-raft"),
        "Raft runs on its own thread: {after:?}"
    );
    assert!(
        workers as f64 / secs < 2.0,
        "the client workers of an idle lone broker woke {workers} times in {window:?} ({:.1}/s)",
        workers as f64 / secs
    );
}
