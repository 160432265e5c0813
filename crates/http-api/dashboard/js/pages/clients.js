// Clients: list with search and paging, details with subscriptions, kick.

import { h, fill, table, status, fmtTime, toast, confirmDialog } from '../dom.js';
import { get, del, seg } from '../api.js';

const state = { page: 1, limit: 20, clientid: '', username: '', conn: '' };

function pager(meta, onPage) {
  const pages = Math.max(1, Math.ceil((meta.count || 0) / meta.limit));
  return h('div', { class: 'pager' },
    h('span', { class: 'muted', id: 'pager-total' }, `Total ${meta.count ?? 0}`),
    h('button', { type: 'button', id: 'page-prev', disabled: meta.page <= 1, onclick: () => onPage(meta.page - 1), 'aria-label': 'Previous page' }, '‹ Prev'),
    h('span', { id: 'page-current' }, `Page ${meta.page} of ${pages}`),
    h('button', { type: 'button', id: 'page-next', disabled: !meta.hasnext, onclick: () => onPage(meta.page + 1), 'aria-label': 'Next page' }, 'Next ›'));
}

export { pager };

async function kick(clientid, after) {
  const ok = await confirmDialog('Kick out client', `Disconnect client "${clientid}"?`, 'Kick out');
  if (!ok) return;
  try {
    await del(`/clients/${seg(clientid)}`);
    toast(`Client ${clientid} kicked out`);
    after();
  } catch (e) {
    toast(e.message, 'error');
  }
}

export function renderList({ main, setTitle }) {
  setTitle('Clients');
  const list = h('div', { id: 'clients-list' });
  const cid = h('input', { id: 'search-clientid', type: 'search', value: state.clientid, placeholder: 'part of a client ID' });
  const user = h('input', { id: 'search-username', type: 'search', value: state.username, placeholder: 'part of a username' });
  const conn = h('select', { id: 'search-conn-state' },
    h('option', { value: '' }, 'All'),
    h('option', { value: 'connected' }, 'Connected'),
    h('option', { value: 'disconnected' }, 'Disconnected'));
  conn.value = state.conn;
  const size = h('select', { id: 'page-size' }, [10, 20, 50, 100].map((n) => h('option', { value: n }, `${n} / page`)));
  size.value = String(state.limit);

  async function load() {
    const q = new URLSearchParams({ page: state.page, limit: state.limit });
    if (state.clientid) q.set('like_clientid', state.clientid);
    if (state.username) q.set('like_username', state.username);
    if (state.conn) q.set('conn_state', state.conn);
    const r = await get(`/clients?${q}`);
    fill(list,
      table([
        { title: 'Client ID', cell: (c) => h('a', { href: `#/clients/${encodeURIComponent(c.clientid)}`, class: 'mono' }, c.clientid) },
        { title: 'Username', cell: (c) => c.username ?? '' },
        { title: 'Status', cell: (c) => status(c.connected ? 'connected' : 'disconnected') },
        { title: 'IP address', cell: (c) => (c.ip_address ? `${c.ip_address}:${c.port}` : '') },
        { title: 'Keepalive', cell: (c) => `${c.keepalive}s` },
        { title: 'Protocol', cell: (c) => `${c.proto_name} v${c.proto_ver}` },
        { title: 'Connected at', cell: (c) => fmtTime(c.connected_at) },
        { title: 'Actions', cell: (c) => h('button', { type: 'button', class: 'link danger', onclick: () => kick(c.clientid, load), 'aria-label': `Kick out ${c.clientid}` }, 'Kick out') },
      ], r.data, 'No clients', { id: 'clients-table' }),
      pager(r.meta, (p) => { state.page = p; load(); }));
  }

  const search = h('form', {
    class: 'toolbar', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      Object.assign(state, { clientid: cid.value.trim(), username: user.value.trim(), conn: conn.value, page: 1, limit: Number(size.value) });
      load();
    },
  },
  h('label', { for: 'search-clientid' }, 'Client ID', cid),
  h('label', { for: 'search-username' }, 'Username', user),
  h('label', { for: 'search-conn-state' }, 'Connection', conn),
  h('label', { for: 'page-size' }, 'Page size', size),
  h('button', { type: 'submit', class: 'primary', id: 'search-submit' }, 'Search'),
  h('button', { type: 'button', onclick: () => { cid.value = ''; user.value = ''; conn.value = ''; search.requestSubmit(); } }, 'Reset'),
  h('button', { type: 'button', id: 'refresh', onclick: () => load() }, 'Refresh'));
  size.addEventListener('change', () => search.requestSubmit());

  main.append(h('section', { class: 'panel' }, search, list));
  load().catch(() => {});
  return null;
}

export function renderDetail({ main, setTitle, params, navigate }) {
  const [clientid] = params;
  setTitle('Client details');
  const body = h('div', { id: 'client-detail' }, h('p', { class: 'muted' }, 'Loading...'));
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/clients' }, 'Clients'), ' / ', clientid),
    body);
  (async () => {
    let c;
    let subs;
    try {
      [c, subs] = await Promise.all([get(`/clients/${seg(clientid)}`), get(`/clients/${seg(clientid)}/subscriptions`)]);
    } catch (e) {
      fill(body, h('div', { class: 'panel' }, e.status === 404 ? `Client "${clientid}" is not connected or does not exist.` : e.message));
      return;
    }
    const prop = (k, v) => [h('dt', {}, k), h('dd', {}, v ?? '-')];
    fill(body,
      h('section', { class: 'panel' },
        h('div', { class: 'panel-head' },
          h('h2', { class: 'mono' }, c.clientid),
          h('button', { type: 'button', class: 'danger', id: 'kick', onclick: () => kick(c.clientid, () => navigate('/clients')) }, 'Kick out')),
        h('dl', { class: 'props' },
          prop('Status', status(c.connected ? 'connected' : 'disconnected')),
          prop('Username', c.username),
          prop('Node', c.node),
          prop('IP address', c.ip_address ? `${c.ip_address}:${c.port}` : '-'),
          prop('Listener', c.listener),
          prop('Protocol', `${c.proto_name} v${c.proto_ver}`),
          prop('Keepalive', `${c.keepalive}s`),
          prop('Clean start', String(c.clean_start)),
          prop('Connected at', fmtTime(c.connected_at)),
          prop('Disconnected at', c.disconnected_at ? fmtTime(c.disconnected_at) : null),
          prop('Session expiry', c.expiry_interval == null ? null : `${c.expiry_interval}s`),
          prop('Subscriptions', String(c.subscriptions_cnt)),
          prop('Inflight', c.inflight_cnt == null ? null : `${c.inflight_cnt} / ${c.inflight_max}`),
          prop('Message queue', c.mqueue_len == null ? null : `${c.mqueue_len} / ${c.mqueue_max}`),
          prop('Dropped from queue', c.mqueue_dropped == null ? null : String(c.mqueue_dropped)),
          prop('Awaiting PUBREL', c.awaiting_rel_cnt == null ? null : String(c.awaiting_rel_cnt)),
          prop('Received', c.recv_pkt == null ? null : `${c.recv_pkt} packets, ${c.recv_msg} messages, ${c.recv_oct} bytes`),
          prop('Sent', c.send_pkt == null ? null : `${c.send_pkt} packets, ${c.send_msg} messages, ${c.send_oct} bytes`))),
      h('section', { class: 'panel' },
        h('h2', {}, 'Subscriptions'),
        table([
          { title: 'Topic', cell: (s) => h('span', { class: 'mono' }, s.topic) },
          { title: 'QoS', cell: (s) => s.qos },
          { title: 'No local', cell: (s) => String(!!s.nl) },
          { title: 'Retain as published', cell: (s) => String(!!s.rap) },
          { title: 'Retain handling', cell: (s) => s.rh },
        ], subs || [], 'No subscriptions', { id: 'client-subscriptions' })));
  })();
  return null;
}
