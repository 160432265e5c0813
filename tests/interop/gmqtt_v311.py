#!/usr/bin/env python3
"""gmqtt interop scenarios at MQTT 3.1.1 (CONNECT protocol level 4, `version=MQTTv311`) against a
running linkmq on 127.0.0.1.

Usage: gmqtt_v311.py SCENARIO PORT
  SCENARIO: pubsub | retained | will | session | takeover

Driven by tests/tests/interop_gmqtt.rs, with the Conn and Proxy of gmqtt_scenarios.py. Prints one
line per observation and "DONE"; on a failed expectation prints "FAIL: ..." to stderr and exits 1.
Every wait is bounded.
"""

import asyncio

from gmqtt import Message, Subscription
from gmqtt.mqtt.constants import MQTTv311

from gmqtt_scenarios import Conn, Proxy, out, quiet_or, run, show


def v311(client_id, **kw):
    return Conn(client_id, version=MQTTv311, **kw)


def show_dup(m):
    return f"{show(m)} dup={m[3].get('dup', 0)}"


async def scenario_pubsub(port):
    """SUBACK grants each filter's QoS, in order ([MQTT-3.9.3-1]); each QoS published to each
    granted QoS arrives once at the lower of the two ([MQTT-3.8.4-6])."""
    t = "interop/gmqtt/v311/qos"
    sub = v311("gm311-sub")
    flags, _ = await sub.connect(port)
    out(f"CONNACK session_present={int(flags)}")
    granted = await sub.subscribe([Subscription(f"{t}/{q}", qos=q) for q in (0, 1, 2)])
    out(f"SUBACK {list(granted)}")
    pub = v311("gm311-pub")
    await pub.connect(port)
    for sq in (0, 1, 2):
        for pq in (0, 1, 2):
            pub.c.publish(f"{t}/{sq}", f"p{pq}", qos=pq)
            out(show(await sub.expect(f"QoS {pq} message on the QoS {sq} subscription")))
    await pub.acked()
    # A burst of QoS 1 and 2 messages on one topic: each once, in publish order ([MQTT-4.6.0-6]).
    n = 20
    for i in range(n):
        pub.c.publish(f"{t}/2", f"m{i}", qos=1 + i % 2)
    await pub.acked()
    got = [await sub.expect(f"burst message {i}") for i in range(n)]
    want = [(f"{t}/2", f"m{i}", 1 + i % 2) for i in range(n)]
    ok = [(m[0], m[1].decode(), m[2]) for m in got] == want
    out(f"BURST {n} in order, exactly once" if ok else f"BURST got {[show(m) for m in got]}")
    out(await quiet_or(sub, "NO_DUPLICATES", "DUPLICATE"))
    for c in (sub, pub):
        await c.disconnect()


async def scenario_retained(port):
    """RETAIN=1 for a new subscription, 0 on an established one ([MQTT-3.3.1-9]); a subscription
    made again gets them again ([MQTT-3.8.4-3]); QoS 0 replaces ([MQTT-3.3.1-7]); an empty one
    still reaches subscribers and clears ([MQTT-3.3.1-10], [MQTT-3.3.1-11])."""
    t = "interop/gmqtt/v311/retained"
    pub = v311("gm311-rpub")
    await pub.connect(port)
    pub.c.publish(f"{t}/a", "kept-a1", qos=1, retain=True)
    pub.c.publish(f"{t}/b", "kept-b2", qos=2, retain=True)
    await pub.acked()
    s1 = v311("gm311-r1")
    await s1.connect(port)
    await s1.sub(f"{t}/#", 2)
    for line in sorted([show(await s1.expect("retained message on subscribe")) for _ in range(2)]):
        out("NEW " + line)
    pub.c.publish(f"{t}/a", "kept-a2", qos=1, retain=True)
    out("LIVE " + show(await s1.expect("live retained message")))
    await s1.sub(f"{t}/#", 2)
    for line in sorted([show(await s1.expect("retained message, subscribed again")) for _ in range(2)]):
        out("AGAIN " + line)
    pub.c.publish(f"{t}/a", "kept-a0", qos=0, retain=True)
    out("LIVE " + show(await s1.expect("live retained QoS 0 message")))
    s2 = v311("gm311-r2")
    await s2.connect(port)
    await s2.sub(f"{t}/+", 1)
    for line in sorted([show(await s2.expect("retained message at QoS 1")) for _ in range(2)]):
        out("QOS1SUB " + line)
    for topic in (f"{t}/a", f"{t}/b"):
        pub.c.publish(topic, b"", qos=1, retain=True)
    await pub.acked()
    for _ in range(2):
        out("EMPTY " + show(await s1.expect("empty retained message")))
    s3 = v311("gm311-r3")
    await s3.connect(port)
    await s3.sub(f"{t}/#", 1)
    out(await quiet_or(s3, "CLEARED", "STILL_RETAINED"))
    for c in (pub, s1, s2, s3):
        await c.disconnect()


async def scenario_will(port):
    """The will goes out when the network connection is lost ([MQTT-3.1.2-8]), with its QoS and
    retained ([MQTT-3.1.2-17]), not after DISCONNECT ([MQTT-3.1.2-10])."""
    t = "interop/gmqtt/v311/will"
    watcher = v311("gm311-watcher")
    await watcher.connect(port)
    await watcher.sub(f"{t}/#", 2)
    polite = v311("gm311-polite", will=Message(f"{t}/polite", "polite-will", qos=1))
    await polite.connect(port)
    await polite.disconnect()
    out(await quiet_or(watcher, "NO_WILL_AFTER_DISCONNECT", "WILL"))
    # The network between gmqtt and the broker fails: no DISCONNECT. (gmqtt tries the relay once
    # more, refused, and gives up.)
    proxy = Proxy(port)
    await proxy.up()
    will = Message(f"{t}/rude", "rude-will", qos=1, retain=True)
    rude = v311("gm311-rude", will=will)
    rude.c.set_config({"reconnect_delay": 0.1, "reconnect_retries": 0})
    await rude.connect(proxy.port)
    await proxy.down()
    out("WATCHER " + show(await watcher.expect("will after the network failure")))
    out(await quiet_or(watcher, "NO_MORE", "MORE"))
    late = v311("gm311-late")
    await late.connect(port)
    await late.sub(f"{t}/#", 1)
    out("LATE " + show(await late.expect("retained will")))
    watcher.c.publish(f"{t}/rude", b"", qos=1, retain=True)
    await watcher.acked()
    for c in (watcher, late):
        await c.disconnect()


async def scenario_session(port):
    """Clean session 0: the session outlives the connection (Session Present 1, [MQTT-3.2.2-2]),
    with its subscription, the QoS 1 messages queued meanwhile in order, and the one whose PUBACK
    was lost re-sent first with DUP=1 ([MQTT-4.4.0-1], [MQTT-3.3.1-1]); clean session 1 discards it
    ([MQTT-3.1.2-6])."""
    t = "interop/gmqtt/v311/session"
    cid = "gm311-persistent"
    proxy = Proxy(port)
    await proxy.up()
    s = v311(cid, clean=False)
    s.c.set_config({"reconnect_delay": 0.1, "reconnect_retries": 0})
    flags, _ = await s.connect(proxy.port)
    out(f"FIRST session_present={int(flags)}")
    await s.sub(t, 1)
    pub = v311("gm311-qpub")
    await pub.connect(port)
    # gmqtt gets this one, but its PUBACK is lost on the way; then the network fails.
    proxy.blackhole = True
    pub.c.publish(t, "unacked", qos=1)
    out("BEFORE_CUT " + show_dup(await s.expect("message whose PUBACK is lost")))
    await asyncio.sleep(0.1)
    await proxy.down()
    for i in (1, 2, 3):
        pub.c.publish(t, f"offline-{i}", qos=1)
    await pub.acked()
    s = v311(cid, clean=False)
    flags, _ = await s.connect(port)
    out(f"RESUMED session_present={int(flags)}")
    out(show_dup(await s.expect("the unacknowledged message, re-sent")))
    # Queued while offline (or, had the broker not yet seen the cut, in flight and re-sent): once
    # each and in order either way, DUP not asserted.
    for i in (1, 2, 3):
        out(show(await s.expect(f"queued message {i}")))
    pub.c.publish(t, "live", qos=1)
    out(show(await s.expect("live message on the resumed subscription")))
    out(await quiet_or(s, "NOTHING_ELSE", "UNEXPECTED"))
    await s.disconnect()
    # Clean session 1 ends the session: afterwards nothing is left to resume.
    s = v311(cid, clean=True)
    flags, _ = await s.connect(port)
    out(f"CLEAN session_present={int(flags)}")
    await s.disconnect()
    s = v311(cid, clean=False)
    flags, _ = await s.connect(port)
    out(f"AFTER_CLEAN session_present={int(flags)}")
    pub.c.publish(t, "nobody-subscribed", qos=1)
    out(await quiet_or(s, "NO_SUBSCRIPTION", "SUBSCRIPTION_SURVIVED"))
    await s.disconnect()
    s = v311(cid, clean=True)
    await s.connect(port)
    await s.disconnect()
    await pub.disconnect()


async def scenario_takeover(port):
    """A clean session still connected, taken over by a clean session 0 connection with its client
    id: the old connection is closed ([MQTT-3.1.4-2]) and its state (the subscription) is not
    reused ([MQTT-3.1.2-6]): Session Present 0 ([MQTT-3.2.2-3]). A clean session 0 taken over the
    same way is resumed (Session Present 1, [MQTT-3.2.2-2]) with its subscription."""
    t = "interop/gmqtt/v311/takeover"
    cid = "gm311-taken-over"
    pub = v311("gm311-tpub")
    await pub.connect(port)
    for clean in (True, False):
        # The closed gmqtt client would reconnect after reconnect_delay: after the script ends.
        old = v311(cid, clean=clean)
        old.c.set_config({"reconnect_delay": 60, "reconnect_retries": 0})
        await old.connect(port)
        await old.sub(t, 1)
        s = v311(cid, clean=False)
        flags, _ = await s.connect(port)
        what = f"TAKEOVER_OF_CLEAN_{int(clean)}"
        out(f"{what} session_present={int(flags)}")
        pub.c.publish(t, f"after-takeover-of-clean-{int(clean)}", qos=1)
        m = await s.next()
        out(f"{what} NO_SUBSCRIPTION" if m is None else f"{what} {show(m)}")
        await s.disconnect()
        s = v311(cid, clean=True)
        await s.connect(port)
        await s.disconnect()
    await pub.disconnect()


SCENARIOS = {
    "pubsub": scenario_pubsub,
    "retained": scenario_retained,
    "will": scenario_will,
    "session": scenario_session,
    "takeover": scenario_takeover,
}


def main():
    run(SCENARIOS)


if __name__ == "__main__":
    main()
