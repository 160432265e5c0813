//! Interop with a client nobody here wrote: Eclipse paho-mqtt (Python, 2.x) over MQTT 3.1.1 and 5.
//!
//! Each test starts an in-process broker and runs one scenario of `tests/interop/paho_scenarios.py`
//! against it; the script prints one line per observation and the test asserts the exact lines.
//! python3 with paho-mqtt is required (`.ci/run` installs it): without it these tests fail, loudly.

use std::path::PathBuf;
use std::time::Duration;

use linkmq_tests::TestBroker;
use linkmq_tests::script::{self, lines};

/// Upper bound for one scenario (they take well under 3 s).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(30);

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("interop/paho_scenarios.py")
}

/// Panics with instructions when python3 or paho-mqtt 2.x is missing.
fn require_paho() {
    script::require(
        std::process::Command::new("python3").args([
            "-c",
            "import paho.mqtt, paho.mqtt.client as c; c.CallbackAPIVersion; print(paho.mqtt.__version__)",
        ]),
        "python3 with paho-mqtt >= 2.0",
        "python3 -m pip install paho-mqtt",
    );
}

/// Runs `scenario` at protocol `version` ("311" or "5") against `b`; returns stdout lines after
/// asserting the script exited 0 and ended with "DONE".
async fn paho(b: &TestBroker, scenario: &str, version: &str) -> Vec<String> {
    require_paho();
    let mut run = tokio::process::Command::new("python3");
    run.arg("-u")
        .arg(script())
        .args([scenario, &b.addr.port().to_string(), version]);
    let what = format!("paho {scenario} v{version}");
    script::script_lines(run, &what, SCRIPT_TIMEOUT).await
}

// ---- publish / subscribe at QoS 0, 1, 2 ----

/// Delivered QoS is min(publish QoS, granted QoS) ([MQTT-3.8.4-8] / v5 3.8.4).
fn pubsub_expectation(v: &str) -> Vec<String> {
    let t = format!("interop/v{v}/pubsub");
    lines(&[
        &format!("RECV {t} qos=0 retain=0 payload=q0"),
        &format!("RECV {t} qos=1 retain=0 payload=q1"),
        &format!("RECV {t} qos=2 retain=0 payload=q2"),
        &format!("LOW RECV {t} qos=0 retain=0 payload=q2-to-low"),
        &format!("HIGH RECV {t} qos=2 retain=0 payload=q2-to-low"),
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_pub_sub_at_qos_0_1_2_with_downgrade() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "pubsub", "311").await, pubsub_expectation("311"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_pub_sub_at_qos_0_1_2_with_downgrade() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "pubsub", "5").await, pubsub_expectation("5"));
}

// ---- retained messages ----

/// New subscriptions get the retained message with RETAIN=1, established ones with RETAIN=0
/// ([MQTT-3.3.1-8], [MQTT-3.3.1-9]); a newer retained message replaces the old ([MQTT-3.3.1-5]);
/// an empty retained payload clears it ([MQTT-3.3.1-10]).
fn retained_expectation(v: &str) -> Vec<String> {
    let t = format!("interop/v{v}/retained");
    lines(&[
        &format!("NEW RECV {t} qos=1 retain=1 payload=kept-1"),
        &format!("LIVE RECV {t} qos=1 retain=0 payload=kept-2"),
        &format!("NEW RECV {t} qos=1 retain=1 payload=kept-2"),
        "ONE_RETAINED",
        "CLEARED",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_retained_set_replaced_and_cleared() {
    let b = TestBroker::start().await;
    assert_eq!(
        paho(&b, "retained", "311").await,
        retained_expectation("311")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_retained_set_replaced_and_cleared() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "retained", "5").await, retained_expectation("5"));
}

// ---- will ----

/// The will is published when the network connection closes without DISCONNECT ([MQTT-3.1.2-8])
/// and discarded after a normal DISCONNECT ([MQTT-3.1.2-10]).
fn will_expectation(v: &str) -> Vec<String> {
    lines(&[
        &format!("RECV interop/v{v}/will qos=1 retain=0 payload=rude-will"),
        "NO_MORE",
    ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_will_on_abnormal_close_only() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "will", "311").await, will_expectation("311"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_will_on_abnormal_close_only() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "will", "5").await, will_expectation("5"));
}

// ---- shared subscriptions ----

/// Each message to a `$share/g/...` group goes to exactly one member, and both members get some
/// (default strategy round_robin: an even split).
async fn shared(v: &str) {
    let b = TestBroker::start().await;
    let got = paho(&b, "shared", v).await;
    assert_eq!(got, lines(&["SHARED a=5 b=5 total=10 distinct=10"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_shared_subscription_splits_round_robin() {
    shared("311").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_shared_subscription_splits_round_robin() {
    shared("5").await;
}

// ---- topic alias (v5) ----

/// A publisher sets, uses and re-maps Topic Alias 1; the subscriber (which asked for no aliases)
/// gets full topic names (v5 3.3.2.3.4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_topic_alias_set_used_and_remapped() {
    let b = TestBroker::start_with(|s| s.max_topic_alias = 10).await;
    assert_eq!(
        paho(&b, "alias", "5").await,
        lines(&[
            "ALIAS_MAX 10",
            "RECV interop/alias/x qos=1 retain=0 payload=a1",
            "RECV interop/alias/x qos=1 retain=0 payload=a2",
            "RECV interop/alias/y qos=0 retain=0 payload=a3",
            "RECV interop/alias/y qos=1 retain=0 payload=a4",
        ])
    );
}

// ---- session resume ----

/// clean_start=0 resumes the session (session present, [MQTT-3.2.2-2]); QoS 1/2 messages queued
/// while offline arrive, and the subscription is still in place.
fn session_expectation(v: &str) -> Vec<String> {
    let t = format!("interop/v{v}/session");
    let mut e = lines(&[
        "FIRST session_present=0",
        "RESUMED session_present=1",
        &format!("RECV {t} qos=1 retain=0 payload=offline-1"),
        &format!("RECV {t} qos=2 retain=0 payload=offline-2"),
        &format!("RECV {t} qos=1 retain=0 payload=live"),
    ]);
    if v == "5" {
        // A session with Session Expiry Interval 1 s is gone 1.6 s after its disconnect.
        e.push("EXPIRED session_present=0".into());
    }
    e
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v311_clean_session_0_resumes_with_queued_messages() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "session", "311").await, session_expectation("311"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paho_v5_clean_start_0_with_expiry_resumes_then_expires() {
    let b = TestBroker::start().await;
    assert_eq!(paho(&b, "session", "5").await, session_expectation("5"));
}
