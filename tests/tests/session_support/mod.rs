//! Helpers shared by the session test files (`session.rs`, `session_takeover.rs`).
#![allow(dead_code)]

use std::time::Duration;

use linkmq_client::{ClientError, ConnectOptions, RawConnection};
use linkmq_codec::{ConnAck, Packet, Properties, Protocol, PubResponse, Publish, ReasonCode};
use linkmq_tests::{QUIET, TestBroker, WAIT};
use tokio::time::Instant;

pub const PROTOCOLS: [Protocol; 2] = [Protocol::V5, Protocol::V311];

/// Options for a session that outlives its connection: v5 Session Expiry `expiry` s with Clean
/// Start as given; v3.1.1 Clean Session 0 on a resume or on a `persistent` first connect.
pub fn persistent(
    b: &TestBroker,
    proto: Protocol,
    id: &str,
    clean_start: bool,
    expiry: u32,
) -> ConnectOptions {
    let opts = b.opts(id).protocol(proto).keep_alive(0);
    if proto.is_v5() {
        opts.clean_start(clean_start).session_expiry(expiry)
    } else {
        opts.clean_start(false)
    }
}

pub async fn raw_connect(opts: &ConnectOptions) -> (RawConnection, ConnAck) {
    let mut c = RawConnection::connect(&opts.addr).await.unwrap();
    c.send(
        &Packet::Connect(Box::new(opts.connect_packet())),
        opts.protocol,
    )
    .await
    .unwrap();
    match c.recv(opts.protocol, WAIT).await.unwrap() {
        Some(Packet::ConnAck(a)) => (c, a),
        other => panic!("expected CONNACK, got {other:?}"),
    }
}

pub async fn next(c: &mut RawConnection, proto: Protocol) -> Packet {
    match c.recv(proto, WAIT).await {
        Ok(Some(p)) => p,
        other => panic!("expected a packet, got {other:?}"),
    }
}

pub async fn raw_assert_quiet(c: &mut RawConnection, proto: Protocol) {
    match c.recv(proto, QUIET).await {
        Err(ClientError::Timeout) => {}
        other => panic!("expected nothing, got {other:?}"),
    }
}

pub fn resp(pkid: u16) -> PubResponse {
    PubResponse {
        pkid,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    }
}

pub fn payload(p: &Publish) -> &str {
    std::str::from_utf8(&p.payload).unwrap()
}

/// Waits until the broker holds no session for `id` (after an expiry or a discard).
pub async fn wait_session_gone(b: &TestBroker, id: &str, within: Duration) {
    let until = Instant::now() + within;
    while b.node.broker.registry.get(id).is_some() {
        assert!(Instant::now() < until, "session {id} still held");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
