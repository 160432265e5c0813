//! Interop with the Eclipse Mosquitto command-line clients (`mosquitto_pub`, `mosquitto_sub`,
//! Debian package mosquitto-clients) over MQTT 3.1.1 (`-V mqttv311`) and 5 (`-V mqttv5`).
//!
//! Each test starts an in-process broker, runs the real commands against it with timeouts and
//! asserts on their exit codes and output (`mosquitto_sub -F` prints topic, QoS, retain flag, user
//! properties and payload). The clients are required (`.ci/run` installs them): without them these
//! tests fail, loudly.

use std::process::{Output, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use linkmq_client::Event;
use linkmq_codec::{Properties, Publish, QoS, ReasonCode};
use linkmq_tests::TestBroker;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, Command};

const CMD_TIMEOUT: Duration = Duration::from_secs(15);

/// Panics with instructions when mosquitto_pub / mosquitto_sub are missing.
fn require_mosquitto() {
    static CHECK: OnceLock<Result<(), String>> = OnceLock::new();
    let check = CHECK.get_or_init(|| {
        for cmd in ["mosquitto_pub", "mosquitto_sub"] {
            // `--help` exits non-zero, so only "could not run" counts as missing.
            std::process::Command::new(cmd)
                .arg("--help")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .map_err(|e| format!("cannot run {cmd}: {e}"))?;
        }
        Ok(())
    });
    if let Err(e) = check {
        panic!(
            "mosquitto interop tests need mosquitto_pub and mosquitto_sub ({e}); \
             install them with `apt-get install -y mosquitto-clients` (`bash .ci/run` does)"
        );
    }
}

/// `-h 127.0.0.1 -p PORT -V VERSION`.
fn base_args(b: &TestBroker, version: &str) -> Vec<String> {
    vec![
        "-h".into(),
        "127.0.0.1".into(),
        "-p".into(),
        b.addr.port().to_string(),
        "-V".into(),
        version.into(),
    ]
}

fn command(name: &str, b: &TestBroker, version: &str, args: &[&str]) -> Command {
    require_mosquitto();
    let mut c = Command::new(name);
    c.args(base_args(b, version))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

/// Starts `mosquitto_sub` and waits until the broker has a subscription matching `topic` (so the
/// caller must not have subscribed anything else matching it yet).
async fn sub(b: &TestBroker, version: &str, topic: &str, args: &[&str]) -> Child {
    let router = &b.node.broker.router;
    let mut c = command("mosquitto_sub", b, version, args);
    c.stdin(Stdio::null());
    let child = c.spawn().expect("spawn mosquitto_sub");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !router.has_match(topic) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "mosquitto_sub {args:?} did not subscribe to a filter matching {topic} within 5 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    child
}

/// Waits (bounded) for a spawned command.
async fn finish(child: Child, what: &str) -> Output {
    tokio::time::timeout(CMD_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not exit within {CMD_TIMEOUT:?}"))
        .expect("wait for mosquitto client")
}

/// Runs a command to completion, with `input` on stdin.
async fn run(mut c: Command, input: &str, what: &str) -> Output {
    c.stdin(Stdio::piped());
    let mut child = c.spawn().unwrap_or_else(|e| panic!("spawn {what}: {e}"));
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(input.as_bytes())
        .await
        .expect("write stdin");
    drop(stdin);
    finish(child, what).await
}

async fn publish(b: &TestBroker, version: &str, args: &[&str]) -> Output {
    let out = run(
        command("mosquitto_pub", b, version, args),
        "",
        "mosquitto_pub",
    )
    .await;
    assert_success(&out, &format!("mosquitto_pub {args:?}"));
    out
}

fn assert_success(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed ({}): stdout {:?} stderr {:?}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const V311: &str = "mqttv311";
const V5: &str = "mqttv5";

// ---- pub/sub at each QoS ----

/// A message published at QoS n to a subscription granted QoS n arrives at QoS n, not retained.
async fn pub_sub_each_qos(version: &str) {
    let b = TestBroker::start().await;
    for qos in ["0", "1", "2"] {
        let topic = format!("interop/mosq/{version}/q{qos}");
        let s = sub(
            &b,
            version,
            &topic,
            &[
                "-t",
                &topic,
                "-q",
                qos,
                "-C",
                "1",
                "-W",
                "10",
                "-F",
                "%t %q %r %p",
            ],
        )
        .await;
        publish(
            &b,
            version,
            &["-t", &topic, "-q", qos, "-m", &format!("m{qos}")],
        )
        .await;
        let out = finish(s, "mosquitto_sub").await;
        assert_success(&out, "mosquitto_sub");
        assert_eq!(stdout(&out), format!("{topic} {qos} 0 m{qos}\n"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v311_pub_sub_at_qos_0_1_2() {
    pub_sub_each_qos(V311).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_pub_sub_at_qos_0_1_2() {
    pub_sub_each_qos(V5).await;
}

// ---- -C counts ----

/// `mosquitto_sub -C 3` exits 0 after exactly the first three of five messages, in order.
async fn count_limit(version: &str) {
    let b = TestBroker::start().await;
    let topic = format!("interop/mosq/{version}/count");
    let s = sub(
        &b,
        version,
        &topic,
        &["-t", &topic, "-q", "1", "-C", "3", "-W", "10", "-F", "%p"],
    )
    .await;
    // `-l`: one message per stdin line.
    let p = run(
        command(
            "mosquitto_pub",
            &b,
            version,
            &["-t", &topic, "-q", "1", "-l"],
        ),
        "one\ntwo\nthree\nfour\nfive\n",
        "mosquitto_pub -l",
    )
    .await;
    assert_success(&p, "mosquitto_pub -l");
    let out = finish(s, "mosquitto_sub -C 3").await;
    assert_success(&out, "mosquitto_sub -C 3");
    assert_eq!(stdout(&out), "one\ntwo\nthree\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v311_sub_count_stops_after_n_messages() {
    count_limit(V311).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_sub_count_stops_after_n_messages() {
    count_limit(V5).await;
}

// ---- retained ----

/// `mosquitto_pub -r` stores the message: a later subscriber gets it with RETAIN=1; `-r -n`
/// (empty retained message) clears it, so `--retained-only` then sees nothing.
async fn retained(version: &str) {
    let b = TestBroker::start().await;
    let topic = format!("interop/mosq/{version}/retained");
    publish(&b, version, &["-t", &topic, "-q", "1", "-r", "-m", "kept"]).await;
    let s = command(
        "mosquitto_sub",
        &b,
        version,
        &[
            "-t",
            &topic,
            "-q",
            "1",
            "-C",
            "1",
            "-W",
            "5",
            "-F",
            "%t %q %r %p",
        ],
    );
    let out = run(s, "", "mosquitto_sub (retained)").await;
    assert_success(&out, "mosquitto_sub (retained)");
    assert_eq!(stdout(&out), format!("{topic} 1 1 kept\n"));

    publish(&b, version, &["-t", &topic, "-q", "1", "-r", "-n"]).await;
    let s = command(
        "mosquitto_sub",
        &b,
        version,
        &["-t", &topic, "--retained-only", "-W", "1", "-F", "%t %p"],
    );
    let out = run(s, "", "mosquitto_sub --retained-only").await;
    assert_eq!(
        stdout(&out),
        "",
        "a cleared retained message was still delivered"
    );
    assert!(
        b.node.broker.retained.get(&topic).is_none(),
        "{topic} still retained"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v311_retained_set_and_cleared() {
    retained(V311).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_retained_set_and_cleared() {
    retained(V5).await;
}

// ---- v5 user properties ----

/// User properties from `mosquitto_pub -D publish user-property k v` are forwarded unaltered and
/// in order ([MQTT-3.3.2-17], [MQTT-3.3.2-18]) to mosquitto_sub and to our client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_3_3_2_18_mosquitto_v5_user_properties_forwarded_in_order() {
    let b = TestBroker::start().await;
    let topic = "interop/mosq/props";
    let s = sub(
        &b,
        V5,
        topic,
        &[
            "-t", topic, "-q", "1", "-C", "1", "-W", "10", "-F", "%t %P %p",
        ],
    )
    .await;
    let ours = b.client("props-reader").await;
    ours.subscribe(topic, QoS::AtLeastOnce).await.unwrap();
    // The same key twice is allowed; order must be kept.
    publish(
        &b,
        V5,
        &[
            "-t",
            topic,
            "-q",
            "1",
            "-m",
            "hello",
            "-D",
            "publish",
            "user-property",
            "k",
            "v1",
            "-D",
            "publish",
            "user-property",
            "z",
            "last",
            "-D",
            "publish",
            "user-property",
            "k",
            "v2",
        ],
    )
    .await;
    let out = finish(s, "mosquitto_sub").await;
    assert_success(&out, "mosquitto_sub");
    assert_eq!(stdout(&out), format!("{topic} k:v1 z:last k:v2 hello\n"));
    match ours.recv_timeout(Duration::from_secs(5)).await {
        Some(Event::Publish(p)) => {
            assert_eq!(&p.payload[..], b"hello");
            assert_eq!(
                p.properties.user_properties,
                vec![
                    ("k".to_string(), "v1".to_string()),
                    ("z".to_string(), "last".to_string()),
                    ("k".to_string(), "v2".to_string()),
                ]
            );
        }
        other => panic!("expected the publish, got {other:?}"),
    }
}

/// The other direction: our client's user properties reach mosquitto_sub.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_sub_sees_user_properties_from_our_client() {
    let b = TestBroker::start().await;
    let topic = "interop/mosq/props-in";
    let s = sub(
        &b,
        V5,
        topic,
        &[
            "-t",
            topic,
            "-q",
            "2",
            "-C",
            "1",
            "-W",
            "10",
            "-F",
            "%t %q %P %p",
        ],
    )
    .await;
    let ours = b.client("props-writer").await;
    let rc = ours
        .publish_with(Publish {
            qos: QoS::ExactlyOnce,
            topic: topic.into(),
            payload: Bytes::from_static(b"from-linkmq-client"),
            properties: Properties::from(linkmq_codec::PropertyValues {
                user_properties: vec![("origin".into(), "rust".into())],
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(rc, ReasonCode::Success);
    let out = finish(s, "mosquitto_sub").await;
    assert_success(&out, "mosquitto_sub");
    assert_eq!(
        stdout(&out),
        format!("{topic} 2 origin:rust from-linkmq-client\n")
    );
}

/// v3.1.1 clients interoperate with v5 clients on the same topic: a v5 publish with user
/// properties reaches a v3.1.1 subscriber (which cannot see properties) with its payload intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mosquitto_v5_publish_reaches_v311_subscriber() {
    let b = TestBroker::start().await;
    let topic = "interop/mosq/mixed";
    let s = sub(
        &b,
        V311,
        topic,
        &[
            "-t", topic, "-q", "1", "-C", "1", "-W", "10", "-F", "%t %q %p",
        ],
    )
    .await;
    publish(
        &b,
        V5,
        &[
            "-t",
            topic,
            "-q",
            "1",
            "-m",
            "cross",
            "-D",
            "publish",
            "user-property",
            "a",
            "b",
        ],
    )
    .await;
    let out = finish(s, "mosquitto_sub").await;
    assert_success(&out, "mosquitto_sub");
    assert_eq!(stdout(&out), format!("{topic} 1 cross\n"));
}
