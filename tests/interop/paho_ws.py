#!/usr/bin/env python3
"""paho-mqtt (2.x) over WebSocket (`ws`) and WebSocket over TLS (`wss`) against linkmq.

Usage: paho_ws.py PORT VERSION TRANSPORT [CAFILE]
  VERSION:   311 | 5
  TRANSPORT: ws | wss (wss needs CAFILE, the CA that signed the server certificate)

Driven by tests/tests/websocket.rs. A subscriber and a publisher, both paho over the given
transport at path /mqtt, exchange QoS 0/1/2 messages (one of 300 kB, many WebSocket frames), then a
retained message reaches a later subscriber. Prints one line per observation and "DONE"; on a
failed expectation prints "FAIL: ..." to stderr and exits 1. Every wait is bounded.
"""

import queue
import ssl
import sys

import paho.mqtt.client as mqtt

HOST = "127.0.0.1"
WAIT = 5.0


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def out(line):
    print(line, flush=True)


class Conn:
    def __init__(self, port, version, transport, cafile, client_id):
        proto = mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311
        self.c = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=proto,
            transport="websockets",
        )
        self.c.ws_set_options(path="/mqtt")
        if transport == "wss":
            self.c.tls_set(ca_certs=cafile, cert_reqs=ssl.CERT_REQUIRED)
        self.port = port
        self.msgs = queue.Queue()
        self.events = queue.Queue()
        self.c.on_message = lambda _c, _u, m: self.msgs.put(m)
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self.events.put(("connack", rc))
        self.c.on_subscribe = lambda _c, _u, _mid, rcs, _p: self.events.put(("suback", rcs))

    def wait(self, kind):
        try:
            k, v = self.events.get(timeout=WAIT)
        except queue.Empty:
            fail(f"no {kind} within {WAIT}s")
        if k != kind:
            fail(f"expected {kind}, got {k}")
        return v

    def connect(self):
        self.c.connect(HOST, self.port, keepalive=30)
        self.c.loop_start()
        rc = self.wait("connack")
        if rc.is_failure:
            fail(f"CONNACK refused: {rc}")

    def subscribe(self, topic, qos):
        self.c.subscribe(topic, qos)
        rcs = self.wait("suback")
        return [int(getattr(r, "value", r)) for r in rcs]

    def recv(self):
        try:
            return self.msgs.get(timeout=WAIT)
        except queue.Empty:
            fail(f"no message within {WAIT}s")

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def main():
    port, version, transport = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    cafile = sys.argv[4] if len(sys.argv) > 4 else None
    sub = Conn(port, version, transport, cafile, f"paho-{transport}-sub")
    sub.connect()
    out(f"suback {sub.subscribe('ws/#', 2)}")
    pub = Conn(port, version, transport, cafile, f"paho-{transport}-pub")
    pub.connect()
    big = b"x" * 300_000
    for topic, payload, qos in [
        ("ws/q0", b"zero", 0),
        ("ws/q1", b"one", 1),
        ("ws/q2", b"two", 2),
        ("ws/big", big, 1),
    ]:
        info = pub.c.publish(topic, payload, qos=qos)
        info.wait_for_publish(timeout=WAIT)
        if not info.is_published():
            fail(f"publish to {topic} not acknowledged")
    got = []
    for _ in range(4):
        m = sub.recv()
        body = m.payload.decode() if len(m.payload) < 100 else f"{len(m.payload)} bytes"
        got.append(f"{m.topic} qos{m.qos} {body}")
    for line in got:
        out(line)
    info = pub.c.publish("ws/retained", b"kept", qos=1, retain=True)
    info.wait_for_publish(timeout=WAIT)
    m = sub.recv()
    out(f"live {m.topic} retain={int(m.retain)} {m.payload.decode()}")
    late = Conn(port, version, transport, cafile, f"paho-{transport}-late")
    late.connect()
    late.subscribe("ws/retained", 1)
    m = late.recv()
    out(f"late {m.topic} retain={int(m.retain)} {m.payload.decode()}")
    # Leave no retained message behind for other scenarios.
    pub.c.publish("ws/retained", b"", qos=1, retain=True).wait_for_publish(timeout=WAIT)
    for c in (late, pub, sub):
        c.close()
    out("DONE")


if __name__ == "__main__":
    main()
