#!/usr/bin/env python3
"""paho-mqtt (2.x) interop scenarios against a running linkmq broker on 127.0.0.1.

Usage: paho_scenarios.py SCENARIO PORT VERSION
  SCENARIO: pubsub | retained | will | shared | alias | session
  VERSION:  311 | 5

Driven by tests/tests/interop_paho.rs. Prints one line per observation (the Rust test asserts
on them) and exits 0; on a failed expectation prints "FAIL: ..." to stderr and exits 1.
Every wait is bounded, so a misbehaving broker makes the script fail, never hang.
"""

import queue
import sys
import time

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

HOST = "127.0.0.1"
WAIT = 5.0  # seconds for anything that must happen
QUIET = 0.5  # seconds of silence that prove something did not happen


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def out(line):
    print(line, flush=True)


class Conn:
    """One paho client with its callbacks turned into queues."""

    def __init__(self, port, version, client_id, clean=True, expiry=None, will=None):
        self.port = port
        self.version = version
        self.clean = clean
        self.expiry = expiry
        kw = {}
        if version == 5:
            kw["protocol"] = mqtt.MQTTv5
        else:
            kw["protocol"] = mqtt.MQTTv311
            kw["clean_session"] = clean
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, **kw)
        self.msgs = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.c.on_message = lambda _c, _u, m: self.msgs.put(m)
        self.c.on_connect = lambda _c, _u, flags, rc, props: self.connacks.put((flags, rc, props))
        self.c.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.subacks.put(rcs)
        if will is not None:
            topic, payload, qos = will
            self.c.will_set(topic, payload, qos=qos, retain=False)

    def _send_connect(self):
        if self.version == 5:
            props = None
            if self.expiry is not None:
                props = Properties(PacketTypes.CONNECT)
                props.SessionExpiryInterval = self.expiry
            self.c.connect(HOST, self.port, keepalive=30, clean_start=self.clean, properties=props)
        else:
            self.c.connect(HOST, self.port, keepalive=30)

    def _connack(self):
        try:
            flags, rc, props = self.connacks.get(timeout=WAIT)
        except queue.Empty:
            fail(f"{self.c._client_id!r}: no CONNACK within {WAIT}s")
        if rc.is_failure:
            fail(f"{self.c._client_id!r}: CONNACK refused: {rc}")
        return flags, props

    def connect(self):
        """Connects with the network loop in a background thread; returns (flags, properties)."""
        self._send_connect()
        self.c.loop_start()
        return self._connack()

    def connect_manual(self):
        """Connects driving the loop by hand (no background thread, so no reconnect later)."""
        self._send_connect()
        deadline = time.time() + WAIT
        while self.connacks.empty() and time.time() < deadline:
            self.c.loop(timeout=0.05)
        return self._connack()

    def subscribe(self, topic, qos):
        self.c.subscribe(topic, qos)
        try:
            rcs = self.subacks.get(timeout=WAIT)
        except queue.Empty:
            fail(f"no SUBACK for {topic}")
        granted = [rc.value for rc in rcs]
        if granted != [qos]:
            fail(f"SUBACK for {topic} at QoS {qos}: {granted}")

    def publish(self, topic, payload, qos, retain=False, properties=None):
        info = self.c.publish(topic, payload, qos=qos, retain=retain, properties=properties)
        info.wait_for_publish(timeout=WAIT)
        if not info.is_published():
            fail(f"publish to {topic!r} at QoS {qos} not completed within {WAIT}s")

    def next(self, timeout=WAIT):
        try:
            return self.msgs.get(timeout=timeout)
        except queue.Empty:
            return None

    def expect(self, what):
        m = self.next()
        if m is None:
            fail(f"{self.c._client_id!r}: no message within {WAIT}s ({what})")
        return m

    def quiet(self):
        """True when nothing arrives for QUIET seconds."""
        return self.next(timeout=QUIET) is None

    def disconnect(self):
        self.c.disconnect()
        self.c.loop_stop()


def show(m):
    return f"RECV {m.topic} qos={m.qos} retain={int(m.retain)} payload={m.payload.decode()}"


def scenario_pubsub(port, v):
    topic = f"interop/v{v}/pubsub"
    sub = Conn(port, v, f"paho-sub-{v}")
    sub.connect()
    sub.subscribe(topic, 2)
    pub = Conn(port, v, f"paho-pub-{v}")
    pub.connect()
    for qos in (0, 1, 2):
        pub.publish(topic, f"q{qos}", qos)
        out(show(sub.expect(f"QoS {qos} message")))
    # A QoS 2 subscription to a QoS 1 message gets it at 1; a QoS 0 subscriber gets everything at 0.
    low = Conn(port, v, f"paho-low-{v}")
    low.connect()
    low.subscribe(topic, 0)
    pub.publish(topic, "q2-to-low", 2)
    out("LOW " + show(low.expect("QoS 2 message downgraded")))
    out("HIGH " + show(sub.expect("QoS 2 message")))
    for c in (sub, pub, low):
        c.disconnect()


def scenario_retained(port, v):
    topic = f"interop/v{v}/retained"
    pub = Conn(port, v, f"paho-rpub-{v}")
    pub.connect()
    pub.publish(topic, "kept-1", 1, retain=True)
    s1 = Conn(port, v, f"paho-r1-{v}")
    s1.connect()
    s1.subscribe(topic, 1)
    out("NEW " + show(s1.expect("retained message on subscribe")))
    # A message that matches an established subscription is delivered with retain=0.
    pub.publish(topic, "kept-2", 1, retain=True)
    out("LIVE " + show(s1.expect("live retained publish")))
    s2 = Conn(port, v, f"paho-r2-{v}")
    s2.connect()
    s2.subscribe(topic, 1)
    out("NEW " + show(s2.expect("replaced retained message")))
    out("ONE_RETAINED" if s2.quiet() else "FAIL: more than one retained message")
    # An empty retained payload clears it.
    pub.publish(topic, b"", 1, retain=True)
    s3 = Conn(port, v, f"paho-r3-{v}")
    s3.connect()
    s3.subscribe(topic, 1)
    m = s3.next(timeout=QUIET)
    out("CLEARED" if m is None else "AFTER_CLEAR " + show(m))
    for c in (pub, s1, s2, s3):
        c.disconnect()


def scenario_will(port, v):
    topic = f"interop/v{v}/will"
    sub = Conn(port, v, f"paho-wsub-{v}")
    sub.connect()
    sub.subscribe(topic, 1)
    # A normal DISCONNECT discards the will.
    polite = Conn(port, v, f"paho-polite-{v}", will=(topic, "polite-will", 1))
    polite.connect_manual()
    polite.c.disconnect()
    # Flush the DISCONNECT, then make sure the connection is really gone before the next step
    # (TCP order: the broker reads DISCONNECT before the close).
    deadline = time.time() + WAIT
    while polite.c.socket() is not None and time.time() < deadline:
        polite.c.loop(timeout=0.02)
    if polite.c.socket() is not None:
        polite.c.socket().close()
    # Closing the socket without DISCONNECT publishes it.
    rude = Conn(port, v, f"paho-rude-{v}", will=(topic, "rude-will", 1))
    rude.connect_manual()
    rude.c.socket().close()
    out(show(sub.expect("will message after abnormal close")))
    out("NO_MORE" if sub.quiet() else "FAIL: another message after the will")
    sub.disconnect()


def scenario_shared(port, v):
    group = f"$share/g/interop/v{v}/shared"
    a = Conn(port, v, f"paho-sa-{v}")
    a.connect()
    a.subscribe(group, 1)
    b = Conn(port, v, f"paho-sb-{v}")
    b.connect()
    b.subscribe(group, 1)
    pub = Conn(port, v, f"paho-spub-{v}")
    pub.connect()
    n = 10
    for i in range(n):
        pub.publish(f"interop/v{v}/shared", f"s{i}", 1)
    got = {"a": [], "b": []}
    deadline = time.time() + WAIT
    while len(got["a"]) + len(got["b"]) < n and time.time() < deadline:
        for name, c in (("a", a), ("b", b)):
            m = c.next(timeout=0.05)
            if m is not None:
                got[name].append(m.payload.decode())
    # Nothing beyond the n messages: each went to exactly one member.
    for name, c in (("a", a), ("b", b)):
        while (m := c.next(timeout=QUIET / 2)) is not None:
            got[name].append(m.payload.decode())
    every = got["a"] + got["b"]
    out(f"SHARED a={len(got['a'])} b={len(got['b'])} total={len(every)} distinct={len(set(every))}")
    for c in (a, b, pub):
        c.disconnect()


def scenario_alias(port, v):
    if v != 5:
        fail("topic aliases exist in MQTT v5 only")
    sub = Conn(port, v, "paho-asub")
    sub.connect()
    sub.subscribe("interop/alias/#", 1)
    pub = Conn(port, v, "paho-apub")
    _, props = pub.connect()
    out(f"ALIAS_MAX {getattr(props, 'TopicAliasMaximum', 0)}")

    def alias(n):
        p = Properties(PacketTypes.PUBLISH)
        p.TopicAlias = n
        return p

    pub.publish("interop/alias/x", "a1", 1, properties=alias(1))  # set alias 1
    pub.publish("", "a2", 1, properties=alias(1))  # use it
    pub.publish("interop/alias/y", "a3", 0, properties=alias(1))  # re-map it
    pub.publish("", "a4", 1, properties=alias(1))
    for i in range(4):
        out(show(sub.expect(f"aliased message {i + 1}")))
    sub.disconnect()
    pub.disconnect()


def scenario_session(port, v):
    topic = f"interop/v{v}/session"
    cid = f"paho-persistent-{v}"
    expiry = 60 if v == 5 else None
    s = Conn(port, v, cid, clean=False, expiry=expiry)
    flags, _ = s.connect()
    out(f"FIRST session_present={int(flags.session_present)}")
    s.subscribe(topic, 2)
    s.disconnect()
    pub = Conn(port, v, f"paho-qpub-{v}")
    pub.connect()
    pub.publish(topic, "offline-1", 1)
    pub.publish(topic, "offline-2", 2)
    s = Conn(port, v, cid, clean=False, expiry=expiry)
    flags, _ = s.connect()
    out(f"RESUMED session_present={int(flags.session_present)}")
    out(show(s.expect("first queued message")))
    out(show(s.expect("second queued message")))
    # The subscription itself survived: a live message arrives without subscribing again.
    pub.publish(topic, "live", 1)
    out(show(s.expect("live message on the resumed subscription")))
    s.disconnect()
    if v == 5:
        # A session with a 1 s expiry is gone once it has expired.
        short = Conn(port, v, f"paho-short-{v}", clean=False, expiry=1)
        short.connect()
        short.subscribe(topic, 1)
        short.disconnect()
        time.sleep(1.6)
        short = Conn(port, v, f"paho-short-{v}", clean=False, expiry=1)
        flags, _ = short.connect()
        out(f"EXPIRED session_present={int(flags.session_present)}")
        short.disconnect()
    pub.disconnect()


SCENARIOS = {
    "pubsub": scenario_pubsub,
    "retained": scenario_retained,
    "will": scenario_will,
    "shared": scenario_shared,
    "alias": scenario_alias,
    "session": scenario_session,
}


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in SCENARIOS or sys.argv[3] not in ("311", "5"):
        fail(f"usage: {sys.argv[0]} {{{'|'.join(SCENARIOS)}}} PORT {{311|5}}")
    SCENARIOS[sys.argv[1]](int(sys.argv[2]), 5 if sys.argv[3] == "5" else 311)
    out("DONE")


if __name__ == "__main__":
    main()
