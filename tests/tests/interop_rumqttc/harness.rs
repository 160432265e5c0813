//! rumqttc clients driven for the tests: each event loop runs in its own task and hands its events
//! over a bounded channel, so a test can wait for one event (a SUBACK, a PUBACK, the next PUBLISH)
//! while messages keep arriving. A loop stops at its first error (rumqttc would reconnect on the
//! next poll; the tests reconnect themselves, with a new client, when they mean to).

#![allow(dead_code)]

use std::collections::VecDeque;
use std::fmt::{Debug, Display};
use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use linkmq_client::Protocol;
use linkmq_client::codec::{self, Packet as WirePacket};
use rumqttc::v5::mqttbytes::QoS as QoS5;
use rumqttc::v5::mqttbytes::v5 as m5;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for.
pub const WAIT: Duration = Duration::from_secs(5);
/// How long a test listens to be sure nothing (more) arrives.
pub const QUIET: Duration = Duration::from_millis(400);
/// Events buffered between a loop and its test.
const EVENTS: usize = 1024;

/// What differs between rumqttc's MQTT 3.1.1 API and its `v5` API.
pub trait Flavor: 'static {
    type Loop: Send + 'static;
    type Event: Debug + Send + 'static;
    type Error: Debug + Display + Send + 'static;
    type Publish: Debug + Clone + Send + 'static;
    fn poll(l: &mut Self::Loop) -> impl Future<Output = Result<Self::Event, Self::Error>> + Send;
    fn publish_of(e: &Self::Event) -> Option<&Self::Publish>;
}

/// rumqttc's MQTT 3.1.1 API (`rumqttc::{AsyncClient, EventLoop}`).
pub struct V311;

impl Flavor for V311 {
    type Loop = rumqttc::EventLoop;
    type Event = rumqttc::Event;
    type Error = rumqttc::ConnectionError;
    type Publish = rumqttc::Publish;
    fn poll(l: &mut Self::Loop) -> impl Future<Output = Result<Self::Event, Self::Error>> + Send {
        l.poll()
    }
    fn publish_of(e: &Self::Event) -> Option<&Self::Publish> {
        match e {
            rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)) => Some(p),
            _ => None,
        }
    }
}

/// rumqttc's MQTT 5 API (`rumqttc::v5`).
pub struct V5;

impl Flavor for V5 {
    type Loop = rumqttc::v5::EventLoop;
    type Event = rumqttc::v5::Event;
    type Error = rumqttc::v5::ConnectionError;
    type Publish = m5::Publish;
    fn poll(l: &mut Self::Loop) -> impl Future<Output = Result<Self::Event, Self::Error>> + Send {
        l.poll()
    }
    fn publish_of(e: &Self::Event) -> Option<&Self::Publish> {
        match e {
            rumqttc::v5::Event::Incoming(m5::Packet::Publish(p)) => Some(p),
            _ => None,
        }
    }
}

/// A connected event loop running in a task.
pub struct Events<F: Flavor> {
    pub id: String,
    rx: mpsc::Receiver<Result<F::Event, F::Error>>,
    task: JoinHandle<()>,
    /// PUBLISHes that arrived while the test waited for something else, oldest first.
    stash: VecDeque<F::Publish>,
}

impl<F: Flavor> Events<F> {
    /// Runs `el` (already past its CONNACK) in a task until its first error.
    pub fn spawn(id: &str, mut el: F::Loop) -> Events<F> {
        let (tx, rx) = mpsc::channel(EVENTS);
        let task = tokio::spawn(async move {
            loop {
                let r = F::poll(&mut el).await;
                let end = r.is_err();
                if tx.send(r).await.is_err() || end {
                    break;
                }
            }
        });
        Events {
            id: id.to_owned(),
            rx,
            task,
            stash: VecDeque::new(),
        }
    }

    /// The next event or the loop's error; panics after [`WAIT`].
    async fn next(&mut self, what: &str) -> Result<F::Event, F::Error> {
        match tokio::time::timeout(WAIT, self.rx.recv()).await {
            Ok(Some(r)) => r,
            Ok(None) => panic!("{}: event loop ended while waiting for {what}", self.id),
            Err(_) => panic!("{}: no {what} within {WAIT:?}", self.id),
        }
    }

    /// Waits for the first event `f` picks, keeping PUBLISHes it passes over for [`Self::recv`].
    pub async fn until<T>(&mut self, what: &str, mut f: impl FnMut(&F::Event) -> Option<T>) -> T {
        loop {
            let e = match self.next(what).await {
                Ok(e) => e,
                Err(e) => panic!(
                    "{}: connection failed waiting for {what}: {e} ({e:?})",
                    self.id
                ),
            };
            if let Some(t) = f(&e) {
                return t;
            }
            if let Some(p) = F::publish_of(&e) {
                self.stash.push_back(p.clone());
            }
        }
    }

    /// The next PUBLISH received.
    pub async fn recv(&mut self) -> F::Publish {
        if let Some(p) = self.stash.pop_front() {
            return p;
        }
        self.until("PUBLISH", |e| F::publish_of(e).cloned()).await
    }

    /// Asserts that no PUBLISH arrives for [`QUIET`] (other events, such as pings, may).
    pub async fn assert_no_publish(&mut self) {
        if let Some(p) = self.stash.pop_front() {
            panic!("{}: unexpected {p:?}", self.id);
        }
        let deadline = tokio::time::Instant::now() + QUIET;
        while let Ok(r) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            match r {
                Some(Ok(e)) => {
                    if let Some(p) = F::publish_of(&e) {
                        panic!("{}: unexpected {p:?}", self.id);
                    }
                }
                Some(Err(e)) => panic!("{}: connection failed: {e} ({e:?})", self.id),
                None => panic!("{}: event loop ended", self.id),
            }
        }
    }

    /// Waits for the loop's error (the connection ended); events before it are passed over.
    pub async fn error(&mut self) -> F::Error {
        loop {
            match self.next("the connection to end").await {
                Ok(_) => {}
                Err(e) => return e,
            }
        }
    }

    /// Collects every event for `d` (the loop must not fail meanwhile).
    pub async fn events_for(&mut self, d: Duration) -> Vec<F::Event> {
        let deadline = tokio::time::Instant::now() + d;
        let mut out = Vec::new();
        while let Ok(r) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            match r {
                Some(Ok(e)) => out.push(e),
                Some(Err(e)) => panic!("{}: connection failed: {e} ({e:?})", self.id),
                None => panic!("{}: event loop ended", self.id),
            }
        }
        out
    }

    /// Drops the event loop and with it the socket: the connection ends without DISCONNECT.
    pub async fn drop_network(mut self) {
        self.task.abort();
        let _ = (&mut self.task).await;
    }
}

impl<F: Flavor> Drop for Events<F> {
    fn drop(&mut self) {
        self.task.abort();
    }
}

// ---------------------------------------------------------------- MQTT 3.1.1

/// A rumqttc MQTT 3.1.1 client.
pub struct Client311 {
    pub client: rumqttc::AsyncClient,
    pub connack: rumqttc::ConnAck,
    pub events: Events<V311>,
}

/// rumqttc 3.1.1 options for `addr` (keep alive 30 s, packets up to 2 MB both ways).
pub fn opts311(addr: SocketAddr, id: &str) -> rumqttc::MqttOptions {
    let mut o = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(2 << 20, 2 << 20);
    o
}

impl Client311 {
    /// Connects (CONNECT, CONNACK) or returns rumqttc's error.
    #[allow(clippy::result_large_err)] // rumqttc's own error type, passed on as it is.
    pub async fn try_connect(
        o: rumqttc::MqttOptions,
    ) -> Result<Client311, rumqttc::ConnectionError> {
        let id = o.client_id();
        let (client, mut el) = rumqttc::AsyncClient::new(o, 16);
        let first = tokio::time::timeout(WAIT, el.poll())
            .await
            .unwrap_or_else(|_| panic!("{id}: no CONNACK within {WAIT:?}"))?;
        let connack = match first {
            rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a)) => a,
            other => panic!("{id}: expected CONNACK first, got {other:?}"),
        };
        Ok(Client311 {
            client,
            connack,
            events: Events::spawn(&id, el),
        })
    }

    /// Connects; panics when refused.
    pub async fn connect(o: rumqttc::MqttOptions) -> Client311 {
        let id = o.client_id();
        Client311::try_connect(o)
            .await
            .unwrap_or_else(|e| panic!("{id} connects: {e}"))
    }

    /// SUBSCRIBE to one filter; the SUBACK's return codes.
    pub async fn subscribe(
        &mut self,
        filter: &str,
        qos: rumqttc::QoS,
    ) -> Vec<rumqttc::SubscribeReasonCode> {
        self.client
            .subscribe(filter, qos)
            .await
            .expect("queue SUBSCRIBE");
        self.events
            .until("SUBACK", |e| match e {
                rumqttc::Event::Incoming(rumqttc::Packet::SubAck(a)) => {
                    Some(a.return_codes.clone())
                }
                _ => None,
            })
            .await
    }

    /// PUBLISH, waiting for the exchange to finish (sent for QoS 0, PUBACK, or PUBCOMP).
    pub async fn publish(
        &mut self,
        topic: &str,
        qos: rumqttc::QoS,
        retain: bool,
        payload: impl Into<Vec<u8>>,
    ) {
        self.client
            .publish(topic, qos, retain, payload)
            .await
            .expect("queue PUBLISH");
        self.events
            .until("the end of the PUBLISH exchange", |e| {
                use rumqttc::{Event, Outgoing, Packet};
                match (qos, e) {
                    (rumqttc::QoS::AtMostOnce, Event::Outgoing(Outgoing::Publish(_)))
                    | (rumqttc::QoS::AtLeastOnce, Event::Incoming(Packet::PubAck(_)))
                    | (rumqttc::QoS::ExactlyOnce, Event::Incoming(Packet::PubComp(_))) => Some(()),
                    _ => None,
                }
            })
            .await
    }

    /// The next PUBLISH received.
    pub async fn recv(&mut self) -> rumqttc::Publish {
        self.events.recv().await
    }

    /// DISCONNECT, then waits for the broker to close the connection.
    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("queue DISCONNECT");
        self.events
            .until("DISCONNECT sent", |e| {
                matches!(e, rumqttc::Event::Outgoing(rumqttc::Outgoing::Disconnect)).then_some(())
            })
            .await;
        self.events.error().await;
    }
}

// ---------------------------------------------------------------- MQTT 5

/// A rumqttc MQTT 5 client.
pub struct Client5 {
    pub client: rumqttc::v5::AsyncClient,
    pub connack: m5::ConnAck,
    pub events: Events<V5>,
}

/// rumqttc v5 options for `addr` (keep alive 30 s, Maximum Packet Size 2 MB announced).
pub fn opts5(addr: SocketAddr, id: &str) -> rumqttc::v5::MqttOptions {
    let mut o = rumqttc::v5::MqttOptions::new(id, addr.ip().to_string(), addr.port());
    o.set_keep_alive(Duration::from_secs(30));
    o.set_max_packet_size(Some(2 << 20));
    o
}

impl Client5 {
    /// Connects (CONNECT, CONNACK) or returns rumqttc's error.
    #[allow(clippy::result_large_err)] // rumqttc's own error type, passed on as it is.
    pub async fn try_connect(
        o: rumqttc::v5::MqttOptions,
    ) -> Result<Client5, rumqttc::v5::ConnectionError> {
        let id = o.client_id();
        let (client, mut el) = rumqttc::v5::AsyncClient::new(o, 16);
        let first = tokio::time::timeout(WAIT, el.poll())
            .await
            .unwrap_or_else(|_| panic!("{id}: no CONNACK within {WAIT:?}"))?;
        let connack = match first {
            rumqttc::v5::Event::Incoming(m5::Packet::ConnAck(a)) => a,
            other => panic!("{id}: expected CONNACK first, got {other:?}"),
        };
        Ok(Client5 {
            client,
            connack,
            events: Events::spawn(&id, el),
        })
    }

    /// Connects; panics when refused.
    pub async fn connect(o: rumqttc::v5::MqttOptions) -> Client5 {
        let id = o.client_id();
        Client5::try_connect(o)
            .await
            .unwrap_or_else(|e| panic!("{id} connects: {e}"))
    }

    /// SUBSCRIBE to `filter` (with a subscription identifier when `id` is set); the SUBACK.
    pub async fn subscribe_filter(&mut self, filter: m5::Filter, id: Option<usize>) -> m5::SubAck {
        let props = m5::SubscribeProperties {
            id,
            user_properties: vec![],
        };
        self.client
            .subscribe_many_with_properties([filter], props)
            .await
            .expect("queue SUBSCRIBE");
        self.events
            .until("SUBACK", |e| match e {
                rumqttc::v5::Event::Incoming(m5::Packet::SubAck(a)) => Some(a.clone()),
                _ => None,
            })
            .await
    }

    /// SUBSCRIBE to one filter at `qos`; the SUBACK's reason codes.
    pub async fn subscribe(&mut self, filter: &str, qos: QoS5) -> Vec<m5::SubscribeReasonCode> {
        self.subscribe_filter(m5::Filter::new(filter, qos), None)
            .await
            .return_codes
    }

    /// PUBLISH with properties; waits for the exchange to finish and returns the PUBACK (QoS 1)
    /// or PUBREC (QoS 2) reason, `None` for QoS 0.
    pub async fn publish_with(
        &mut self,
        topic: &str,
        qos: QoS5,
        retain: bool,
        payload: impl Into<Bytes>,
        props: m5::PublishProperties,
    ) -> Option<String> {
        self.client
            .publish_with_properties(topic, qos, retain, payload, props)
            .await
            .expect("queue PUBLISH");
        let mut rec = None;
        self.events
            .until("the end of the PUBLISH exchange", |e| {
                use rumqttc::Outgoing;
                use rumqttc::v5::Event;
                match (qos, e) {
                    (QoS5::AtMostOnce, Event::Outgoing(Outgoing::Publish(_))) => Some(None),
                    (QoS5::AtLeastOnce, Event::Incoming(m5::Packet::PubAck(a))) => {
                        Some(Some(format!("{:?}", a.reason)))
                    }
                    (QoS5::ExactlyOnce, Event::Incoming(m5::Packet::PubRec(r))) => {
                        rec = Some(format!("{:?}", r.reason));
                        // A refused QoS 2 message ends at PUBREC (no PUBREL follows).
                        (!matches!(
                            r.reason,
                            m5::PubRecReason::Success | m5::PubRecReason::NoMatchingSubscribers
                        ))
                        .then(|| rec.clone())
                    }
                    (QoS5::ExactlyOnce, Event::Incoming(m5::Packet::PubComp(_))) => {
                        Some(rec.clone())
                    }
                    _ => None,
                }
            })
            .await
    }

    /// PUBLISH without properties (see [`Self::publish_with`]).
    pub async fn publish(
        &mut self,
        topic: &str,
        qos: QoS5,
        retain: bool,
        payload: impl Into<Bytes>,
    ) -> Option<String> {
        self.publish_with(
            topic,
            qos,
            retain,
            payload,
            m5::PublishProperties::default(),
        )
        .await
    }

    /// The next PUBLISH received.
    pub async fn recv(&mut self) -> m5::Publish {
        self.events.recv().await
    }

    /// DISCONNECT (reason 0x00), then waits for the broker to close the connection.
    pub async fn disconnect(mut self) {
        self.client.disconnect().await.expect("queue DISCONNECT");
        self.events
            .until("DISCONNECT sent", |e| {
                matches!(
                    e,
                    rumqttc::v5::Event::Outgoing(rumqttc::Outgoing::Disconnect)
                )
                .then_some(())
            })
            .await;
        self.events.error().await;
    }
}

/// The UTF-8 text of a payload or topic.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------- a client that ignores the limit

/// A TCP relay in front of `broker` that deletes Maximum Packet Size from the CONNACK it passes on,
/// and relays everything else unchanged: behind it, a rumqttc v5 client does not know the server's
/// limit and sends what the server announced it would refuse. Serves one connection.
pub async fn relay_hiding_maximum_packet_size(broker: SocketAddr) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("relay bind");
    let addr = listener.local_addr().expect("relay addr");
    tokio::spawn(async move {
        let Ok((client, _)) = listener.accept().await else {
            return;
        };
        let Ok(server) = TcpStream::connect(broker).await else {
            return;
        };
        let (mut cr, mut cw) = client.into_split();
        let (mut sr, mut sw) = server.into_split();
        let up = tokio::spawn(async move {
            let _ = tokio::io::copy(&mut cr, &mut sw).await;
            let _ = sw.shutdown().await;
        });
        // The CONNACK, rewritten.
        let mut buf = BytesMut::new();
        let connack = loop {
            match codec::decode(&mut buf, Protocol::V5, u32::MAX) {
                Ok(Some(p)) => break p,
                Ok(None) => {}
                Err(e) => panic!("relay: undecodable CONNACK: {e}"),
            }
            match sr.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let WirePacket::ConnAck(mut ack) = connack else {
            panic!("relay: expected CONNACK, got {connack:?}");
        };
        ack.properties.maximum_packet_size = None;
        let mut out = BytesMut::new();
        codec::encode(&WirePacket::ConnAck(ack), Protocol::V5, &mut out).expect("encode CONNACK");
        out.extend_from_slice(&buf);
        if cw.write_all(&out).await.is_err() {
            return;
        }
        let _ = tokio::io::copy(&mut sr, &mut cw).await;
        let _ = cw.shutdown().await;
        let _ = up.await;
    });
    addr
}
