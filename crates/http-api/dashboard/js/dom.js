// Small DOM helpers: element builder, formatting, toasts and a confirm dialog.

/** Builds an element: h('button', {class: 'primary', onclick}, 'Save'). */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (v === true) el.setAttribute(k, '');
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the children of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A table: columns [{title, cell: row => node|text}], rows, text shown when empty. */
export function table(columns, rows, empty = 'No data', attrs = {}) {
  const body = rows.length
    ? rows.map((r) => h('tr', {}, columns.map((c) => h('td', { 'data-label': c.title, ...(c.attrs || {}) }, c.cell(r)))))
    : [h('tr', {}, h('td', { class: 'empty', colspan: columns.length }, empty))];
  return h('div', { class: 'table-wrap' },
    h('table', attrs,
      h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col' }, c.title)))),
      h('tbody', {}, body)));
}

/** A card with a label and a big value. */
export function card(label, value, unit, id) {
  return h('div', { class: 'card' },
    h('div', { class: 'label' }, label),
    h('div', { class: 'value', id }, value, unit ? h('small', {}, unit) : null));
}

/** A status dot and text: running/connected are good, connecting is pending, others bad. */
export function status(text) {
  const t = String(text || 'unknown');
  const cls = ['running', 'connected', 'activated'].includes(t) ? 'ok'
    : ['connecting', 'inconsistent', 'idle'].includes(t) ? 'warn'
      : ['stopped'].includes(t) ? '' : 'bad';
  return h('span', { class: `status ${cls}`, 'data-status': t }, t);
}

export function fmtNumber(n) {
  if (n === undefined || n === null || Number.isNaN(n)) return '-';
  if (typeof n !== 'number') return String(n);
  return Number.isInteger(n) ? n.toLocaleString('en-US') : n.toLocaleString('en-US', { maximumFractionDigits: 2 });
}

export function fmtBytes(n) {
  if (!n) return '0 B';
  const u = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i += 1; }
  return `${n.toFixed(i ? 1 : 0)} ${u[i]}`;
}

/** Milliseconds as "2d 3h", "4h 5m", "6m 7s", "8s". */
export function fmtDuration(ms) {
  let s = Math.floor((ms || 0) / 1000);
  const d = Math.floor(s / 86400); s -= d * 86400;
  const hr = Math.floor(s / 3600); s -= hr * 3600;
  const m = Math.floor(s / 60); s -= m * 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  if (m) return `${m}m ${s}s`;
  return `${s}s`;
}

export function fmtTime(t) {
  if (!t) return '-';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString('en-GB');
}

/** A short message at the top right. */
export function toast(message, kind = 'info') {
  const box = document.getElementById('toasts');
  if (!box) return;
  const t = h('div', { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : null }, message);
  box.append(t);
  setTimeout(() => t.remove(), kind === 'error' ? 6000 : 3000);
}

/** A modal question; resolves true on confirm. */
export function confirmDialog(title, message, confirmText = 'Confirm') {
  return new Promise((resolve) => {
    const done = (v) => { dlg.close(); dlg.remove(); resolve(v); };
    const ok = h('button', { class: 'primary danger-confirm', type: 'button', onclick: () => done(true) }, confirmText);
    const dlg = h('dialog', { 'aria-labelledby': 'dlg-title', class: 'confirm' },
      h('h2', { id: 'dlg-title' }, title),
      h('p', {}, message),
      h('div', { class: 'form-actions' },
        h('button', { type: 'button', onclick: () => done(false) }, 'Cancel'),
        ok));
    dlg.addEventListener('cancel', (e) => { e.preventDefault(); done(false); });
    document.body.append(dlg);
    dlg.showModal();
    ok.focus();
  });
}

/** Runs `f` now and every `ms` until the returned stop function is called. */
export function every(ms, f) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    if (stopped) return;
    try { await f(); } catch (e) { if (e && e.status !== 401) console.warn(e); }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  tick();
  return () => { stopped = true; clearTimeout(timer); };
}
