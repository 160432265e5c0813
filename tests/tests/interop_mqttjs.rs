//! Interop with MQTT.js (the npm `mqtt` package, 4.x; Debian package node-mqtt) over MQTT 3.1.1 and
//! 5, over TCP (`mqtt://`) and WebSocket (`ws://host:port/mqtt`, the path EMQX uses), and over TLS
//! (`mqtts://`) and WebSocket over TLS (`wss://`) with MQTT.js verifying the server certificate.
//!
//! Each test runs one scenario of `tests/interop/mqttjs_scenarios.js` once per transport, against a
//! fresh node started from configuration (a `tcp` and a `ws` listener, and an `acl.conf`); the
//! script prints one line per observation (payloads, QoS, flags, v5 properties, reason codes as
//! MQTT.js reports them) and the test asserts the exact lines. The TLS tests run
//! `tests/interop/mqttjs_tls.js` (the same scenarios, plus certificate checks) against a fresh
//! in-process node with `ssl` and `wss` listeners and a CA and server certificate made for the
//! test, which MQTT.js is given as `ca` with `rejectUnauthorized: true`. `node` and node-mqtt are
//! required (`.ci/run` installs them): without them these tests fail, loudly.

mod access_support;

use std::path::PathBuf;
use std::time::Duration;

use access_support::ConfNode;
use linkmq_tests::TestBroker;
use linkmq_tests::pki::{Ca, Pki};
use linkmq_tests::script::{self, lines};

/// Upper bound for one scenario run (the longest takes about 5 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);

/// Where Debian installs node modules (`/usr/share/nodejs/mqtt`); a `node` not from Debian's
/// nodejs package does not look there by itself.
const DEBIAN_NODE_PATH: &str = "/usr/share/nodejs";

const ACL: &str = r#"{deny, all, subscribe, ["interop/js/acl/denied/#"]}.
{deny, all, publish, ["interop/js/acl/nopub/#"]}.
{allow, all}.
"#;

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/mqttjs_scenarios.js")
}

/// NODE_PATH with Debian's module directory first.
fn node_path() -> String {
    match std::env::var("NODE_PATH") {
        Ok(p) if !p.is_empty() => format!("{DEBIAN_NODE_PATH}:{p}"),
        _ => DEBIAN_NODE_PATH.to_owned(),
    }
}

/// Panics with instructions when node or the mqtt module is missing.
fn require_mqttjs() {
    script::require(
        std::process::Command::new("node")
            .args([
                "-e",
                "require('mqtt'); console.log(require('mqtt/package.json').version)",
            ])
            .env("NODE_PATH", node_path()),
        "node and MQTT.js",
        "apt-get install -y nodejs node-mqtt",
    );
}

/// A node with `tcp:default` and `ws:default` on ephemeral loopback ports and the ACL above.
async fn broker() -> ConfNode {
    ConfNode::start(
        "listeners.ws.default.bind = \"127.0.0.1:0\"\n\
         authorization {\n  sources = [{ type = file, enable = true, path = \"etc/acl.conf\" }]\n}",
        &[("etc/acl.conf", ACL)],
    )
    .await
}

/// The URL MQTT.js connects to for `transport` ("tcp" or "ws").
fn url(n: &ConfNode, transport: &str) -> String {
    let addr = |name: &str| linkmq_tests::listener_addr(&n.node, name);
    match transport {
        "tcp" => format!("mqtt://{}", addr("tcp:default")),
        "ws" => format!("ws://{}/mqtt", addr("ws:default")),
        other => panic!("unknown transport {other}"),
    }
}

/// Runs `scenario` at `version` ("311" or "5") against `url`; returns stdout lines after asserting
/// that the script exited 0 and ended with "DONE".
async fn mqttjs(url: &str, scenario: &str, version: &str) -> Vec<String> {
    require_mqttjs();
    let mut run = tokio::process::Command::new("node");
    run.arg(script())
        .args([scenario, url, version])
        .env("NODE_PATH", node_path());
    let what = format!("MQTT.js {scenario} v{version} at {url}");
    script::script_lines(run, &what, SCRIPT_TIMEOUT).await
}

/// Runs the scenario over TCP, then over WebSocket (a fresh node each), asserting `expected`.
async fn over_tcp_and_ws(scenario: &str, version: &str, expected: &[String]) {
    for transport in ["tcp", "ws"] {
        let n = broker().await;
        let got = mqttjs(&url(&n, transport), scenario, version).await;
        assert_eq!(got, expected, "{scenario} v{version} over {transport}");
        n.node.shutdown().await;
    }
}

// ---- publish / subscribe at QoS 0, 1, 2 ----

/// Delivered QoS is min(publish QoS, granted QoS) ([MQTT-3.8.4-8], v5 3.8.4); MQTT.js completes the
/// QoS 2 exchanges in both directions.
fn pubsub(v: &str) -> Vec<String> {
    let t = format!("interop/v{v}/pubsub");
    lines(&[
        &format!("RECV {t} qos=0 retain=0 payload=q0"),
        &format!("RECV {t} qos=1 retain=0 payload=q1"),
        &format!("RECV {t} qos=2 retain=0 payload=q2"),
        &format!("LOW RECV {t} qos=0 retain=0 payload=q2-to-low"),
        &format!("HIGH RECV {t} qos=2 retain=0 payload=q2-to-low"),
        &format!("MID RECV {t} qos=1 retain=0 payload=q2-to-mid"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_pub_sub_at_qos_0_1_2_over_tcp_and_ws() {
    over_tcp_and_ws("pubsub", "311", &pubsub("311")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_pub_sub_at_qos_0_1_2_over_tcp_and_ws() {
    over_tcp_and_ws("pubsub", "5", &pubsub("5")).await;
}

// ---- retained messages ----

/// RETAIN=1 to new subscriptions, 0 on live delivery ([MQTT-3.3.1-8], [MQTT-3.3.1-9]), also through a
/// wildcard; a newer message replaces the old ([MQTT-3.3.1-5]); an empty one clears it
/// ([MQTT-3.3.1-10]). v5: Retain Handling 2 sends none, 1 only for a new subscription, Retain As
/// Published keeps RETAIN=1 (v5 [MQTT-3.3.1-11], [MQTT-3.3.1-10], [MQTT-3.3.1-13]).
fn retained(v: &str) -> Vec<String> {
    let t = format!("interop/v{v}/retained");
    let mut l = lines(&[
        &format!("NEW RECV {t} qos=1 retain=1 payload=kept-1"),
        &format!("LIVE RECV {t} qos=1 retain=0 payload=kept-2"),
        &format!("WILDCARD RECV {t} qos=1 retain=1 payload=kept-2"),
        "ONE_RETAINED",
    ]);
    if v == "5" {
        l.extend(lines(&[
            "RH2 NONE",
            &format!("RH1 NEW RECV {t} qos=1 retain=1 payload=kept-2"),
            "RH1 EXISTING NONE",
            &format!("RAP RECV {t} qos=1 retain=1 payload=kept-3"),
        ]));
    }
    l.push("CLEARED".into());
    l
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_retained_set_replaced_and_cleared_over_tcp_and_ws() {
    over_tcp_and_ws("retained", "311", &retained("311")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_retained_with_retain_handling_and_rap_over_tcp_and_ws() {
    over_tcp_and_ws("retained", "5", &retained("5")).await;
}

// ---- will ----

/// The will goes out when the socket closes without DISCONNECT ([MQTT-3.1.2-8]), not after a normal
/// DISCONNECT ([MQTT-3.1.2-10]); v5: with its properties (3.1.3.2), and a Will Delay is cancelled
/// by resuming the session in time ([MQTT-3.1.3-9]) and otherwise waited for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_will_on_abrupt_close_only_over_tcp_and_ws() {
    let expected = lines(&[
        "RECV interop/v311/will qos=1 retain=0 payload=rude-will",
        "NO_MORE",
    ]);
    over_tcp_and_ws("will", "311", &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_will_properties_and_will_delay_over_tcp_and_ws() {
    let expected = lines(&[
        "RECV interop/v5/will qos=1 retain=0 payload=rude-will",
        "WILL_PROPS contentType=\"text/plain\" correlationData=b'w-1' \
         responseTopic=\"interop/v5/will/reply\" userProperties={\"from\":\"mqttjs\"}",
        "NO_MORE",
        "DELAYED resumed session_present=1",
        "DELAYED NO_WILL",
        "DELAYED RECV interop/v5/will qos=1 retain=0 payload=late-will after_delay=1",
    ]);
    over_tcp_and_ws("will", "5", &expected).await;
}

// ---- v5 properties ----

/// What the `props` scenario reports (MQTT 5 only).
fn props() -> Vec<String> {
    lines(&[
        "RECV interop/js/props/a qos=1 retain=0 payload={\"n\":1}",
        "PROPS contentType=\"application/json\" correlationData=b'corr-1' \
         payloadFormatIndicator=true responseTopic=\"interop/js/props/reply\" \
         subscriptionIdentifier=7 userProperties={\"k1\":\"v1\",\"k2\":[\"x\",\"y\"]}",
        "EXPIRY ok",
        "RECV interop/js/props/b/c qos=2 retain=0 payload=plain",
        "PROPS subscriptionIdentifier=300",
        "REQUEST ping response_topic=interop/js/resp/js-requester corr=000102ff",
        "RESPONSE interop/js/resp/js-requester pong corr=000102ff",
    ])
}

/// Payload Format Indicator, Content Type, User Properties (a repeated key kept in order), Response
/// Topic and Correlation Data are forwarded unaltered ([MQTT-3.3.2-4], [MQTT-3.3.2-20],
/// [MQTT-3.3.2-17], [MQTT-3.3.2-18], [MQTT-3.3.2-15], [MQTT-3.3.2-16]); Message Expiry is forwarded counting down
/// ([MQTT-3.3.2-6]); each delivery carries its subscription's Subscription Identifier
/// ([MQTT-3.3.4-3]), including one above 127 (a two-byte variable integer); a request/response round
/// trip between two MQTT.js clients works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_properties_subscription_ids_and_request_response_over_tcp_and_ws() {
    over_tcp_and_ws("props", "5", &props()).await;
}

/// No Local: a client's own message is not delivered to its no-local subscription
/// ([MQTT-3.8.3-3]) but is to its other subscription, and others' messages are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_no_local_over_tcp_and_ws() {
    let expected = lines(&[
        "OTHER RECV interop/js/nl/quiet qos=1 retain=0 payload=mine",
        "OTHER RECV interop/js/nl/echo qos=1 retain=0 payload=echoed",
        "SELF RECV interop/js/nl/echo qos=1 retain=0 payload=echoed",
        "SELF NO_LOCAL_RESPECTED",
        "SELF RECV interop/js/nl/quiet qos=1 retain=0 payload=theirs",
    ]);
    over_tcp_and_ws("nolocal", "5", &expected).await;
}

/// Topic aliases MQTT.js sends (set explicitly, used with an empty topic by `autoUseTopicAlias`,
/// re-mapped) reach subscribers under their full names; a subscriber announcing Topic Alias
/// Maximum 5 gets server-assigned aliases (full topic first, then empty), one that announces none
/// gets none ([MQTT-3.1.2-26], [MQTT-3.1.2-27]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_topic_aliases_both_ways_over_tcp_and_ws() {
    let mut expected = lines(&[
        "ALIAS_MAX 65535",
        "SENT topic='interop/js/alias/x' alias=1",
        "SENT topic='' alias=1",
        "SENT topic='interop/js/alias/y' alias=1",
        "SENT topic='' alias=1",
    ]);
    for who in ["PLAIN", "ALIASED"] {
        expected.extend(lines(&[
            &format!("{who} RECV interop/js/alias/x qos=1 retain=0 payload=a1"),
            &format!("{who} RECV interop/js/alias/x qos=1 retain=0 payload=a2"),
            &format!("{who} RECV interop/js/alias/y qos=0 retain=0 payload=a3"),
            &format!("{who} RECV interop/js/alias/y qos=1 retain=0 payload=a4"),
        ]));
    }
    expected.extend(lines(&[
        "WIRE topic='interop/js/alias/x' alias=1",
        "WIRE topic='' alias=1",
        "WIRE topic='interop/js/alias/y' alias=2",
        "WIRE topic='' alias=2",
        "PLAIN NO_ALIAS",
    ]));
    over_tcp_and_ws("alias", "5", &expected).await;
}

// ---- sessions ----

/// clean: false resumes the session (Session Present 1, [MQTT-3.2.2-2]) with the QoS 1 and 2
/// messages queued while offline and the subscription in place; v3.1.1 clean: true then discards
/// it. v5: a queued message whose expiry passed is dropped and a live one arrives with its expiry
/// reduced ([MQTT-3.3.2-5], [MQTT-3.3.2-6]); DISCONNECT's Session Expiry Interval 1 ends the
/// session a second later (3.14.2.2.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_clean_false_resumes_queued_messages_over_tcp_and_ws() {
    let t = "interop/v311/session";
    let expected = lines(&[
        "FIRST session_present=0",
        "RESUMED session_present=1",
        &format!("RECV {t} qos=1 retain=0 payload=offline-1"),
        &format!("RECV {t} qos=2 retain=0 payload=offline-2"),
        &format!("RECV {t} qos=1 retain=0 payload=live"),
        "NOTHING_ELSE",
        "CLEAN session_present=0",
    ]);
    over_tcp_and_ws("session", "311", &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_session_expiry_resume_and_message_expiry_over_tcp_and_ws() {
    let t = "interop/v5/session";
    let expected = lines(&[
        "FIRST session_present=0",
        "RESUMED session_present=1",
        &format!("RECV {t} qos=1 retain=0 payload=offline-1"),
        &format!("RECV {t} qos=1 retain=0 payload=long-lived expiry_decreased=1"),
        &format!("RECV {t} qos=2 retain=0 payload=offline-2"),
        &format!("RECV {t} qos=1 retain=0 payload=live"),
        "NOTHING_ELSE",
        "EXPIRED session_present=0",
        "NO_SUBSCRIPTION",
    ]);
    over_tcp_and_ws("session", "5", &expected).await;
}

// ---- authorization ----

/// One SUBSCRIBE with an allowed and a denied filter gets a return code per filter: 0x80 Failure
/// (v3.1.1) or 0x87 Not authorized (v5), in the filters' order ([MQTT-3.9.3-1]); a denied QoS 1 PUBLISH is acknowledged (v3.1.1) or
/// refused with PUBACK 0x87 (v5, MQTT.js reports the error code), and is not delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_acl_denied_subscribe_and_publish_over_tcp_and_ws() {
    let expected = lines(&[
        "SUBACK 1,128",
        "PUBACK 0",
        "DENIED_NOT_DELIVERED",
        "RECV interop/js/acl/ok qos=1 retain=0 payload=allowed",
    ]);
    over_tcp_and_ws("acl", "311", &expected).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_acl_denied_subscribe_and_publish_get_0x87_over_tcp_and_ws() {
    let expected = lines(&[
        "SUBACK 1,135",
        "PUBACK 135",
        "DENIED_NOT_DELIVERED",
        "RECV interop/js/acl/ok qos=1 retain=0 payload=allowed",
    ]);
    over_tcp_and_ws("acl", "5", &expected).await;
}

// ---- over TLS and WebSocket over TLS, the server certificate verified ----

fn tls_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/mqttjs_tls.js")
}

/// The URL of `b`'s listener for `transport` ("mqtts" or "wss").
fn tls_url(b: &TestBroker, transport: &str) -> String {
    match transport {
        "mqtts" => format!("mqtts://{}", b.listener_addr("ssl:default")),
        "wss" => format!("wss://{}/mqtt", b.listener_addr("wss:default")),
        other => panic!("unknown transport {other}"),
    }
}

/// Runs `scenario` of the TLS script at `version` against `url`, MQTT.js trusting `pki`'s CA;
/// `files` adds `--cert`, `--key`, `--rogue-cert`, `--rogue-key`. Returns stdout lines after
/// asserting that the script exited 0 and ended with "DONE".
async fn mqttjs_tls(
    url: &str,
    scenario: &str,
    version: &str,
    pki: &Pki,
    files: &[(&str, PathBuf)],
) -> Vec<String> {
    require_mqttjs();
    let mut run = tokio::process::Command::new("node");
    run.arg(tls_script())
        .args([scenario, url, version, "--ca"])
        .arg(pki.path("ca.pem"))
        .env("NODE_PATH", node_path());
    for (flag, file) in files {
        run.arg(flag).arg(file);
    }
    let what = format!("MQTT.js (TLS) {scenario} v{version} at {url}");
    script::script_lines(run, &what, SCRIPT_TIMEOUT).await
}

/// Runs the scenario over `mqtts://`, then over `wss://`, each against a fresh node with a fresh
/// CA and server certificate (for 127.0.0.1), asserting `expected`.
async fn over_tls_and_wss(scenario: &str, version: &str, expected: &[String]) {
    for transport in ["mqtts", "wss"] {
        let pki = Pki::new();
        let b = TestBroker::start_all_transports(&pki.server_options()).await;
        let got = mqttjs_tls(&tls_url(&b, transport), scenario, version, &pki, &[]).await;
        assert_eq!(got, expected, "{scenario} v{version} over {transport}");
        b.node.shutdown().await;
    }
}

/// The QoS 0/1/2 round trips and downgrades of the TCP test, over TLS and WSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_pub_sub_at_qos_0_1_2_over_tls_and_wss() {
    over_tls_and_wss("pubsub", "311", &pubsub("311")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_pub_sub_at_qos_0_1_2_over_tls_and_wss() {
    over_tls_and_wss("pubsub", "5", &pubsub("5")).await;
}

/// Retained messages set, replaced and cleared (and v5 Retain Handling, Retain As Published), over
/// TLS and WSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_retained_over_tls_and_wss() {
    over_tls_and_wss("retained", "311", &retained("311")).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_retained_over_tls_and_wss() {
    over_tls_and_wss("retained", "5", &retained("5")).await;
}

/// The v5 property round trip of the TCP test (every PUBLISH property, subscription identifiers,
/// request / response), over TLS and WSS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_properties_over_tls_and_wss() {
    over_tls_and_wss("props", "5", &props()).await;
}

/// MQTT.js gets in because it trusts the test's CA: the same connection with the system's trust
/// store only fails on the server certificate (its issuer is unknown), so verification is on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v5_verifies_the_server_certificate_over_tls_and_wss() {
    let expected = lines(&[
        "TRUSTED session_present=0",
        "TRUSTED RECV interop/js/tls/trust qos=1 retain=0 payload=via-js-trusted",
        "NO_CA refused UNABLE_TO_VERIFY_LEAF_SIGNATURE",
    ]);
    over_tls_and_wss("trust", "5", &expected).await;
}

/// Listeners requiring a client certificate (`verify_peer`, `fail_if_no_peer_cert`): MQTT.js with a
/// certificate from the listener's CA connects and round-trips a message; without a certificate,
/// or with one from another CA, the TLS handshake fails and MQTT.js reports the server's alert:
/// `certificate_required` (TLS 1.3, RFC 8446 4.4.2.4) and `unknown_ca` (RFC 8446 6.2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqttjs_v311_mutual_tls_requires_a_client_certificate_over_tls_and_wss() {
    let expected = lines(&[
        "WITH_CERT session_present=0",
        "WITH_CERT RECV interop/js/tls/mtls qos=1 retain=0 payload=via-js-mtls",
        "WITHOUT_CERT refused ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED",
        "ROGUE_CERT refused ERR_SSL_TLSV1_ALERT_UNKNOWN_CA",
    ]);
    for transport in ["mqtts", "wss"] {
        let pki = Pki::new();
        let (cert, key) = pki.client("js-device", "js-device-42", None, None);
        let rogue_ca = Ca::new("rogue CA");
        let (rogue_cert, rogue_key) = pki.client("rogue", "js-device-42", None, Some(&rogue_ca));
        let b = TestBroker::start_all_transports(&pki.mtls_options(true)).await;
        let files = [
            ("--cert", cert),
            ("--key", key),
            ("--rogue-cert", rogue_cert),
            ("--rogue-key", rogue_key),
        ];
        let got = mqttjs_tls(&tls_url(&b, transport), "mtls", "311", &pki, &files).await;
        assert_eq!(got, expected, "mtls over {transport}");
        b.node.shutdown().await;
    }
}
