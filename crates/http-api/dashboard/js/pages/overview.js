// Overview: node list, connection/subscription/topic counts, message rates (live chart), alarms.

import { h, fill, card, table, status, fmtNumber, fmtDuration, fmtBytes, fmtTime, every } from '../dom.js';
import { get } from '../api.js';
import { lineChart } from '../chart.js';
import { subscribe, WINDOW_MS } from '../sampler.js';

export function render({ main, setTitle }) {
  setTitle('Overview');
  const cards = h('div', { class: 'cards', id: 'overview-cards' });
  const chart = lineChart({ series: ['Incoming msg/s', 'Outgoing msg/s'], windowMs: WINDOW_MS, title: 'Message rates, last 5 minutes', id: 'rates-chart' });
  const nodes = h('div', { id: 'nodes' });
  const alarms = h('div', { id: 'alarms' });
  const rates = { in: 0, out: 0 };
  let stats = null;

  main.append(
    cards,
    h('section', { class: 'panel', 'aria-labelledby': 'rates-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'rates-title' }, 'Message rates'), h('span', { class: 'muted' }, 'last 5 minutes, messages per second')),
      chart.el),
    h('div', { class: 'grid-2' },
      h('section', { class: 'panel', 'aria-labelledby': 'nodes-title' }, h('h2', { id: 'nodes-title' }, 'Nodes'), nodes),
      h('section', { class: 'panel', 'aria-labelledby': 'alarms-title' }, h('h2', { id: 'alarms-title' }, 'Active alarms'), alarms)));

  function drawCards() {
    const s = stats || {};
    fill(cards,
      card('Connections', fmtNumber(s['connections.count'] ?? 0), null, 'stat-connections'),
      card('Live connections', fmtNumber(s['live_connections.count'] ?? 0), null, 'stat-live-connections'),
      card('Subscriptions', fmtNumber(s['subscriptions.count'] ?? 0), null, 'stat-subscriptions'),
      card('Topics', fmtNumber(s['topics.count'] ?? 0), null, 'stat-topics'),
      card('Incoming rate', fmtNumber(Math.round(rates.in * 10) / 10), 'msg/s', 'stat-rate-in'),
      card('Outgoing rate', fmtNumber(Math.round(rates.out * 10) / 10), 'msg/s', 'stat-rate-out'));
  }

  const unsub = subscribe((points) => {
    chart.update(points.slice());
    const last = points[points.length - 1];
    if (last) { rates.in = last[1]; rates.out = last[2]; }
    drawCards();
  });

  const stop = every(3000, async () => {
    const [st, ns, al] = await Promise.all([
      get('/stats?aggregate=true'),
      get('/nodes'),
      get('/alarms?activated=true&limit=50'),
    ]);
    stats = st;
    drawCards();
    fill(nodes, table([
      { title: 'Node', cell: (n) => h('span', { class: 'mono' }, n.node) },
      { title: 'Status', cell: (n) => status(n.node_status) },
      { title: 'Uptime', cell: (n) => fmtDuration(n.uptime) },
      { title: 'Connections', cell: (n) => fmtNumber(n.connections) },
      { title: 'Memory', cell: (n) => fmtBytes(n.memory_used) },
      { title: 'Version', cell: (n) => n.version },
    ], ns, 'No nodes', { id: 'nodes-table' }));
    fill(alarms, table([
      { title: 'Name', cell: (a) => a.name },
      { title: 'Message', cell: (a) => a.message },
      { title: 'Node', cell: (a) => a.node },
      { title: 'Activated at', cell: (a) => fmtTime(a.activate_at) },
    ], al.data || [], 'No active alarms', { id: 'alarms-table' }));
  });

  return () => { stop(); unsub(); chart.stop(); };
}
