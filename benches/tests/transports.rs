//! `linkmq-bench` over TLS, WebSocket and WebSocket over TLS: the real binary publishes to and
//! subscribes from an in-process linkmq broker with `ssl`, `ws` and `wss` listeners (certificates
//! made by rcgen at test time), and every message published arrives.

use std::process::Stdio;
use std::time::Duration;

use linkmq_tests::TestBroker;
use linkmq_tests::pki::Pki;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

const RUN_TIMEOUT: Duration = Duration::from_secs(60);

fn port_of(b: &TestBroker, listener: &str) -> String {
    let addr = b.listener_addr(listener);
    addr.rsplit(':').next().expect("port").to_string()
}

fn bench(args: &[String]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_linkmq-bench"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Waits for the run to end; its JSON summary (panics with its stderr if it failed).
async fn summary(mut child: Child, stderr: String) -> Value {
    let mut out = String::new();
    let mut stdout = child.stdout.take().expect("stdout");
    let read = async {
        stdout.read_to_string(&mut out).await.expect("read stdout");
        child.wait().await.expect("wait")
    };
    let status = tokio::time::timeout(RUN_TIMEOUT, read)
        .await
        .expect("linkmq-bench finishes");
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err).await;
    }
    assert!(status.success(), "linkmq-bench failed:\n{stderr}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("summary {e}: {out}\n{stderr}{err}"))
}

/// Runs what `args` gives; its JSON summary.
async fn run(args: &[String]) -> Value {
    let child = bench(args).spawn().expect("start linkmq-bench");
    summary(child, String::new()).await
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// `sub` then `pub` of `n` messages at `qos` with the transport flags `transport`; both summaries.
async fn pub_sub(transport: &[String], qos: u8, n: u64) -> (Value, Value) {
    let topic = format!("bench/transport/{qos}");
    let common = |cmd: &str| {
        let mut a = strings(&[
            cmd,
            "-t",
            &topic,
            "-q",
            &qos.to_string(),
            "-L",
            &n.to_string(),
        ]);
        a.extend(strings(&["--duration", "30"]));
        a.extend(transport.iter().cloned());
        a
    };
    let mut sub = bench(&common("sub")).spawn().expect("start sub");
    // Publish only once the subscription is in place.
    let mut lines = BufReader::new(sub.stderr.take().expect("stderr")).lines();
    let mut seen = String::new();
    let subscribed = async {
        while let Some(line) = lines.next_line().await.expect("read stderr") {
            seen += &line;
            seen.push('\n');
            if line.ends_with("subscribers subscribed") {
                return true;
            }
        }
        false
    };
    let ok = tokio::time::timeout(RUN_TIMEOUT, subscribed).await;
    assert!(matches!(ok, Ok(true)), "sub did not subscribe:\n{seen}");
    let drain = tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let mut pub_args = common("pub");
    pub_args.extend(strings(&["-I", "0"]));
    let published = run(&pub_args).await;
    let received = summary(sub, seen).await;
    drain.abort();
    (published, received)
}

fn assert_all_arrived(published: &Value, received: &Value, qos: u8, n: u64) {
    assert_eq!(published["published"], n, "{published:#}");
    if qos > 0 {
        assert_eq!(published["acked"], n, "{published:#}");
    }
    assert_eq!(published["disconnected"], 0, "{published:#}");
    assert_eq!(received["received"], n, "{received:#}");
    assert_eq!(received["out_of_order"], 0, "{received:#}");
    assert_eq!(received["latency_us"]["count"], n, "{received:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_pub_sub_verified_against_the_ca_delivers_every_message() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let ca = pki.path("ca.pem").display().to_string();
    let flags = strings(&["--tls", "--cacert", &ca, "-p", &port_of(&b, "ssl:default")]);
    let (p, s) = pub_sub(&flags, 1, 500).await;
    assert_all_arrived(&p, &s, 1, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ws_pub_sub_delivers_every_message() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let flags = strings(&["--ws", "-p", &port_of(&b, "ws:default")]);
    let (p, s) = pub_sub(&flags, 0, 500).await;
    assert_all_arrived(&p, &s, 0, 500);
    let (p, s) = pub_sub(&flags, 2, 200).await;
    assert_all_arrived(&p, &s, 2, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wss_scenario_passes_the_transport_through_and_loses_nothing() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let ca = pki.path("ca.pem").display().to_string();
    let port = port_of(&b, "wss:default");
    let args = strings(&[
        "scenario",
        "latency-qos1-1k",
        "--quick",
        "--quiet",
        "--tls",
        "--ws",
        "--cacert",
        &ca,
        "-p",
        &port,
    ]);
    let s = run(&args).await;
    // Open loop at 1,000 msg/s, the publishing bounded by the scenario's time.
    let published = s["published"].as_u64().expect("published");
    assert!(published >= 500, "{s:#}");
    assert_eq!(s["received"], published, "{s:#}");
    assert_eq!(s["acked"], published, "{s:#}");
    assert_eq!(s["lost"], 0, "{s:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conn_threads_hold_every_tls_connection_on_each_thread() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.server_options()).await;
    let ca = pki.path("ca.pem").display().to_string();
    let port = port_of(&b, "ssl:default");
    let args = strings(&[
        "conn",
        "-c",
        "40",
        "--conn-threads",
        "2",
        "--hold",
        "0.3",
        "--quiet",
        "--tls",
        "--cacert",
        &ca,
        "-p",
        &port,
    ]);
    let s = run(&args).await;
    assert_eq!(s["connections"]["connected"], 40, "{s:#}");
    assert_eq!(s["connections"]["failed"], 0, "{s:#}");
    assert_eq!(
        s["disconnected"], 0,
        "the broker closed none of them while held: {s:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_needs_the_client_certificate_and_a_trusted_ca() {
    let pki = Pki::new();
    let b = TestBroker::start_all_transports(&pki.mtls_options(true)).await;
    let ca = pki.path("ca.pem").display().to_string();
    let (cert, key) = pki.client("bench", "bench-client", None, None);
    let port = port_of(&b, "ssl:default");
    let conn = |extra: &[&str]| {
        let mut a = strings(&["conn", "-c", "3", "--hold", "0", "--quiet", "-p", &port]);
        a.extend(strings(extra));
        a
    };
    let (cert, key) = (cert.display().to_string(), key.display().to_string());
    let with_cert = [
        "--tls",
        "--cacert",
        &ca,
        "--certfile",
        &cert,
        "--keyfile",
        &key,
    ];
    let s = run(&conn(&with_cert)).await;
    assert_eq!(s["connections"]["connected"], 3, "{s:#}");

    // Without a client certificate the broker refuses the handshake.
    let s = run(&conn(&["--tls", "--cacert", &ca])).await;
    assert_eq!(s["connections"]["connected"], 0, "{s:#}");
    assert_eq!(s["connections"]["failed"], 3, "{s:#}");

    // A broker certificate from another CA is refused by the bench, unless --insecure.
    let other = Pki::new();
    let other_ca = other.path("ca.pem").display().to_string();
    let mut wrong_ca = with_cert;
    wrong_ca[2] = &other_ca;
    let s = run(&conn(&wrong_ca)).await;
    assert_eq!(s["connections"]["failed"], 3, "{s:#}");
    let s = run(&conn(&[
        "--tls",
        "--insecure",
        "--certfile",
        &cert,
        "--keyfile",
        &key,
    ]))
    .await;
    assert_eq!(s["connections"]["connected"], 3, "{s:#}");
}

#[tokio::test]
async fn tls_flags_without_their_counterpart_are_refused() {
    for (args, why) in [
        (&["--tls"][..], "--tls needs --cacert FILE"),
        (&["--cacert", "ca.pem"][..], "need --tls"),
        (
            &["--tls", "--insecure", "--certfile", "c.pem"][..],
            "go together",
        ),
        (&["--ws-path", "/x"][..], "--ws-path needs --ws"),
    ] {
        let mut a = strings(&["conn", "--quiet"]);
        a.extend(strings(args));
        let out = bench(&a).output().await.expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            !out.status.success() && err.contains(why),
            "{args:?}: {err}"
        );
    }
}
