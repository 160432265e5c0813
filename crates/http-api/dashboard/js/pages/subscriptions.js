// Subscriptions: list with paging, filter by topic (exact or matching a topic name) and client.

import { h, fill, table } from '../dom.js';
import { get } from '../api.js';
import { pager } from './clients.js';

const state = { page: 1, limit: 20, topic: '', mode: 'topic', clientid: '' };

export function render({ main, setTitle }) {
  setTitle('Subscriptions');
  const list = h('div', { id: 'subscriptions-list' });
  const topic = h('input', { id: 'filter-topic', type: 'search', value: state.topic, placeholder: 'e.g. sensors/+/temp' });
  const mode = h('select', { id: 'filter-topic-mode' },
    h('option', { value: 'topic' }, 'Exact filter'),
    h('option', { value: 'match_topic' }, 'Matches topic name'));
  mode.value = state.mode;
  const cid = h('input', { id: 'filter-clientid', type: 'search', value: state.clientid, placeholder: 'exact client ID' });
  const error = h('p', { class: 'field-error', id: 'filter-error', role: 'alert' });

  async function load() {
    const q = new URLSearchParams({ page: state.page, limit: state.limit });
    if (state.topic) q.set(state.mode, state.topic);
    if (state.clientid) q.set('clientid', state.clientid);
    let r;
    try {
      r = await get(`/subscriptions?${q}`);
      error.textContent = '';
    } catch (e) {
      error.textContent = e.message;
      return;
    }
    fill(list,
      table([
        { title: 'Client ID', cell: (s) => h('a', { href: `#/clients/${encodeURIComponent(s.clientid)}`, class: 'mono' }, s.clientid) },
        { title: 'Topic', cell: (s) => h('span', { class: 'mono' }, s.topic) },
        { title: 'QoS', cell: (s) => s.qos },
        { title: 'No local', cell: (s) => String(!!s.nl) },
        { title: 'Retain as published', cell: (s) => String(!!s.rap) },
        { title: 'Retain handling', cell: (s) => s.rh },
        { title: 'Node', cell: (s) => s.node },
      ], r.data, 'No subscriptions', { id: 'subscriptions-table' }),
      pager(r.meta, (p) => { state.page = p; load(); }));
  }

  const form = h('form', {
    class: 'toolbar', role: 'search',
    onsubmit: (e) => {
      e.preventDefault();
      Object.assign(state, { topic: topic.value.trim(), mode: mode.value, clientid: cid.value.trim(), page: 1 });
      load();
    },
  },
  h('label', { for: 'filter-topic' }, 'Topic', topic),
  h('label', { for: 'filter-topic-mode' }, 'Filter by', mode),
  h('label', { for: 'filter-clientid' }, 'Client ID', cid),
  h('button', { type: 'submit', class: 'primary', id: 'filter-submit' }, 'Search'),
  h('button', { type: 'button', onclick: () => { topic.value = ''; cid.value = ''; form.requestSubmit(); } }, 'Reset'));
  main.append(h('section', { class: 'panel' }, form, error, list));
  load();
  return null;
}
