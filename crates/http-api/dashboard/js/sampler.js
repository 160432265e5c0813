// Samples the node's message counters every few seconds while logged in, so the overview's
// rate chart shows the last minutes even when the page was opened later.

import { get } from './api.js';

export const SAMPLE_MS = 2000;
export const WINDOW_MS = 5 * 60 * 1000;

let timer = null;
let last = null;
const points = [];
const listeners = new Set();

async function sample() {
  const m = await get('/metrics?aggregate=true');
  const now = Date.now();
  const cur = { t: now, in: m['messages.received'] || 0, out: m['messages.sent'] || 0 };
  if (last && now > last.t) {
    const dt = (now - last.t) / 1000;
    points.push([now, Math.max(0, (cur.in - last.in) / dt), Math.max(0, (cur.out - last.out) / dt)]);
    while (points.length && points[0][0] < now - WINDOW_MS - SAMPLE_MS) points.shift();
  }
  last = cur;
  listeners.forEach((f) => f(points));
}

export function startSampling() {
  if (timer) return;
  const tick = async () => {
    try { await sample(); } catch { /* a 401 ends the session elsewhere */ }
    timer = setTimeout(tick, SAMPLE_MS);
  };
  timer = setTimeout(tick, 0);
}

export function stopSampling() {
  clearTimeout(timer);
  timer = null;
  last = null;
  points.length = 0;
}

/** Latest rate points [t, in/s, out/s]; `f` is called after each sample until unsubscribed. */
export function subscribe(f) {
  listeners.add(f);
  f(points);
  return () => listeners.delete(f);
}
