//! Interop with gmqtt (PyPI), an asyncio MQTT 5 and 3.1.1 client written independently of paho, over
//! TCP.
//!
//! Each test starts an in-process broker and runs one scenario of `tests/interop/gmqtt_scenarios.py`
//! (MQTT 5) or `tests/interop/gmqtt_v311.py` (MQTT 3.1.1) against it; the script prints one line
//! per observation (payloads, QoS, flags, v5 properties as gmqtt parsed them, session-present
//! flags) and the test asserts the exact lines. The reconnect
//! scenarios put a TCP relay of the script's own between gmqtt and the broker, to lose packets and
//! cut the network the way a real outage does. python3 with gmqtt is required (`.ci/run` installs
//! it): without it these tests fail, loudly.

use std::path::PathBuf;
use std::time::Duration;

use linkmq_tests::TestBroker;
use linkmq_tests::script::{self, lines};

/// Upper bound for one scenario (they take under 3 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(40);

fn script(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("interop")
        .join(name)
}

/// Panics with instructions when python3 or gmqtt is missing.
fn require_gmqtt() {
    script::require(
        std::process::Command::new("python3")
            .args(["-c", "import gmqtt; print(gmqtt.__version__)"]),
        "python3 with gmqtt",
        "python3 -m pip install 'gmqtt>=0.8,<0.9'",
    );
}

/// Runs `scenario` of the MQTT 5 script against `b`; returns stdout lines after asserting the
/// script exited 0 and ended with "DONE".
async fn gmqtt(b: &TestBroker, scenario: &str) -> Vec<String> {
    run_script(b, "gmqtt_scenarios.py", scenario).await
}

/// Runs `scenario` of the MQTT 3.1.1 script against `b`, like [`gmqtt`].
async fn gmqtt_v311(b: &TestBroker, scenario: &str) -> Vec<String> {
    run_script(b, "gmqtt_v311.py", scenario).await
}

async fn run_script(b: &TestBroker, file: &str, scenario: &str) -> Vec<String> {
    require_gmqtt();
    let mut run = tokio::process::Command::new("python3");
    run.arg("-u")
        .arg(script(file))
        .args([scenario, &b.addr.port().to_string()]);
    script::script_lines(run, &format!("gmqtt {file} {scenario}"), SCRIPT_TIMEOUT).await
}

/// CONNACK announces the broker's capabilities (EMQX defaults: Receive Maximum = max_inflight 32,
/// Topic Alias Maximum 65535); PUBLISH properties reach the subscriber unaltered and in order
/// ([MQTT-3.3.2-4], [MQTT-3.3.2-20], [MQTT-3.3.2-15], [MQTT-3.3.2-16], [MQTT-3.3.2-17],
/// [MQTT-3.3.2-18]), with the subscription's identifier ([MQTT-3.3.4-3]) and the expiry counting
/// down ([MQTT-3.3.2-6]); a message without properties gets only the identifier; No Local keeps
/// gmqtt's own message from its no-local subscription ([MQTT-3.8.3-3]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v5_properties_round_trip() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt(&b, "props").await,
        lines(&[
            "CONNACK maximum_qos=2 receive_maximum=32 retain_available=1 \
             shared_subscription_available=1 subscription_identifier_available=1 \
             topic_alias_maximum=65535 wildcard_subscription_available=1",
            "RECV interop/gmqtt/props/a qos=1 retain=0 payload={\"n\":1}",
            "PROPS content_type=['application/json'] correlation_data=['corr-7'] \
             payload_format_id=[1] response_topic=['interop/gmqtt/props/reply'] \
             subscription_identifier=[42] user_property=[('k1', 'v1'), ('k2', 'x'), ('k2', 'y')]",
            "EXPIRY ok",
            "RECV interop/gmqtt/props/b qos=0 retain=0 payload=bare",
            "PROPS subscription_identifier=[42]",
            "SUB RECV interop/gmqtt/props/c qos=1 retain=0 payload=own",
            "NO_LOCAL_RESPECTED",
        ])
    );
}

/// 20 QoS 2 messages on two topics arrive exactly once (v5 4.3.3) and in publish order per topic
/// ([MQTT-4.6.0-6]) with their user property; QoS 2 to a QoS 1 subscription arrives at QoS 1; a
/// retained QoS 2 message arrives at QoS 2 with RETAIN=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v5_qos2_exactly_once_in_order() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt(&b, "qos2").await,
        lines(&[
            "QOS2 20 in order per topic, exactly once",
            "NO_DUPLICATES",
            "LOW RECV interop/gmqtt/q2/low qos=1 retain=0 payload=down",
            "RETAINED RECV interop/gmqtt/q2/kept qos=2 retain=1 payload=kept",
        ])
    );
}

/// gmqtt's automatic reconnect after a network outage: Clean Start 0 resumes the session (Session
/// Present 1, [MQTT-3.2.2-2]); the QoS 1 and 2 messages queued during the outage arrive; the QoS 1
/// PUBLISH gmqtt sent into the outage (never acknowledged) is re-sent and delivered once; the will,
/// delayed past the outage, is not sent on resume ([MQTT-3.1.3-9]) nor after a normal DISCONNECT
/// ([MQTT-3.1.2-10]) whose Session Expiry 0 ends the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v5_reconnect_resumes_session_without_will() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt(&b, "reconnect").await,
        lines(&[
            "FIRST session_present=0",
            "OUTAGE watcher saw nothing",
            "RECONNECTED session_present=1",
            "RECV interop/gmqtt/resilient qos=1 retain=0 payload=queued-1",
            "RECV interop/gmqtt/resilient qos=2 retain=0 payload=queued-2",
            "WATCHER RECV interop/gmqtt/from-resilient qos=1 retain=0 payload=sent-during-outage",
            "RECV interop/gmqtt/resilient qos=1 retain=0 payload=live",
            "NO_WILL",
            "NO_WILL_AFTER_DISCONNECT",
            "AFTER_END session_present=0",
        ])
    );
}

/// QoS 2 exchanges cut half way both ways, then resumed by gmqtt's reconnect: the broker re-sends
/// PUBREL, not the message ([MQTT-4.4.0-1]), so gmqtt sees it once; gmqtt re-sends its PUBLISH
/// (kept until PUBCOMP) for a packet id the broker has PUBREC'd, and the broker acknowledges it
/// without forwarding it again (v5 4.3.3, [MQTT-4.3.3-10]); both sides go on with new QoS 2
/// messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v5_qos2_resumed_half_way_is_delivered_once() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt(&b, "qos2resume").await,
        lines(&[
            "FIRST session_present=0",
            "IN RECV interop/gmqtt/q2r/in qos=2 retain=0 payload=in-1",
            "WATCHER RECV interop/gmqtt/q2r/out qos=2 retain=0 payload=out-1",
            "RECONNECTED session_present=1",
            "ACKED",
            "IN_ONCE",
            "OUT_ONCE",
            "IN RECV interop/gmqtt/q2r/in qos=2 retain=0 payload=in-2",
            "WATCHER RECV interop/gmqtt/q2r/out qos=2 retain=0 payload=out-2",
        ])
    );
}

// ---- MQTT 3.1.1 (`version=MQTTv311`: CONNECT protocol level 4, no properties anywhere) ----

/// SUBACK grants 0, 1, 2 for three filters, in their order ([MQTT-3.9.3-1]); each QoS published to
/// each subscription arrives once at the lower of the two ([MQTT-3.8.4-6]); a burst of 20
/// interleaved QoS 1 and 2 messages on one topic arrives once each, in publish order
/// ([MQTT-4.6.0-6]). A v5-shaped PUBLISH would not parse as these payloads in gmqtt's 3.1.1 mode.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v311_pub_sub_at_qos_0_1_2() {
    let b = TestBroker::start().await;
    let t = "interop/gmqtt/v311/qos";
    let mut expected = lines(&["CONNACK session_present=0", "SUBACK [0, 1, 2]"]);
    for sub_qos in 0..=2 {
        for pub_qos in 0..=2 {
            let qos = std::cmp::min(sub_qos, pub_qos);
            expected.push(format!(
                "RECV {t}/{sub_qos} qos={qos} retain=0 payload=p{pub_qos}"
            ));
        }
    }
    expected.extend(lines(&["BURST 20 in order, exactly once", "NO_DUPLICATES"]));
    assert_eq!(gmqtt_v311(&b, "pubsub").await, expected);
}

/// RETAIN=1 to a new subscription ([MQTT-3.3.1-8]) at min(QoS) ([MQTT-3.8.4-6]), 0 on an
/// established one ([MQTT-3.3.1-9]); subscribing to the same filter again re-sends them
/// ([MQTT-3.8.4-3]); a retained QoS 0 message replaces the QoS 1 one ([MQTT-3.3.1-7]); an empty
/// retained message reaches subscribers and clears the topic ([MQTT-3.3.1-10], [MQTT-3.3.1-11]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v311_retained_set_replaced_resent_and_cleared() {
    let b = TestBroker::start().await;
    let t = "interop/gmqtt/v311/retained";
    let expected: Vec<String> = [
        "NEW RECV {t}/a qos=1 retain=1 payload=kept-a1",
        "NEW RECV {t}/b qos=2 retain=1 payload=kept-b2",
        "LIVE RECV {t}/a qos=1 retain=0 payload=kept-a2",
        "AGAIN RECV {t}/a qos=1 retain=1 payload=kept-a2",
        "AGAIN RECV {t}/b qos=2 retain=1 payload=kept-b2",
        "LIVE RECV {t}/a qos=0 retain=0 payload=kept-a0",
        "QOS1SUB RECV {t}/a qos=0 retain=1 payload=kept-a0",
        "QOS1SUB RECV {t}/b qos=1 retain=1 payload=kept-b2",
        "EMPTY RECV {t}/a qos=1 retain=0 payload=",
        "EMPTY RECV {t}/b qos=1 retain=0 payload=",
        "CLEARED",
    ]
    .iter()
    .map(|l| l.replace("{t}", t))
    .collect();
    assert_eq!(gmqtt_v311(&b, "retained").await, expected);
}

/// No will after DISCONNECT ([MQTT-3.1.2-10]); when the network between gmqtt and the broker fails,
/// the will goes out ([MQTT-3.1.2-8]) once, at its QoS 1 with RETAIN=0 to the established
/// subscription, and is retained ([MQTT-3.1.2-17]): a later subscriber gets it with RETAIN=1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v311_will_on_network_failure_only() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt_v311(&b, "will").await,
        lines(&[
            "NO_WILL_AFTER_DISCONNECT",
            "WATCHER RECV interop/gmqtt/v311/will/rude qos=1 retain=0 payload=rude-will",
            "NO_MORE",
            "LATE RECV interop/gmqtt/v311/will/rude qos=1 retain=1 payload=rude-will",
        ])
    );
}

/// Clean session 0 across a network failure: Session Present 1 on resume ([MQTT-3.2.2-2]); the
/// QoS 1 message whose PUBACK was lost is re-sent first with DUP=1 ([MQTT-4.4.0-1],
/// [MQTT-3.3.1-1]), then the three queued while offline, in order, then live traffic on the kept
/// subscription, nothing twice. Clean session 1 gets Session Present 0 ([MQTT-3.2.2-1]) and
/// discards the session ([MQTT-3.1.2-6]): a later clean session 0 finds none, nor its subscription,
/// even if it takes over the clean session's connection before the broker has read its DISCONNECT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v311_clean_session_0_resumes_with_queued_qos1_messages() {
    let b = TestBroker::start().await;
    let t = "interop/gmqtt/v311/session";
    assert_eq!(
        gmqtt_v311(&b, "session").await,
        lines(&[
            "FIRST session_present=0",
            &format!("BEFORE_CUT RECV {t} qos=1 retain=0 payload=unacked dup=0"),
            "RESUMED session_present=1",
            &format!("RECV {t} qos=1 retain=0 payload=unacked dup=1"),
            &format!("RECV {t} qos=1 retain=0 payload=offline-1"),
            &format!("RECV {t} qos=1 retain=0 payload=offline-2"),
            &format!("RECV {t} qos=1 retain=0 payload=offline-3"),
            &format!("RECV {t} qos=1 retain=0 payload=live"),
            "NOTHING_ELSE",
            "CLEAN session_present=0",
            "AFTER_CLEAN session_present=0",
            "NO_SUBSCRIPTION",
        ])
    );
}

/// Regression: a clean session 0 CONNECT taking over a v3.1.1 clean session still connected got
/// Session Present 1 and the clean session's subscription. The state of a clean session "MUST NOT
/// be reused in any subsequent Session" ([MQTT-3.1.2-6]): Session Present 0 ([MQTT-3.2.2-3]), no
/// subscription. Taking over a clean session 0 resumes it ([MQTT-3.2.2-2]).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gmqtt_v311_takeover_does_not_resume_a_clean_session() {
    let b = TestBroker::start().await;
    assert_eq!(
        gmqtt_v311(&b, "takeover").await,
        lines(&[
            "TAKEOVER_OF_CLEAN_1 session_present=0",
            "TAKEOVER_OF_CLEAN_1 NO_SUBSCRIPTION",
            "TAKEOVER_OF_CLEAN_0 session_present=1",
            "TAKEOVER_OF_CLEAN_0 RECV interop/gmqtt/v311/takeover qos=1 retain=0 \
             payload=after-takeover-of-clean-0",
        ])
    );
}
