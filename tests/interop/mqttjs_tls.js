#!/usr/bin/env node
// MQTT.js interop over TLS (mqtts://) and WebSocket over TLS (wss://), the server certificate
// verified against the test's CA (`ca`, `rejectUnauthorized: true`).
//
// Usage: node mqttjs_tls.js SCENARIO URL VERSION --ca FILE [--cert FILE --key FILE]
//                           [--rogue-cert FILE --rogue-key FILE]
//   SCENARIO: pubsub | retained | props (those of mqttjs_scenarios.js, over TLS)
//             | trust (the CA is what lets the client in)
//             | mtls (the listener requires a client certificate: --cert/--key from the CA,
//                     --rogue-cert/--rogue-key from another CA)
//   URL:      mqtts://127.0.0.1:PORT or wss://127.0.0.1:PORT/mqtt
//   VERSION:  311 | 5
//
// Driven by tests/tests/interop_mqttjs.rs; prints one line per observation and "DONE", or
// "FAIL: ..." on stderr and exits 1. Every wait is bounded.
'use strict'

const fs = require('fs')
const mqtt = require('mqtt')
const { Conn, SCENARIOS, WAIT, fail, out, show, tlsDefaults } = require('./mqttjs_scenarios.js')

/// Connects expecting the TLS handshake to fail; resolves with the error code the client saw
/// (from MQTT.js or from its socket, which MQTT.js does not always pass on). Connecting fails the
/// script.
function refusal (url, v, clientId, tls) {
  return new Promise((resolve) => {
    const timer = setTimeout(() => fail(`${clientId}: neither refused nor connected within ${WAIT} ms`), WAIT)
    const c = mqtt.connect(url, {
      clientId,
      protocolVersion: v === 5 ? 5 : 4,
      reconnectPeriod: 0,
      connectTimeout: WAIT,
      ...tls
    })
    let err = null
    const note = (e) => { err = err || e }
    c.on('error', note)
    c.stream.on('error', note)
    c.on('connect', () => fail(`${clientId} connected`))
    c.on('close', () => {
      clearTimeout(timer)
      c.end(true)
      resolve(err ? err.code || err.message : 'closed without an error')
    })
  })
}

/// A QoS 1 message from `c` to itself.
async function roundTrip (c, topic) {
  await c.sub(topic, 1)
  await c.pub(topic, `via-${c.id}`, 1)
  return show(await c.expect('own message'))
}

/// With the CA the client connects and talks; without it (the system's trust store only) the
/// handshake fails on the server certificate.
async function trust (url, v) {
  const c = new Conn(url, v, 'js-trusted')
  const ack = await c.connect()
  out(`TRUSTED session_present=${ack.sessionPresent ? 1 : 0}`)
  out('TRUSTED ' + (await roundTrip(c, 'interop/js/tls/trust')))
  await c.end()
  const code = await refusal(url, v, 'js-untrusted', { ca: undefined, rejectUnauthorized: true })
  out(`NO_CA refused ${code}`)
}

/// A listener that requires a client certificate: the one from the CA gets in, none or one from
/// another CA is refused during the handshake.
async function mtls (url, v, files) {
  if (!files.cert || !files['rogue-cert']) fail('mtls needs --cert/--key and --rogue-cert/--rogue-key')
  const c = new Conn(url, v, 'js-mtls')
  const ack = await c.connect()
  out(`WITH_CERT session_present=${ack.sessionPresent ? 1 : 0}`)
  out('WITH_CERT ' + (await roundTrip(c, 'interop/js/tls/mtls')))
  await c.end()
  const server = { ca: tlsDefaults.ca, rejectUnauthorized: true }
  out(`WITHOUT_CERT refused ${await refusal(url, v, 'js-no-cert', server)}`)
  const rogue = {
    ...server,
    cert: fs.readFileSync(files['rogue-cert']),
    key: fs.readFileSync(files['rogue-key'])
  }
  out(`ROGUE_CERT refused ${await refusal(url, v, 'js-rogue-cert', rogue)}`)
}

const TLS_SCENARIOS = {
  pubsub: SCENARIOS.pubsub,
  retained: SCENARIOS.retained,
  props: SCENARIOS.props,
  trust,
  mtls
}

/// `--name FILE` pairs.
function files (args) {
  const f = {}
  for (let i = 0; i < args.length; i += 2) {
    const name = args[i].replace(/^--/, '')
    if (!['ca', 'cert', 'key', 'rogue-cert', 'rogue-key'].includes(name) || !args[i + 1]) {
      fail(`unknown option or missing file: ${args[i]}`)
    }
    f[name] = args[i + 1]
  }
  return f
}

async function main () {
  const [scenario, url, version, ...rest] = process.argv.slice(2)
  const f = files(rest)
  if (!TLS_SCENARIOS[scenario] || !/^(mqtts|wss):/.test(url || '') || !['311', '5'].includes(version) || !f.ca) {
    fail(`usage: mqttjs_tls.js {${Object.keys(TLS_SCENARIOS).join('|')}} mqtts://|wss://URL {311|5} --ca FILE ...`)
  }
  tlsDefaults.ca = fs.readFileSync(f.ca)
  tlsDefaults.rejectUnauthorized = true
  if (f.cert) {
    tlsDefaults.cert = fs.readFileSync(f.cert)
    tlsDefaults.key = fs.readFileSync(f.key)
  }
  await TLS_SCENARIOS[scenario](url, version === '5' ? 5 : 311, f)
  out('DONE')
  process.exit(0)
}

main().catch((e) => fail(e.stack || String(e)))
