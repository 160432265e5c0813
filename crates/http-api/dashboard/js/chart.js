// A time-series line chart drawn on <canvas>: a few series over the last minutes.

import { h } from './dom.js';

const COLORS = ['#0f8a6c', '#3b6fd8', '#d9822b'];

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v) {
  if (v >= 1e6) return `${(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)}k`;
  return Number.isInteger(v) ? String(v) : v.toFixed(1);
}

function clock(t) {
  const d = new Date(t);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}:${String(d.getSeconds()).padStart(2, '0')}`;
}

/**
 * A chart in a new element. `series`: names; `windowMs`: the time span shown.
 * Returns {el, update(points)} where points are [timeMs, value0, value1, ...].
 */
export function lineChart({ series, windowMs = 5 * 60 * 1000, title, id }) {
  const canvas = h('canvas', { role: 'img', 'aria-label': title || 'chart', id });
  const box = h('div', { class: 'chart' }, canvas);
  const legend = h('div', { class: 'legend' }, series.map((s, i) => h('span', { class: `s${i}` }, s)));
  const el = h('div', {}, box, legend);
  let points = [];

  function draw() {
    const w = box.clientWidth;
    const ht = box.clientHeight;
    if (!w || !ht) return;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(ht * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(ht * dpr);
    }
    const c = canvas.getContext('2d');
    c.setTransform(dpr, 0, 0, dpr, 0, 0);
    c.clearRect(0, 0, w, ht);
    const pad = { l: 48, r: 12, t: 10, b: 26 };
    const pw = w - pad.l - pad.r;
    const ph = ht - pad.t - pad.b;
    const now = points.length ? Math.max(points[points.length - 1][0], Date.now() - 1000) : Date.now();
    const t0 = now - windowMs;
    let max = 0;
    for (const p of points) for (let i = 1; i < p.length; i += 1) max = Math.max(max, p[i] || 0);
    max = niceMax(max * 1.1);
    const x = (t) => pad.l + ((t - t0) / windowMs) * pw;
    const y = (v) => pad.t + ph - (v / max) * ph;

    c.font = '11px system-ui, "DejaVu Sans", sans-serif';
    c.fillStyle = '#61707e';
    c.strokeStyle = '#e6eaee';
    c.lineWidth = 1;
    c.textAlign = 'right';
    c.textBaseline = 'middle';
    for (let i = 0; i <= 4; i += 1) {
      const v = (max / 4) * i;
      const yy = Math.round(y(v)) + 0.5;
      c.beginPath(); c.moveTo(pad.l, yy); c.lineTo(pad.l + pw, yy); c.stroke();
      c.fillText(label(v), pad.l - 6, yy);
    }
    c.textAlign = 'center';
    c.textBaseline = 'top';
    const step = windowMs / 5;
    for (let i = 0; i <= 5; i += 1) {
      const t = t0 + step * i;
      const xx = x(t);
      if (pw < 300 && i % 2) continue;
      c.fillText(clock(t), Math.min(Math.max(xx, pad.l + 20), pad.l + pw - 20), pad.t + ph + 8);
    }
    const shown = points.filter((p) => p[0] >= t0 - 5000);
    series.forEach((_, si) => {
      c.strokeStyle = COLORS[si % COLORS.length];
      c.lineWidth = 2;
      c.beginPath();
      shown.forEach((p, i) => {
        const xx = Math.max(x(p[0]), pad.l);
        const yy = y(p[si + 1] || 0);
        if (i === 0) c.moveTo(xx, yy); else c.lineTo(xx, yy);
      });
      c.stroke();
      if (shown.length === 1) {
        c.fillStyle = c.strokeStyle;
        c.beginPath();
        c.arc(Math.max(x(shown[0][0]), pad.l), y(shown[0][si + 1] || 0), 3, 0, 2 * Math.PI);
        c.fill();
      }
    });
    if (!shown.length) {
      c.fillStyle = '#8a96a3';
      c.textAlign = 'center';
      c.textBaseline = 'middle';
      c.fillText('Collecting samples...', pad.l + pw / 2, pad.t + ph / 2);
    }
  }

  const ro = new ResizeObserver(() => draw());
  ro.observe(box);
  return {
    el,
    update(p) { points = p; draw(); },
    stop() { ro.disconnect(); },
  };
}
