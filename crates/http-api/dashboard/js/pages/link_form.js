// The Cluster Linking form (Create, and the Settings tab of a link): every field of a link,
// API validation errors shown next to the field they concern.

import { h, toast } from '../dom.js';
import { post, put, seg } from '../api.js';

const REDACTED = '******';

/** Field id (element `link-<id>`) → the JSON path the API names in its errors. */
const FIELDS = {
  name: 'name',
  server: 'server',
  clientid: 'clientid',
  username: 'username',
  password: 'password',
  topics: 'topics',
  'ssl-enable': 'ssl.enable',
  'ssl-verify': 'ssl.verify',
  'ssl-cacertfile': 'ssl.cacertfile',
  'ssl-certfile': 'ssl.certfile',
  'ssl-keyfile': 'ssl.keyfile',
  'ssl-sni': 'ssl.server_name_indication',
  'ssl-versions': 'ssl.versions',
  'ssl-ciphers': 'ssl.ciphers',
  'pool-size': 'pool_size',
  'retry-interval': 'retry_interval',
  'max-inflight': 'max_inflight',
  'request-ttl': 'resource_opts.request_ttl',
  'inflight-window': 'resource_opts.inflight_window',
  'max-buffer-bytes': 'resource_opts.max_buffer_bytes',
  'health-check-interval': 'resource_opts.health_check_interval',
  'dispatch-strategy': 'resource_opts.dispatch_strategy',
};
const BY_PATH = Object.fromEntries(Object.entries(FIELDS).map(([k, v]) => [v, k]));

/**
 * Splits an EMQX validation reason into [field id or null, message] pairs. Schema errors read
 * `server: ...` (several joined by "; "); name and topic rules are plain messages or
 * `{reason: "redundant_topics", topics: [...]}`.
 */
export function fieldErrors(reason) {
  if (reason && typeof reason === 'object') {
    if (reason.reason === 'redundant_topics') {
      return [['topics', `Redundant topics: ${(reason.topics || []).join(', ')} (covered by other topics of the list)`]];
    }
    return [[null, JSON.stringify(reason)]];
  }
  const out = [];
  for (const part of String(reason).split(/;\s+(?=[A-Za-z_][A-Za-z0-9_.[\]]*: )/)) {
    const m = part.match(/^([A-Za-z_][A-Za-z0-9_.[\]]*): ([\s\S]+)$/);
    if (m) {
      const path = m[1].replace(/\[\d+\]|\.\d+(?=\.|$)/g, '');
      let p = path;
      while (p && !(p in BY_PATH)) p = p.includes('.') ? p.slice(0, p.lastIndexOf('.')) : '';
      if (p) { out.push([BY_PATH[p], m[2]]); continue; }
    }
    if (/\bname\b/i.test(part)) out.push(['name', part]);
    else if (/topic/i.test(part)) out.push(['topics', part]);
    else if (/server|port|host/i.test(part)) out.push(['server', part]);
    else out.push([null, part]);
  }
  return out;
}

function textInput(id, value, attrs = {}) {
  return h('input', { id: `link-${id}`, name: id, value: value ?? '', 'aria-describedby': `link-${id}-error`, ...attrs });
}

function field(id, label, control, hint, required) {
  return h('div', { class: 'field', 'data-field': id },
    h('label', { for: `link-${id}` }, label, required ? h('span', { class: 'req', 'aria-hidden': 'true' }, '*') : null),
    h('div', { class: 'control' },
      control,
      hint ? h('span', { class: 'hint', id: `link-${id}-hint` }, hint) : null,
      h('p', { class: 'field-error', id: `link-${id}-error`, role: 'alert' })));
}

function str(v) {
  return v === undefined || v === null ? '' : String(v);
}

/** A number when the text is one, else the text itself (the API says what is wrong with it). */
function num(v) {
  const t = v.trim();
  return /^-?\d+$/.test(t) ? Number(t) : t;
}

/**
 * Builds the form. `link`: the link to edit (Settings) or undefined (Create).
 * `onSaved(link)` runs after the API accepted it.
 */
export function linkForm({ link, onSaved, onCancel }) {
  const edit = !!link;
  const l = link || {};
  const ssl = l.ssl || {};
  const ro = l.resource_opts || {};

  const name = textInput('name', l.name, { required: true, disabled: edit, autocomplete: 'off', placeholder: 'the remote cluster.name' });
  const server = textInput('server', l.server, { required: true, placeholder: 'host:port', autocomplete: 'off' });
  const clientid = textInput('clientid', l.clientid, { autocomplete: 'off', placeholder: 'defaults to the local cluster name' });
  const username = textInput('username', l.username, { autocomplete: 'off' });
  const password = textInput('password', l.password, { type: 'password', autocomplete: 'new-password' });

  // Topics: one input per filter; the plus sign adds one, Remove deletes one (may leave none).
  const topicList = h('div', { class: 'topics-list', id: 'link-topics', role: 'group', 'aria-label': 'Topics', 'aria-describedby': 'link-topics-error' });
  const noTopics = h('p', { class: 'hint', id: 'link-topics-empty' }, 'No topics: this cluster receives no messages from the remote one.');
  function renumber() {
    const rows = [...topicList.querySelectorAll('.topic-row')];
    rows.forEach((row, i) => {
      const input = row.querySelector('input');
      input.id = `link-topic-${i}`;
      input.setAttribute('aria-label', `Topic ${i + 1}`);
      row.querySelector('button').setAttribute('aria-label', `Remove topic ${i + 1}`);
    });
    noTopics.classList.toggle('hidden', rows.length > 0);
  }
  function addTopic(value, focus) {
    const input = h('input', { class: 'topic-input mono', value: value ?? '', placeholder: 'topic filter, e.g. global/#', autocomplete: 'off' });
    const row = h('div', { class: 'topic-row' },
      input,
      h('button', { type: 'button', class: 'icon remove-topic', onclick: () => { row.remove(); renumber(); addBtn.focus(); } }, 'Remove'));
    topicList.append(row);
    renumber();
    if (focus) input.focus();
  }
  const addBtn = h('button', { type: 'button', class: 'icon', id: 'link-topics-add', 'aria-label': 'Add topic', title: 'Add topic', onclick: () => addTopic('', true) }, '+');
  (l.topics || []).forEach((t) => addTopic(t));

  // TLS
  const sslEnable = h('input', { type: 'checkbox', role: 'switch', id: 'link-ssl-enable', checked: !!ssl.enable, 'aria-describedby': 'link-ssl-enable-error' });
  const verify = h('select', { id: 'link-ssl-verify', 'aria-describedby': 'link-ssl-verify-error' },
    h('option', { value: 'verify_peer' }, 'verify_peer'),
    h('option', { value: 'verify_none' }, 'verify_none'));
  verify.value = ssl.verify || 'verify_peer';
  const cacert = textInput('ssl-cacertfile', ssl.cacertfile, { placeholder: 'path of a PEM file on the server, e.g. etc/certs/cacert.pem' });
  const cert = textInput('ssl-certfile', ssl.certfile, { placeholder: 'etc/certs/client-cert.pem' });
  const key = textInput('ssl-keyfile', ssl.keyfile, { placeholder: 'etc/certs/client-key.pem' });
  const sni = textInput('ssl-sni', ssl.server_name_indication, { placeholder: 'defaults to the server host' });
  const versions = textInput('ssl-versions', (ssl.versions || ['tlsv1.3', 'tlsv1.2']).join(', '));
  const ciphers = textInput('ssl-ciphers', (ssl.ciphers || []).join(', '), { placeholder: 'library defaults' });
  const sslFields = h('fieldset', { id: 'link-ssl-settings' },
    h('legend', {}, 'TLS settings'),
    field('ssl-verify', 'Verify Server Certificate', verify, 'verify_peer checks the remote certificate against the CA file'),
    field('ssl-cacertfile', 'CA Cert File', cacert),
    field('ssl-certfile', 'TLS Cert File', cert, 'client certificate, for mutual TLS'),
    field('ssl-keyfile', 'TLS Key File', key),
    field('ssl-sni', 'SNI', sni),
    field('ssl-versions', 'TLS Versions', versions, 'comma-separated, e.g. tlsv1.3, tlsv1.2'),
    field('ssl-ciphers', 'Ciphers', ciphers, 'comma-separated; empty for the defaults'));
  const syncSsl = () => sslFields.classList.toggle('hidden', !sslEnable.checked);
  sslEnable.addEventListener('change', syncSsl);
  syncSsl();

  // Advanced settings
  const poolSize = textInput('pool-size', str(l.pool_size ?? 8), { inputmode: 'numeric' });
  const retry = textInput('retry-interval', str(l.retry_interval ?? '15s'));
  const maxInflight = textInput('max-inflight', str(l.max_inflight ?? 32), { inputmode: 'numeric' });
  const requestTtl = textInput('request-ttl', str(ro.request_ttl ?? '45s'));
  const inflightWindow = textInput('inflight-window', str(ro.inflight_window ?? 100), { inputmode: 'numeric' });
  const maxBuffer = textInput('max-buffer-bytes', str(ro.max_buffer_bytes ?? '256MB'));
  const health = textInput('health-check-interval', str(ro.health_check_interval ?? '15s'));
  const dispatch = h('select', { id: 'link-dispatch-strategy', 'aria-describedby': 'link-dispatch-strategy-error' },
    h('option', { value: 'per_clientid' }, 'per_clientid'),
    h('option', { value: 'random' }, 'random'));
  dispatch.value = ro.dispatch_strategy || 'per_clientid';
  const advanced = h('details', { class: 'advanced', id: 'link-advanced' },
    h('summary', {}, 'Advanced Settings'),
    h('div', { class: 'inner' },
      field('pool-size', 'Pool Size', poolSize, 'MQTT connections per node to the remote cluster'),
      field('retry-interval', 'Retry Interval', retry, 'e.g. 15s'),
      field('max-inflight', 'Max Inflight', maxInflight, 'unacknowledged QoS 1 messages per connection'),
      h('h3', {}, 'Resource options'),
      field('request-ttl', 'Request TTL', requestTtl, 'e.g. 45s, or infinity'),
      field('inflight-window', 'Inflight Window', inflightWindow),
      field('max-buffer-bytes', 'Max Buffer Queue Size', maxBuffer, 'e.g. 256MB'),
      field('health-check-interval', 'Health Check Interval', health, 'e.g. 15s'),
      field('dispatch-strategy', 'Dispatch Strategy', dispatch)));

  const formError = h('div', { class: 'form-error', id: 'link-form-error', role: 'alert' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'link-submit' }, edit ? 'Update' : 'Create');
  const form = h('form', { class: 'form', id: 'link-form', novalidate: true, 'aria-label': edit ? `Settings of ${l.name}` : 'Create cluster link' },
    formError,
    field('name', 'Cluster Name', name, edit ? 'the name of a link cannot be changed' : 'must equal the cluster.name of the remote cluster', true),
    field('server', 'Server', server, 'MQTT host and port of the remote cluster', true),
    field('clientid', 'Client ID Prefix', clientid),
    field('username', 'Username', username),
    field('password', 'Password', password),
    h('div', { class: 'field', 'data-field': 'topics' },
      h('span', { class: 'label', id: 'link-topics-label' }, 'Topics'),
      h('div', { class: 'control' },
        topicList, noTopics,
        h('div', {}, addBtn),
        h('p', { class: 'field-error', id: 'link-topics-error', role: 'alert' }))),
    h('div', { class: 'field', 'data-field': 'ssl-enable' },
      h('label', { for: 'link-ssl-enable' }, 'Enable TLS'),
      h('div', { class: 'control' },
        h('span', { class: 'switch' }, sslEnable),
        h('p', { class: 'field-error', id: 'link-ssl-enable-error', role: 'alert' }))),
    sslFields,
    advanced,
    h('div', { class: 'form-actions' },
      submit,
      h('button', { type: 'button', id: 'link-cancel', onclick: () => onCancel && onCancel() }, 'Cancel')));

  function clearErrors() {
    formError.textContent = '';
    for (const e of form.querySelectorAll('.field-error')) e.textContent = '';
    for (const e of form.querySelectorAll('[aria-invalid]')) e.removeAttribute('aria-invalid');
  }

  function showErrors(pairs) {
    let first = null;
    for (const [id, msg] of pairs) {
      const slot = id && form.querySelector(`#link-${id}-error`);
      if (!slot) {
        formError.textContent = formError.textContent ? `${formError.textContent}; ${msg}` : msg;
        continue;
      }
      slot.textContent = slot.textContent ? `${slot.textContent}; ${msg}` : msg;
      const input = id === 'topics' ? topicList.querySelector('input') || addBtn : form.querySelector(`#link-${id}`);
      if (input && input !== addBtn) input.setAttribute('aria-invalid', 'true');
      if (advanced.contains(slot)) advanced.open = true;
      if (sslFields.contains(slot)) { sslEnable.checked = true; syncSsl(); }
      first = first || input;
    }
    if (first) first.focus();
  }

  function body() {
    const b = {
      server: server.value.trim(),
      topics: [...topicList.querySelectorAll('input')].map((i) => i.value.trim()).filter((t) => t !== ''),
      enable: edit ? l.enable !== false : true,
      pool_size: num(poolSize.value),
      retry_interval: retry.value.trim(),
      max_inflight: num(maxInflight.value),
      ssl: { enable: sslEnable.checked, verify: verify.value },
      resource_opts: {
        request_ttl: requestTtl.value.trim(),
        inflight_window: num(inflightWindow.value),
        max_buffer_bytes: maxBuffer.value.trim(),
        health_check_interval: health.value.trim(),
        dispatch_strategy: dispatch.value,
      },
    };
    if (!edit) b.name = name.value.trim();
    if (clientid.value.trim()) b.clientid = clientid.value.trim();
    if (username.value !== '') b.username = username.value;
    if (password.value !== '') b.password = password.value;
    const list = (v) => v.split(',').map((s) => s.trim()).filter(Boolean);
    if (sslEnable.checked || ssl.enable) {
      for (const [k, input] of [['cacertfile', cacert], ['certfile', cert], ['keyfile', key], ['server_name_indication', sni]]) {
        if (input.value.trim()) b.ssl[k] = input.value.trim();
      }
      if (list(versions.value).length) b.ssl.versions = list(versions.value);
      if (list(ciphers.value).length) b.ssl.ciphers = list(ciphers.value);
    }
    for (const [k, v] of Object.entries(b.resource_opts)) if (v === '') delete b.resource_opts[k];
    for (const k of ['pool_size', 'retry_interval', 'max_inflight']) if (b[k] === '') delete b[k];
    return b;
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearErrors();
    submit.disabled = true;
    try {
      const saved = edit
        ? await put(`/cluster/links/${seg(l.name)}`, body())
        : await post('/cluster/links', body());
      toast(edit ? `Cluster link ${l.name} updated` : `Cluster link ${saved.name} created`);
      if (onSaved) onSaved(saved);
    } catch (err) {
      if (err.validation !== undefined) showErrors(fieldErrors(err.validation));
      else if (err.code === 'ALREADY_EXISTS') showErrors([['name', 'A link with this name already exists']]);
      else showErrors([[null, err.message]]);
    } finally {
      submit.disabled = false;
    }
  });

  if (edit && l.password === undefined) password.placeholder = 'none';
  if (edit && l.password === REDACTED) password.placeholder = 'unchanged';
  return form;
}

export function renderCreate({ main, setTitle, navigate }) {
  setTitle('Cluster Linking');
  const form = linkForm({
    onSaved: () => navigate('/cluster-linking'),
    onCancel: () => navigate('/cluster-linking'),
  });
  main.append(
    h('div', { class: 'crumbs' }, h('a', { href: '#/cluster-linking' }, 'Cluster Linking'), ' / Create'),
    h('section', { class: 'panel' }, h('h2', {}, 'Create cluster link'), form));
  setTimeout(() => form.querySelector('#link-name').focus(), 0);
  return null;
}

