// One cluster link: Overview tab (message transmission statistics, rates over time, execution
// status per node) and Settings tab (the form); delete icon at the upper right.

import { h, fill, card, table, status, fmtNumber, toast, every } from '../dom.js';
import { get, put, seg } from '../api.js';
import { lineChart } from '../chart.js';
import { linkForm } from './link_form.js';
import { enableSwitch, deleteLink } from './links.js';

const WINDOW_MS = 5 * 60 * 1000;
/** Rate history per link, kept while the dashboard is open (survives tab switches). */
const history = new Map();

function trashIcon() {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('width', '16');
  svg.setAttribute('height', '16');
  svg.setAttribute('aria-hidden', 'true');
  const p = document.createElementNS(ns, 'path');
  p.setAttribute('fill', 'currentColor');
  p.setAttribute('d', 'M9 3h6l1 2h4v2H4V5h4zm-3 6h12l-1 12H7zm4 2v8h2v-8zm4 0v8h2v-8z');
  svg.append(p);
  return svg;
}

export function render({ main, setTitle, params, navigate }) {
  const [name, tab = 'overview'] = params;
  setTitle('Cluster Linking');
  const base = `#/cluster-linking/${encodeURIComponent(name)}`;
  const head = h('div', { class: 'page-head' });
  const body = h('div', { id: 'link-tab' });
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/cluster-linking' }, 'Cluster Linking'), ' / ', name),
    head,
    h('nav', { class: 'tabs', role: 'tablist', 'aria-label': 'Link views' },
      h('a', { href: `${base}/overview`, role: 'tab', id: 'tab-overview', 'aria-selected': String(tab === 'overview') }, 'Overview'),
      h('a', { href: `${base}/settings`, role: 'tab', id: 'tab-settings', 'aria-selected': String(tab === 'settings') }, 'Settings')),
    body);

  let link = null;
  let headKey = '';
  function drawHead() {
    const key = JSON.stringify(link);
    if (key === headKey) return;
    headKey = key;
    fill(head,
      h('div', { class: 'link-head' },
        h('h2', { id: 'link-title' }, name),
        status(link.status),
        enableSwitch(link, (u) => { link = u; drawHead(); }, 'link-enable')),
      h('button', {
        type: 'button', class: 'danger icon', id: 'link-delete', title: 'Delete', 'aria-label': 'Delete cluster link',
        onclick: async () => { if (await deleteLink(name)) navigate('/cluster-linking'); },
      }, trashIcon()));
  }

  async function loadLink() {
    try {
      link = await get(`/cluster/links/${seg(name)}`);
    } catch (e) {
      fill(body, h('div', { class: 'panel' }, e.status === 404 ? `No cluster link named "${name}".` : e.message));
      fill(head);
      return null;
    }
    drawHead();
    return link;
  }

  if (tab === 'settings') {
    loadLink().then((l) => {
      if (!l) return;
      fill(body, h('section', { class: 'panel' }, linkForm({
        link: l,
        onSaved: (saved) => { link = saved; drawHead(); navigate(`/cluster-linking/${encodeURIComponent(name)}/overview`); },
        onCancel: () => navigate(`/cluster-linking/${encodeURIComponent(name)}/overview`),
      })));
    });
    return null;
  }

  // Overview
  const cards = h('div', { class: 'cards', id: 'link-metrics' });
  const chart = lineChart({ series: ['Forwarded msg/s', 'Received msg/s', 'Failed + dropped msg/s'], windowMs: WINDOW_MS, title: 'Link message rates, last 5 minutes', id: 'link-rates-chart' });
  const nodes = h('div', { id: 'link-node-status' });
  const rateBox = h('dl', { class: 'props', id: 'link-rates' });
  fill(body,
    h('section', { class: 'panel', 'aria-labelledby': 'stats-title' },
      h('div', { class: 'panel-head' },
        h('h2', { id: 'stats-title' }, 'Message transmission statistics'),
        h('button', {
          type: 'button', id: 'link-reset-metrics',
          onclick: async () => {
            try {
              await put(`/cluster/links/link/${seg(name)}/metrics/reset`);
              history.delete(name);
              toast('Metrics reset');
            } catch (e) { toast(e.message, 'error'); }
          },
        }, 'Reset metrics')),
      cards),
    h('div', { class: 'grid-2' },
      h('section', { class: 'panel', 'aria-labelledby': 'rates-title' },
        h('h2', { id: 'rates-title' }, 'Rates over time'),
        chart.el),
      h('section', { class: 'panel', 'aria-labelledby': 'exec-title' },
        h('h2', { id: 'exec-title' }, 'Execution status'),
        nodes,
        h('h3', {}, 'Forwarding rate (msg/s)'),
        rateBox)));

  const stop = every(2000, async () => {
    const l = await loadLink();
    if (!l) return;
    const m = await get(`/cluster/links/${seg(name)}/metrics`);
    const f = (m.metrics && m.metrics.forwarding) || {};
    const routes = m.metrics ? m.metrics.routers ?? (m.metrics.router || {}).routes : 0;
    fill(cards,
      card('Routes', fmtNumber(routes ?? 0), null, 'metric-routes'),
      card('Matched', fmtNumber(f.matched ?? 0), null, 'metric-matched'),
      card('Forwarded', fmtNumber(f.success ?? 0), null, 'metric-success'),
      card('Failed', fmtNumber(f.failed ?? 0), null, 'metric-failed'),
      card('Dropped', fmtNumber(f.dropped ?? 0), null, 'metric-dropped'),
      card('Retried', fmtNumber(f.retried ?? 0), null, 'metric-retried'),
      card('Received', fmtNumber(f.received ?? 0), null, 'metric-received'),
      card('Queuing', fmtNumber(f.queuing ?? 0), null, 'metric-queuing'),
      card('Inflight', fmtNumber(f.inflight ?? 0), null, 'metric-inflight'));
    fill(rateBox,
      h('dt', {}, 'Current'), h('dd', { id: 'rate-current' }, fmtNumber(f.rate ?? 0)),
      h('dt', {}, 'Last 5 minutes'), h('dd', {}, fmtNumber(f.rate_last5m ?? 0)),
      h('dt', {}, 'Max'), h('dd', {}, fmtNumber(f.rate_max ?? 0)));
    fill(nodes, table([
      { title: 'Node', cell: (n) => h('span', { class: 'mono' }, n.node) },
      { title: 'Status', cell: (n) => status(n.status) },
      { title: 'Reason', cell: (n) => n.reason || '' },
    ], l.node_status || [], 'No node status', { id: 'link-nodes-table' }));

    const hist = history.get(name) || { last: null, points: [] };
    history.set(name, hist);
    const now = Date.now();
    const cur = { t: now, success: f.success || 0, received: f.received || 0, lost: (f.failed || 0) + (f.dropped || 0) };
    if (hist.last && now > hist.last.t) {
      const dt = (now - hist.last.t) / 1000;
      const d = (k) => Math.max(0, (cur[k] - hist.last[k]) / dt);
      hist.points.push([now, d('success'), d('received'), d('lost')]);
      while (hist.points.length && hist.points[0][0] < now - WINDOW_MS - 5000) hist.points.shift();
    }
    hist.last = cur;
    chart.update(hist.points.slice());
  });
  return () => { stop(); chart.stop(); };
}
