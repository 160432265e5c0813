#!/usr/bin/env python3
"""gmqtt (PyPI, an asyncio MQTT 5 client) interop scenarios against a running linkmq on 127.0.0.1.

Usage: gmqtt_scenarios.py SCENARIO PORT
  SCENARIO: props | qos2 | reconnect | qos2resume
(gmqtt_v311.py has the MQTT 3.1.1 scenarios, with this file's Conn and Proxy.)

Driven by tests/tests/interop_gmqtt.rs. Prints one line per observation (the Rust test asserts on
them) and "DONE"; on a failed expectation prints "FAIL: ..." to stderr and exits 1. Every wait is
bounded, so a misbehaving broker makes the script fail, never hang.
"""

import asyncio
import os
import sys

from gmqtt import Client, Message, Subscription
from gmqtt.mqtt.constants import MQTTv50

HOST = "127.0.0.1"
WAIT = 5.0  # seconds for anything that must happen
QUIET = 0.5  # seconds of silence that prove something did not happen
TRACE = bool(os.environ.get("GMQTT_PROXY_TRACE"))  # the proxy logs every chunk to stderr


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def out(line):
    print(line, flush=True)


async def within(what, aw, timeout=WAIT):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        fail(f"{what}: nothing within {timeout} s")


class Conn:
    """One gmqtt client with its callbacks turned into queues. Messages are acknowledged after
    on_message returns (optimistic_acknowledgement=False), with the reason code it returns.
    `version` is the protocol level CONNECT asks for (MQTTv50 or MQTTv311)."""

    def __init__(self, client_id, clean=True, will=None, version=MQTTv50, **connect_props):
        self.id = client_id
        self.version = version
        self.c = Client(
            client_id,
            clean_session=clean,
            optimistic_acknowledgement=False,
            will_message=will,
            **connect_props,
        )
        self.msgs = asyncio.Queue()
        self.connacks = asyncio.Queue()
        self.subacks = asyncio.Queue()
        self.c.on_message = self._on_message
        self.c.on_connect = lambda _c, flags, rc, props: self.connacks.put_nowait((flags, rc, props))
        self.c.on_subscribe = lambda _c, _mid, qos, props: self.subacks.put_nowait(qos)
        self.c.on_disconnect = lambda _c, _packet, _exc=None: None

    async def _on_message(self, _c, topic, payload, qos, props):
        # A coroutine: gmqtt acknowledges after a coroutine's result only (a plain function's
        # messages would never be acknowledged without optimistic_acknowledgement).
        self.msgs.put_nowait((topic, payload, qos, props))
        return 0  # PUBACK / PUBREC reason: success

    async def connect(self, port):
        """Connects; returns (session_present, CONNACK properties)."""
        await within(f"{self.id} connect", self.c.connect(HOST, port, keepalive=30, version=self.version))
        flags, rc, props = await within(f"{self.id} CONNACK", self.connacks.get())
        if rc != 0:
            fail(f"{self.id}: CONNACK {rc}")
        return flags, props

    async def subscribe(self, sub):
        self.c.subscribe(sub)
        return await within(f"{self.id} SUBACK", self.subacks.get())

    async def sub(self, topic, qos, **kw):
        granted = await self.subscribe(Subscription(topic, qos=qos, **kw))
        if list(granted) != [qos]:
            fail(f"{self.id} SUBACK for {topic} at QoS {qos}: {granted}")

    async def acked(self):
        """Waits until every QoS 1/2 message published is acknowledged (PUBACK / PUBCOMP)."""
        await within(f"{self.id} acknowledgements", self.c._persistent_storage.wait_empty())

    async def next(self, timeout=WAIT):
        try:
            return await asyncio.wait_for(self.msgs.get(), timeout)
        except asyncio.TimeoutError:
            return None

    async def expect(self, what):
        m = await self.next()
        if m is None:
            fail(f"{self.id}: no message within {WAIT} s ({what})")
        return m

    async def quiet(self):
        return await self.next(timeout=QUIET) is None

    async def disconnect(self, **props):
        await within(f"{self.id} disconnect", self.c.disconnect(**props))


def show(m):
    topic, payload, qos, props = m
    return f"RECV {topic} qos={qos} retain={props.get('retain', 0)} payload={payload.decode()}"


async def quiet_or(c, quiet_line, label):
    """`quiet_line` when `c` gets nothing for QUIET seconds, else `label` and what it got."""
    m = await c.next(timeout=QUIET)
    return quiet_line if m is None else f"{label} {show(m)}"


def props_text(props, skip=("dup", "retain")):
    """gmqtt's property dict (each value a list) as stable text."""
    parts = []
    for k in sorted(props):
        if k in skip:
            continue
        v = props[k]
        v = [x.decode() if isinstance(x, bytes) else x for x in v] if isinstance(v, list) else v
        parts.append(f"{k}={v}")
    return " ".join(parts)


# ---- scenarios ----


async def scenario_props(port):
    sub = Conn("gm-props-sub")
    _, connack = await sub.connect(port)
    # What the broker announces (EMQX defaults); an absent property has its default (3.2.2.3).
    defaults = {
        "maximum_qos": 2,
        "receive_maximum": 65535,
        "retain_available": 1,
        "shared_subscription_available": 1,
        "subscription_identifier_available": 1,
        "topic_alias_maximum": 0,
        "wildcard_subscription_available": 1,
    }
    out("CONNACK " + " ".join(f"{k}={connack.get(k, [d])[0]}" for k, d in defaults.items()))
    await sub.sub("interop/gmqtt/props/#", 1, subscription_identifier=42)
    pub = Conn("gm-props-pub")
    await pub.connect(port)
    pub.c.publish(
        "interop/gmqtt/props/a",
        '{"n":1}',
        qos=1,
        payload_format_id=1,
        content_type="application/json",
        message_expiry_interval=120,
        user_property=[("k1", "v1"), ("k2", "x"), ("k2", "y")],
        response_topic="interop/gmqtt/props/reply",
        correlation_data=b"corr-7",
    )
    await pub.acked()
    m = await sub.expect("message with properties")
    out(show(m))
    props = dict(m[3])
    left = props.pop("message_expiry_interval", [None])[0]
    out("PROPS " + props_text(props))
    out(f"EXPIRY {'ok' if left is not None and 110 <= left <= 120 else left}")
    # A message without properties gets only the subscription identifier.
    pub.c.publish("interop/gmqtt/props/b", "bare", qos=0)
    m = await sub.expect("message without properties")
    out(show(m))
    out("PROPS " + props_text(m[3]))
    # No Local: gmqtt's own message is not echoed to its no-local subscription.
    await pub.sub("interop/gmqtt/props/#", 1, no_local=True)
    pub.c.publish("interop/gmqtt/props/c", "own", qos=1)
    await pub.acked()
    out("SUB " + show(await sub.expect("message from the no-local client")))
    out("NO_LOCAL_RESPECTED" if await pub.quiet() else "GOT_OWN_MESSAGE")
    await sub.disconnect()
    await pub.disconnect()


async def scenario_qos2(port):
    n = 20
    sub = Conn("gm-q2-sub")
    await sub.connect(port)
    await sub.sub("interop/gmqtt/q2/#", 2)
    pub = Conn("gm-q2-pub")
    await pub.connect(port)
    for i in range(n):
        pub.c.publish(f"interop/gmqtt/q2/{i % 2}", f"m{i}", qos=2, user_property=("i", str(i)))
    await pub.acked()
    got = []
    for i in range(n):
        topic, payload, qos, props = await sub.expect(f"QoS 2 message {i}")
        got.append((topic, payload.decode(), qos, props.get("user_property")))
    want = [(f"interop/gmqtt/q2/{i % 2}", f"m{i}", 2, [("i", str(i))]) for i in range(n)]
    # Order is promised per topic ([MQTT-4.6.0-6]): compare each topic's sequence.
    def by_topic(ms):
        return sorted(ms, key=lambda m: m[0])  # stable: keeps each topic's order

    ok = by_topic(got) == by_topic(want)
    out(f"QOS2 {len(got)} in order per topic, exactly once" if ok else f"QOS2 got {got}")
    out("NO_DUPLICATES" if await sub.quiet() else "DUPLICATE")
    # A QoS 2 message to a QoS 1 subscription arrives at QoS 1; retained QoS 2 at QoS 2 with RETAIN.
    low = Conn("gm-q2-low")
    await low.connect(port)
    await low.sub("interop/gmqtt/q2/low", 1)
    pub.c.publish("interop/gmqtt/q2/low", "down", qos=2)
    out("LOW " + show(await low.expect("QoS 2 message at QoS 1")))
    pub.c.publish("interop/gmqtt/q2/kept", "kept", qos=2, retain=True)
    await pub.acked()
    await low.sub("interop/gmqtt/q2/kept", 2)
    out("RETAINED " + show(await low.expect("retained QoS 2 message")))
    pub.c.publish("interop/gmqtt/q2/kept", b"", qos=2, retain=True)
    await pub.acked()
    for c in (sub, pub, low):
        await c.disconnect()


class Proxy:
    """A TCP relay between one client and the broker that the script can break like a network:
    `blackhole` swallows what the client sends, `down` cuts every connection and refuses new ones,
    `up` listens again on the same port."""

    def __init__(self, upstream):
        self.upstream = upstream
        self.port = None
        self.server = None
        self.blackhole = False  # drop what the client sends
        self.deaf = False  # drop what the broker sends
        self.writers = []

    async def up(self):
        self.blackhole = False
        self.deaf = False
        self.server = await asyncio.start_server(self._serve, HOST, self.port or 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def down(self):
        self.server.close()
        await self.server.wait_closed()
        for w in self.writers:
            w.transport.abort()
        self.writers.clear()

    async def _serve(self, cr, cw):
        try:
            br, bw = await asyncio.open_connection(HOST, self.upstream)
        except OSError:
            cw.transport.abort()
            return
        self.writers += [cw, bw]

        async def pipe(r, w, from_client):
            try:
                while data := await r.read(65536):
                    dropped = self.blackhole if from_client else self.deaf
                    if TRACE:
                        arrow = "c->b" if from_client else "b->c"
                        print(f"PROXY {arrow} {'DROP ' if dropped else ''}{data.hex()}", file=sys.stderr)
                    if dropped:
                        continue
                    w.write(data)
                    await w.drain()
            except (ConnectionError, OSError):
                pass
            w.transport.abort()

        await asyncio.gather(pipe(cr, bw, True), pipe(br, cw, False))


async def scenario_reconnect(port):
    topic = "interop/gmqtt/resilient"
    proxy = Proxy(port)
    await proxy.up()
    watcher = Conn("gm-watcher")
    await watcher.connect(port)
    await watcher.sub("interop/gmqtt/will", 1)
    await watcher.sub("interop/gmqtt/from-resilient", 1)
    # A session that outlives the connection, and a will delayed past the outage.
    will = Message("interop/gmqtt/will", "gone", qos=1, will_delay_interval=10)
    r = Conn("gm-resilient", clean=False, will=will, session_expiry_interval=60)
    r.c.set_config({"reconnect_delay": 0.2, "reconnect_retries": -1})
    flags, _ = await r.connect(proxy.port)
    out(f"FIRST session_present={int(flags)}")
    await r.sub(topic, 2)
    # The network starts losing what the client sends: its QoS 1 PUBLISH gets no PUBACK.
    proxy.blackhole = True
    r.c.publish("interop/gmqtt/from-resilient", "sent-during-outage", qos=1)
    await asyncio.sleep(0.2)
    await proxy.down()
    # While the client cannot reach the broker, messages for it are queued in its session.
    pub = Conn("gm-rpub")
    await pub.connect(port)
    pub.c.publish(topic, "queued-1", qos=1)
    pub.c.publish(topic, "queued-2", qos=2)
    await pub.acked()
    out("OUTAGE " + ("watcher saw nothing" if await watcher.quiet() else "watcher got a message"))
    # The network comes back: gmqtt reconnects by itself with Clean Start 0.
    await proxy.up()
    flags, rc, _ = await within("reconnect CONNACK", r.connacks.get(), timeout=3 * WAIT)
    if rc != 0:
        fail(f"reconnect CONNACK {rc}")
    out(f"RECONNECTED session_present={int(flags)}")
    got = sorted([show(await r.expect("queued message")) for _ in range(2)])
    for line in got:
        out(line)
    # gmqtt re-sends its unacknowledged PUBLISH on the resumed session; it arrives once.
    await r.acked()
    out("WATCHER " + show(await watcher.expect("message re-sent after the reconnect")))
    # Live traffic flows on the resumed subscription, and the will was never sent.
    pub.c.publish(topic, "live", qos=1)
    out(show(await r.expect("live message after the reconnect")))
    out("NO_WILL" if await watcher.quiet() else "WILL_SENT_DESPITE_RESUME")
    # A normal DISCONNECT that ends the session: no will either.
    await r.disconnect(session_expiry_interval=0)
    out("NO_WILL_AFTER_DISCONNECT" if await watcher.quiet() else "WILL_AFTER_DISCONNECT")
    r2 = Conn("gm-resilient", clean=False, session_expiry_interval=60)
    flags, _ = await r2.connect(port)
    out(f"AFTER_END session_present={int(flags)}")
    await r2.disconnect(session_expiry_interval=0)
    await pub.disconnect()
    await watcher.disconnect()
    await proxy.down()


async def scenario_qos2resume(port):
    """QoS 2 exchanges cut half way, then resumed ([MQTT-4.4.0-1]): the broker re-sends its PUBREL,
    not the message, and a PUBLISH the client re-sends for a packet id awaiting PUBREL is
    acknowledged without being forwarded again ([MQTT-4.3.3-9], [MQTT-4.3.3-10] in v5)."""
    proxy = Proxy(port)
    await proxy.up()
    watcher = Conn("gm-q2r-watcher")
    await watcher.connect(port)
    await watcher.sub("interop/gmqtt/q2r/out", 2)
    r = Conn("gm-q2r", clean=False, session_expiry_interval=60)
    r.c.set_config({"reconnect_delay": 0.2, "reconnect_retries": -1})
    flags, _ = await r.connect(proxy.port)
    out(f"FIRST session_present={int(flags)}")
    await r.sub("interop/gmqtt/q2r/in", 2)
    on_message = r._on_message

    async def deafen_on_in1(c, topic, payload, qos, props):
        # From here on the client hears nothing: its PUBREC goes out, the broker's PUBREL is lost.
        if payload == b"in-1":
            proxy.deaf = True
        return await on_message(c, topic, payload, qos, props)

    r.c.on_message = deafen_on_in1
    pub = Conn("gm-q2r-pub")
    await pub.connect(port)
    pub.c.publish("interop/gmqtt/q2r/in", "in-1", qos=2)
    await pub.acked()
    out("IN " + show(await r.expect("QoS 2 message before the cut")))
    # The client's QoS 2 PUBLISH reaches the broker, which forwards it; its PUBREC is lost.
    r.c.publish("interop/gmqtt/q2r/out", "out-1", qos=2)
    out("WATCHER " + show(await watcher.expect("client's QoS 2 message")))
    await asyncio.sleep(0.2)
    await proxy.down()
    await asyncio.sleep(0.3)
    await proxy.up()
    flags, rc, _ = await within("reconnect CONNACK", r.connacks.get(), timeout=3 * WAIT)
    if rc != 0:
        fail(f"reconnect CONNACK {rc}")
    out(f"RECONNECTED session_present={int(flags)}")
    # gmqtt re-sends the PUBLISH (it keeps it until PUBCOMP); both exchanges complete.
    await r.acked()
    out("ACKED")
    out(await quiet_or(r, "IN_ONCE", "IN_AGAIN"))
    out(await quiet_or(watcher, "OUT_ONCE", "OUT_AGAIN"))
    # The session goes on: another QoS 2 message each way.
    pub.c.publish("interop/gmqtt/q2r/in", "in-2", qos=2)
    out("IN " + show(await r.expect("QoS 2 message after the resume")))
    r.c.publish("interop/gmqtt/q2r/out", "out-2", qos=2)
    await r.acked()
    out("WATCHER " + show(await watcher.expect("client's QoS 2 message after the resume")))
    await r.disconnect(session_expiry_interval=0)
    for c in (pub, watcher):
        await c.disconnect()
    await proxy.down()


SCENARIOS = {
    "qos2resume": scenario_qos2resume,
    "props": scenario_props,
    "qos2": scenario_qos2,
    "reconnect": scenario_reconnect,
}


def run(scenarios):
    """Runs the scenario named by argv[1] against the broker at port argv[2], then prints DONE."""
    if len(sys.argv) != 3 or sys.argv[1] not in scenarios:
        fail(f"usage: {sys.argv[0]} {{{'|'.join(scenarios)}}} PORT")
    asyncio.run(scenarios[sys.argv[1]](int(sys.argv[2])))
    out("DONE")


def main():
    run(SCENARIOS)


if __name__ == "__main__":
    main()
