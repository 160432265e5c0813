// The /api/v5 client: bearer token from /login kept in localStorage; a 401 ends the session.

const BASE = document.querySelector('meta[name="linkmq-api"]')?.content || '/api/v5';
const KEY = 'linkmq.session';

/** {token, username, version} of the logged-in user, or null. */
export function session() {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) || 'null');
    return s && s.token ? s : null;
  } catch {
    return null;
  }
}

export function setSession(s) {
  localStorage.setItem(KEY, JSON.stringify(s));
}

export function clearSession() {
  localStorage.removeItem(KEY);
}

let expired = () => {};

/** Called (once per expiry) when the API answers 401 to a logged-in request. */
export function onSessionExpired(f) {
  expired = f;
}

/** An API failure: HTTP status, EMQX `code`, and the `message` (text or validation object). */
export class ApiError extends Error {
  constructor(status, body) {
    const msg = body && typeof body === 'object' ? body.message : body;
    super(typeof msg === 'string' ? msg : JSON.stringify(msg ?? `HTTP ${status}`));
    this.status = status;
    this.code = body && typeof body === 'object' ? body.code : undefined;
    this.body = body;
  }

  /** The `reason` of an EMQX validation error, when this is one. */
  get validation() {
    const m = this.body && this.body.message;
    return m && typeof m === 'object' && m.kind === 'validation_error' ? m.reason : undefined;
  }
}

/** Calls the API; resolves with the parsed JSON (null for 204), rejects with ApiError. */
export async function api(method, path, body) {
  const s = session();
  const headers = { Accept: 'application/json' };
  if (s && path !== '/login') headers.Authorization = `Bearer ${s.token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let r;
  try {
    r = await fetch(BASE + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      // The token travels in the header; omitting credentials also keeps a 401's
      // `WWW-Authenticate: Basic` challenge from opening the browser's password prompt.
      credentials: 'omit',
    });
  } catch (e) {
    throw new ApiError(0, { code: 'NETWORK', message: `Cannot reach the server: ${e.message}` });
  }
  const text = await r.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (r.status === 401 && path !== '/login') {
    if (session()) {
      clearSession();
      expired(data && data.code);
    }
    throw new ApiError(401, data);
  }
  if (!r.ok) throw new ApiError(r.status, data);
  return data;
}

export const get = (p) => api('GET', p);
export const post = (p, b) => api('POST', p, b ?? {});
export const put = (p, b) => api('PUT', p, b ?? {});
export const del = (p) => api('DELETE', p);

/** A path segment, escaped. */
export const seg = (s) => encodeURIComponent(s);
