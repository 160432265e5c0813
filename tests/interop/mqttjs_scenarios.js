#!/usr/bin/env node
// MQTT.js (npm `mqtt` 4.x, Debian package node-mqtt) interop scenarios against a running linkmq.
//
// Usage: node mqttjs_scenarios.js SCENARIO URL VERSION
//   SCENARIO: pubsub | retained | will | props | nolocal | alias | session | acl
//   URL:      mqtt://127.0.0.1:PORT or ws://127.0.0.1:PORT/mqtt
//   VERSION:  311 | 5
// (mqttjs_tls.js runs pubsub, retained and props over mqtts:// and wss:// with its TLS options.)
//
// Driven by tests/tests/interop_mqttjs.rs (NODE_PATH must reach the `mqtt` module; Debian puts it in
// /usr/share/nodejs). Prints one line per observation (the Rust test asserts on them) and "DONE";
// on a failed expectation prints "FAIL: ..." to stderr and exits 1. Every wait is bounded.
'use strict'

const mqtt = require('mqtt')

const WAIT = 5000 // ms for anything that must happen
const QUIET = 500 // ms of silence that prove something did not happen

function fail (msg) {
  process.stderr.write(`FAIL: ${msg}\n`)
  process.exit(1)
}

function out (line) {
  process.stdout.write(line + '\n')
}

/// Options every connection gets (mqttjs_tls.js puts `ca`, `rejectUnauthorized` and a client
/// certificate here; MQTT.js hands them to tls.connect, or to ws for wss://).
const tlsDefaults = {}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/// Resolves with what `start(cb)` calls back, or fails the script after WAIT.
function call (what, start) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`${what}: nothing within ${WAIT} ms`), WAIT)
    start((...args) => {
      clearTimeout(timer)
      resolve(args)
    })
  })
}

/// One MQTT.js client; messages (with their packets) queue up for `next`.
class Conn {
  constructor (url, version, clientId, opts = {}) {
    this.url = url
    this.id = clientId
    this.opts = {
      clientId,
      protocolVersion: version === 5 ? 5 : 4,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: WAIT,
      keepalive: 30,
      ...tlsDefaults,
      ...opts
    }
    this.msgs = []
    this.waiter = null
    this.sent = [] // PUBLISH packets as written to the wire
    this.received = [] // PUBLISH packets as read from the wire (before alias resolution)
  }

  /// Connects; resolves with the CONNACK packet (fails on refusal or silence).
  async connect () {
    const [connack] = await call(`${this.id} CONNACK`, (done) => {
      this.c = mqtt.connect(this.url, this.opts)
      this.c.on('connect', (ack) => done(ack))
      this.c.on('error', (e) => fail(`${this.id}: ${e.message}`))
      this.c.on('packetsend', (p) => {
        if (p.cmd === 'publish') this.sent.push({ topic: p.topic, properties: { ...p.properties } })
      })
      this.c.on('packetreceive', (p) => {
        if (p.cmd === 'publish') {
          this.received.push({ topic: p.topic, properties: { ...p.properties } })
        }
      })
      this.c.on('message', (topic, payload, packet) => {
        const m = { topic, payload, packet }
        if (this.waiter) {
          const w = this.waiter
          this.waiter = null
          w(m)
        } else {
          this.msgs.push(m)
        }
      })
    })
    return connack
  }

  /// Subscribes; resolves with the granted QoS / reason code of each filter.
  async subscribe (filters, opts = {}) {
    const [err, granted] = await call(`${this.id} SUBACK`, (done) =>
      this.c.subscribe(filters, opts, done)
    )
    if (err) fail(`${this.id} subscribe: ${err.message}`)
    return granted.map((g) => g.qos)
  }

  /// Subscribes and fails unless every filter is granted `qos`.
  async sub (filter, qos, opts = {}) {
    const granted = await this.subscribe(filter, { qos, ...opts })
    if (granted.length !== 1 || granted[0] !== qos) fail(`${this.id} SUBACK ${filter}: ${granted}`)
  }

  /// Publishes; resolves with the error (a v5 reason code as `err.code`) or null once acknowledged.
  async publish (topic, payload, qos, opts = {}) {
    const [err] = await call(`${this.id} publish ${topic} at QoS ${qos}`, (done) =>
      this.c.publish(topic, payload, { qos, ...opts }, done)
    )
    return err || null
  }

  async pub (topic, payload, qos, opts = {}) {
    const err = await this.publish(topic, payload, qos, opts)
    if (err) fail(`${this.id} publish ${topic}: ${err.message}`)
  }

  /// The next message, or null after `timeout` ms.
  next (timeout = WAIT) {
    if (this.msgs.length > 0) return Promise.resolve(this.msgs.shift())
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null
        resolve(null)
      }, timeout)
      this.waiter = (m) => {
        clearTimeout(timer)
        resolve(m)
      }
    })
  }

  async expect (what) {
    const m = await this.next()
    if (m === null) fail(`${this.id}: no message within ${WAIT} ms (${what})`)
    return m
  }

  async quiet () {
    return (await this.next(QUIET)) === null
  }

  /// A normal DISCONNECT (with v5 properties if given), waiting for the socket to close.
  async end (properties) {
    await call(`${this.id} end`, (done) =>
      this.c.end(false, properties ? { properties } : {}, done)
    )
  }

  /// Closes the socket without DISCONNECT.
  async abort () {
    await call(`${this.id} abort`, (done) => this.c.end(true, done))
  }
}

function show (m) {
  const p = m.packet
  return `RECV ${m.topic} qos=${p.qos} retain=${p.retain ? 1 : 0} payload=${m.payload.toString()}`
}

/// A v5 property object as stable text (Buffers as utf-8 strings, keys sorted).
function props (p) {
  const keys = Object.keys(p || {}).sort()
  return keys
    .map((k) => {
      const v = p[k]
      const s = Buffer.isBuffer(v) ? `b'${v.toString()}'` : JSON.stringify(v)
      return `${k}=${s}`
    })
    .join(' ')
}

// ---- scenarios ----

async function pubsub (url, v) {
  const topic = `interop/v${v}/pubsub`
  const sub = new Conn(url, v, `js-sub-${v}`)
  await sub.connect()
  await sub.sub(topic, 2)
  const pub = new Conn(url, v, `js-pub-${v}`)
  await pub.connect()
  for (const qos of [0, 1, 2]) {
    await pub.pub(topic, `q${qos}`, qos)
    out(show(await sub.expect(`QoS ${qos} message`)))
  }
  // A QoS 0 subscription gets a QoS 2 message at QoS 0, a QoS 2 one at QoS 2.
  const low = new Conn(url, v, `js-low-${v}`)
  await low.connect()
  await low.sub(topic, 0)
  await pub.pub(topic, 'q2-to-low', 2)
  out('LOW ' + show(await low.expect('QoS 2 message downgraded')))
  out('HIGH ' + show(await sub.expect('QoS 2 message')))
  // A QoS 1 subscription gets a QoS 2 message at QoS 1, a QoS 1 message at QoS 1.
  const mid = new Conn(url, v, `js-mid-${v}`)
  await mid.connect()
  await mid.sub(topic, 1)
  await pub.pub(topic, 'q2-to-mid', 2)
  out('MID ' + show(await mid.expect('QoS 2 message at QoS 1')))
  for (const c of [sub, pub, low, mid]) await c.end()
}

async function retained (url, v) {
  const topic = `interop/v${v}/retained`
  const pub = new Conn(url, v, `js-rpub-${v}`)
  await pub.connect()
  await pub.pub(topic, 'kept-1', 1, { retain: true })
  const s1 = new Conn(url, v, `js-r1-${v}`)
  await s1.connect()
  await s1.sub(topic, 1)
  out('NEW ' + show(await s1.expect('retained message on subscribe')))
  await pub.pub(topic, 'kept-2', 1, { retain: true })
  out('LIVE ' + show(await s1.expect('live retained publish')))
  const s2 = new Conn(url, v, `js-r2-${v}`)
  await s2.connect()
  await s2.sub(`interop/v${v}/+`, 1)
  out('WILDCARD ' + show(await s2.expect('retained message on a wildcard subscribe')))
  out((await s2.quiet()) ? 'ONE_RETAINED' : 'MORE_THAN_ONE_RETAINED')
  if (v === 5) {
    // Retain Handling 2: no retained messages on subscribe; 1: only for a new subscription.
    const rh = new Conn(url, v, `js-rh-${v}`)
    await rh.connect()
    await rh.sub(topic, 1, { rh: 2 })
    out((await rh.quiet()) ? 'RH2 NONE' : 'RH2 GOT_RETAINED')
    await rh.sub(`interop/v${v}/#`, 1, { rh: 1 })
    out('RH1 NEW ' + show(await rh.expect('retained message, new subscription')))
    await rh.sub(`interop/v${v}/#`, 1, { rh: 1 })
    out((await rh.quiet()) ? 'RH1 EXISTING NONE' : 'RH1 EXISTING GOT_RETAINED')
    // Retain As Published keeps RETAIN=1 on live delivery.
    const rap = new Conn(url, v, `js-rap-${v}`)
    await rap.connect()
    await rap.sub(topic, 1, { rap: true, rh: 2 })
    await pub.pub(topic, 'kept-3', 1, { retain: true })
    out('RAP ' + show(await rap.expect('live retained publish with rap')))
    await rap.end()
    await rh.end()
  }
  // An empty retained payload clears it.
  await pub.pub(topic, '', 1, { retain: true })
  const s3 = new Conn(url, v, `js-r3-${v}`)
  await s3.connect()
  await s3.sub(topic, 1)
  const m = await s3.next(QUIET)
  out(m === null ? 'CLEARED' : 'AFTER_CLEAR ' + show(m))
  for (const c of [pub, s1, s2, s3]) await c.end()
}

async function will (url, v) {
  const topic = `interop/v${v}/will`
  const sub = new Conn(url, v, `js-wsub-${v}`)
  await sub.connect()
  await sub.sub(topic, 1)
  const willOf = (payload) => {
    const w = { topic, payload, qos: 1, retain: false }
    if (v === 5) {
      w.properties = {
        contentType: 'text/plain',
        userProperties: { from: 'mqttjs' },
        responseTopic: `${topic}/reply`,
        correlationData: Buffer.from('w-1')
      }
    }
    return w
  }
  // A normal DISCONNECT discards the will.
  const polite = new Conn(url, v, `js-polite-${v}`, { will: willOf('polite-will') })
  await polite.connect()
  await polite.end()
  // Closing the socket without DISCONNECT publishes it.
  const rude = new Conn(url, v, `js-rude-${v}`, { will: willOf('rude-will') })
  await rude.connect()
  await rude.abort()
  const m = await sub.expect('will message after abnormal close')
  out(show(m))
  if (v === 5) out('WILL_PROPS ' + props(m.packet.properties))
  out((await sub.quiet()) ? 'NO_MORE' : 'ANOTHER_MESSAGE_AFTER_THE_WILL')
  if (v === 5) {
    // Will Delay 2 s with a resumable session: reconnecting in time suppresses the will.
    const opts = {
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: { ...willOf('delayed-will'), properties: { willDelayInterval: 2 } }
    }
    const d = new Conn(url, v, `js-delayed-${v}`, opts)
    await d.connect()
    await d.abort()
    const again = new Conn(url, v, `js-delayed-${v}`, { ...opts, will: undefined })
    const ack = await again.connect()
    out(`DELAYED resumed session_present=${ack.sessionPresent ? 1 : 0}`)
    await sleep(2500)
    out((await sub.quiet()) ? 'DELAYED NO_WILL' : 'DELAYED WILL_SENT')
    // Without a reconnect, the delayed will comes once its delay is over (not at once).
    const late = new Conn(url, v, `js-late-${v}`, {
      clean: false,
      properties: { sessionExpiryInterval: 30 },
      will: { ...willOf('late-will'), properties: { willDelayInterval: 1 } }
    })
    await late.connect()
    const t0 = Date.now()
    await late.abort()
    const lm = await sub.expect('delayed will')
    const waited = Date.now() - t0
    out(`DELAYED ${show(lm)} after_delay=${waited >= 900 ? 1 : 0}`)
    await again.end({ sessionExpiryInterval: 0 })
  }
  await sub.end()
}

async function props5 (url, v) {
  if (v !== 5) fail('props is a v5 scenario')
  const sub = new Conn(url, v, 'js-props-sub')
  await sub.connect()
  await sub.sub('interop/js/props/a', 1, { properties: { subscriptionIdentifier: 7 } })
  await sub.sub('interop/js/props/b/#', 2, { properties: { subscriptionIdentifier: 300 } })
  const pub = new Conn(url, v, 'js-props-pub')
  await pub.connect()
  await pub.pub('interop/js/props/a', '{"n":1}', 1, {
    properties: {
      payloadFormatIndicator: true,
      contentType: 'application/json',
      messageExpiryInterval: 60,
      userProperties: { k1: 'v1', k2: ['x', 'y'] },
      responseTopic: 'interop/js/props/reply',
      correlationData: Buffer.from('corr-1')
    }
  })
  const a = await sub.expect('message with properties')
  const pa = { ...a.packet.properties }
  const expiry = pa.messageExpiryInterval
  delete pa.messageExpiryInterval
  out(show(a))
  out(`PROPS ${props(pa)}`)
  // Forwarded at once: 60, or a little less on a slow machine; never more, never absent.
  out(`EXPIRY ${expiry >= 50 && expiry <= 60 ? 'ok' : expiry}`)
  await pub.pub('interop/js/props/b/c', 'plain', 2)
  const b = await sub.expect('message on the second subscription')
  out(show(b))
  out(`PROPS ${props(b.packet.properties)}`)

  // Request / response: a responder echoes correlation data to the response topic.
  const responder = new Conn(url, v, 'js-responder')
  await responder.connect()
  await responder.sub('interop/js/req', 1)
  const requester = new Conn(url, v, 'js-requester')
  await requester.connect()
  await requester.sub('interop/js/resp/js-requester', 1)
  await requester.pub('interop/js/req', 'ping', 1, {
    properties: { responseTopic: 'interop/js/resp/js-requester', correlationData: Buffer.from([0, 1, 2, 255]) }
  })
  const req = await responder.expect('request')
  const rp = req.packet.properties || {}
  out(`REQUEST ${req.payload} response_topic=${rp.responseTopic} corr=${rp.correlationData && rp.correlationData.toString('hex')}`)
  await responder.pub(rp.responseTopic, 'pong', 1, { properties: { correlationData: rp.correlationData } })
  const resp = await requester.expect('response')
  out(`RESPONSE ${resp.topic} ${resp.payload} corr=${resp.packet.properties.correlationData.toString('hex')}`)
  for (const c of [sub, pub, responder, requester]) await c.end()
}

async function nolocal (url, v) {
  if (v !== 5) fail('nolocal is a v5 scenario')
  const self = new Conn(url, v, 'js-nl-self')
  await self.connect()
  await self.sub('interop/js/nl/quiet', 1, { nl: true })
  await self.sub('interop/js/nl/echo', 1, { nl: false })
  const other = new Conn(url, v, 'js-nl-other')
  await other.connect()
  await other.sub('interop/js/nl/#', 1)
  await self.pub('interop/js/nl/quiet', 'mine', 1)
  await self.pub('interop/js/nl/echo', 'echoed', 1)
  out('OTHER ' + show(await other.expect('own message 1')))
  out('OTHER ' + show(await other.expect('own message 2')))
  out('SELF ' + show(await self.expect('own message without no-local')))
  out((await self.quiet()) ? 'SELF NO_LOCAL_RESPECTED' : 'SELF GOT_OWN_NO_LOCAL_MESSAGE')
  // Someone else's message on the no-local filter still arrives.
  await other.pub('interop/js/nl/quiet', 'theirs', 1)
  out('SELF ' + show(await self.expect('message from another client')))
  await self.end()
  await other.end()
}

async function alias (url, v) {
  if (v !== 5) fail('alias is a v5 scenario')
  const plain = new Conn(url, v, 'js-alias-plain')
  await plain.connect()
  await plain.sub('interop/js/alias/#', 1)
  // This subscriber lets the server use up to 5 topic aliases towards it.
  const aliased = new Conn(url, v, 'js-alias-recv', { topicAliasMaximum: 5 })
  await aliased.connect()
  await aliased.sub('interop/js/alias/#', 1)
  const pub = new Conn(url, v, 'js-alias-pub', { autoUseTopicAlias: true })
  const ack = await pub.connect()
  out(`ALIAS_MAX ${ack.properties && ack.properties.topicAliasMaximum}`)
  await pub.pub('interop/js/alias/x', 'a1', 1, { properties: { topicAlias: 1 } }) // set alias 1
  await pub.pub('interop/js/alias/x', 'a2', 1) // autoUseTopicAlias: empty topic, alias 1
  await pub.pub('interop/js/alias/y', 'a3', 0, { properties: { topicAlias: 1 } }) // remap 1
  await pub.pub('interop/js/alias/y', 'a4', 2) // alias 1 again, now for y
  for (const s of pub.sent) out(`SENT topic='${s.topic}' alias=${s.properties.topicAlias}`)
  for (let i = 1; i <= 4; i++) out('PLAIN ' + show(await plain.expect(`aliased message ${i}`)))
  for (let i = 1; i <= 4; i++) out('ALIASED ' + show(await aliased.expect(`message ${i} via server alias`)))
  // What the server put on the wire towards the alias-accepting client.
  for (const r of aliased.received) out(`WIRE topic='${r.topic}' alias=${r.properties.topicAlias}`)
  // Towards the other client: full topic names, no alias.
  out(plain.received.every((r) => r.topic !== '' && r.properties.topicAlias === undefined) ? 'PLAIN NO_ALIAS' : 'PLAIN GOT_ALIAS')
  for (const c of [plain, aliased, pub]) await c.end()
}

async function session (url, v) {
  const topic = `interop/v${v}/session`
  const cid = `js-persistent-${v}`
  const opts = { clean: false }
  if (v === 5) opts.properties = { sessionExpiryInterval: 60 }
  let s = new Conn(url, v, cid, opts)
  let ack = await s.connect()
  out(`FIRST session_present=${ack.sessionPresent ? 1 : 0}`)
  await s.sub(topic, 2)
  await s.end()
  const pub = new Conn(url, v, `js-qpub-${v}`)
  await pub.connect()
  await pub.pub(topic, 'offline-1', 1)
  if (v === 5) {
    // Expires while queued: never delivered. The other keeps counting down.
    await pub.pub(topic, 'short-lived', 1, { properties: { messageExpiryInterval: 1 } })
    await pub.pub(topic, 'long-lived', 1, { properties: { messageExpiryInterval: 60 } })
  }
  // Last: MQTT.js hands a QoS 2 message over at PUBREL, a round trip after a QoS 1 one.
  await pub.pub(topic, 'offline-2', 2)
  if (v === 5) await sleep(2100)
  s = new Conn(url, v, cid, opts)
  ack = await s.connect()
  out(`RESUMED session_present=${ack.sessionPresent ? 1 : 0}`)
  out(show(await s.expect('first queued message')))
  if (v === 5) {
    const m = await s.expect('long-lived queued message')
    const left = m.packet.properties && m.packet.properties.messageExpiryInterval
    // Waited at least 2.1 s in the queue: at most 58 left (less on a slow machine).
    out(`${show(m)} expiry_decreased=${left >= 40 && left <= 58 ? 1 : left}`)
  }
  out(show(await s.expect('QoS 2 queued message')))
  await pub.pub(topic, 'live', 1)
  out(show(await s.expect('live message on the resumed subscription')))
  out((await s.quiet()) ? 'NOTHING_ELSE' : 'UNEXPECTED_MESSAGE')
  if (v === 5) {
    // DISCONNECT may shorten the expiry to 1 s: the session is gone 1.6 s later.
    await s.end({ sessionExpiryInterval: 1 })
    await sleep(1600)
    s = new Conn(url, v, cid, opts)
    ack = await s.connect()
    out(`EXPIRED session_present=${ack.sessionPresent ? 1 : 0}`)
    await pub.pub(topic, 'after-expiry', 1)
    out((await s.quiet()) ? 'NO_SUBSCRIPTION' : 'SUBSCRIPTION_SURVIVED')
    await s.end({ sessionExpiryInterval: 0 })
  } else {
    await s.end()
    s = new Conn(url, v, cid, { clean: true })
    ack = await s.connect()
    out(`CLEAN session_present=${ack.sessionPresent ? 1 : 0}`)
    await s.end()
  }
  await pub.end()
}

async function acl (url, v) {
  const c = new Conn(url, v, `js-acl-${v}`)
  await c.connect()
  // One SUBSCRIBE, one allowed and one denied filter: per-filter return codes.
  const granted = await c.subscribe({ 'interop/js/acl/ok': { qos: 1 }, 'interop/js/acl/denied/x': { qos: 1 } })
  out(`SUBACK ${granted.join(',')}`)
  const watcher = new Conn(url, v, `js-aclw-${v}`)
  await watcher.connect()
  await watcher.sub('interop/js/acl/nopub/#', 1)
  const err = await c.publish('interop/js/acl/nopub/a', 'denied', 1)
  out(`PUBACK ${err ? err.code : 0}`)
  out((await watcher.quiet()) ? 'DENIED_NOT_DELIVERED' : 'DENIED_DELIVERED')
  await watcher.pub('interop/js/acl/ok', 'allowed', 1)
  out(show(await c.expect('message on the allowed filter')))
  for (const x of [c, watcher]) await x.end()
}

const SCENARIOS = { pubsub, retained, will, props: props5, nolocal, alias, session, acl }

async function main () {
  const [scenario, url, version] = process.argv.slice(2)
  if (!SCENARIOS[scenario] || !url || !['311', '5'].includes(version)) {
    fail(`usage: mqttjs_scenarios.js {${Object.keys(SCENARIOS).join('|')}} URL {311|5}`)
  }
  await SCENARIOS[scenario](url, version === '5' ? 5 : 311)
  out('DONE')
  process.exit(0)
}

module.exports = { Conn, SCENARIOS, WAIT, fail, out, show, tlsDefaults }

if (require.main === module) main().catch((e) => fail(e.stack || String(e)))
