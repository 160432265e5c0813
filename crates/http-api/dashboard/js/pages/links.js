// Management → Cluster Linking: the list (cluster name, server, topics, enable switch, actions).

import { h, fill, table, status, toast, confirmDialog, every } from '../dom.js';
import { get, put, del, seg } from '../api.js';

/** The configuration part of a link object (what PUT /cluster/links/{name} takes). */
export function configOf(link) {
  const c = { ...link };
  delete c.name;
  delete c.status;
  delete c.node_status;
  return c;
}

/** Turns a link on or off, keeping the rest of its configuration. */
export async function setEnabled(link, enable) {
  return put(`/cluster/links/${seg(link.name)}`, { ...configOf(link), enable });
}

export async function deleteLink(name) {
  const ok = await confirmDialog('Delete cluster link',
    `Delete the link to cluster "${name}"? Its configuration is removed; to keep it, disable the link instead.`, 'Delete');
  if (!ok) return false;
  try {
    await del(`/cluster/links/${seg(name)}`);
    toast(`Cluster link ${name} deleted`);
    return true;
  } catch (e) {
    toast(e.message, 'error');
    return false;
  }
}

/** The enable switch of a link; calls `after(updated)` once the API accepted the change. */
export function enableSwitch(link, after, id) {
  const box = h('input', { type: 'checkbox', role: 'switch', checked: link.enable !== false, id, 'aria-label': `Enable link ${link.name}`, 'data-link-toggle': link.name });
  box.addEventListener('change', async () => {
    const want = box.checked;
    box.disabled = true;
    try {
      const updated = await setEnabled(link, want);
      Object.assign(link, updated);
      toast(`Cluster link ${link.name} ${want ? 'enabled' : 'disabled'}`);
      if (after) after(updated);
    } catch (e) {
      box.checked = !want;
      toast(e.message, 'error');
    } finally {
      box.disabled = false;
    }
  });
  return h('label', { class: 'switch' }, box);
}

export function render({ main, setTitle, navigate }) {
  setTitle('Cluster Linking');
  const list = h('div', { id: 'links-list' }, h('p', { class: 'muted' }, 'Loading...'));
  main.append(
    h('div', { class: 'page-head' },
      h('p', { class: 'muted' }, 'Links to remote clusters: messages on the listed topics are received from the remote cluster.'),
      h('a', { class: 'button primary', href: '#/cluster-linking/create', id: 'link-create' }, '+ Create')),
    h('section', { class: 'panel' }, list));

  let shown = '';
  async function load(force) {
    let links;
    try {
      links = await get('/cluster/links');
    } catch (e) {
      if (e.status !== 401) fill(list, h('p', { class: 'form-error', role: 'alert' }, e.message));
      shown = '';
      return;
    }
    // Redraw only when something changed, so that focus and clicks are not lost.
    const key = JSON.stringify(links);
    if (!force && key === shown) return;
    shown = key;
    fill(list, table([
      { title: 'Cluster Name', cell: (l) => h('a', { href: `#/cluster-linking/${encodeURIComponent(l.name)}/overview`, class: 'link-name', 'data-link': l.name }, l.name) },
      { title: 'Server', cell: (l) => h('span', { class: 'mono' }, l.server) },
      { title: 'Topics', cell: (l) => (l.topics.length ? h('div', { class: 'tags' }, l.topics.map((t) => h('span', { class: 'tag' }, t))) : h('span', { class: 'muted' }, 'none')) },
      { title: 'Status', cell: (l) => status(l.status) },
      { title: 'Enable', cell: (l) => enableSwitch(l, () => load(true)) },
      {
        title: 'Actions',
        cell: (l) => h('div', { class: 'actions' },
          h('button', { type: 'button', class: 'link', 'data-action': 'settings', 'aria-label': `Settings of ${l.name}`, onclick: () => navigate(`/cluster-linking/${encodeURIComponent(l.name)}/settings`) }, 'Settings'),
          h('button', { type: 'button', class: 'link danger', 'data-action': 'delete', 'aria-label': `Delete ${l.name}`, onclick: async () => { if (await deleteLink(l.name)) load(true); } }, 'Delete')),
      },
    ], links, 'No cluster links yet. Click Create to link with a remote cluster.', { id: 'links-table' }));
  }
  return every(3000, load);
}
