// The HTTP API, as the console calls it: every request carries the
// signed-in token as `Authorization: Bearer` (never a cookie, never in a
// URL), and every error answer becomes an ApiError with the server's code
// and message.

/** An error answer of the API: `{"error": {"code", "message", ...}}`. */
export class ApiError extends Error {
  constructor(status, detail) {
    super(detail.message || `HTTP ${status}`);
    this.status = status;
    this.code = detail.code || 'http_error';
    this.detail = detail;
  }

  /** For a 403: the right the token lacks (`read`, `write`, `watch`...). */
  get missingRight() {
    const match = /has no (\w+) right/.exec(this.message);
    return match ? match[1] : null;
  }
}

/** The path of a key: the whole key percent-encoded, `/` included. */
export function keyPath(key) {
  return `/v1/kv/${encodeURIComponent(key)}`;
}

/** The bytes of a value the API sent as `utf8` text or `base64`. */
export function valueBytes(value, encoding) {
  if (encoding === 'base64') {
    const raw = atob(value);
    const bytes = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  return new TextEncoder().encode(value ?? '');
}

/** The API of one server, as the holder of the session's token. */
export class Api {
  constructor(session) {
    this.session = session;
    // Called with every revision an answer reports (X-Kv-Revision).
    this.onRevision = () => {};
  }

  headers(extra = {}) {
    const headers = { ...extra };
    const token = this.session.token();
    if (token) headers.Authorization = `Bearer ${token}`;
    return headers;
  }

  /** Sends a request; resolves to the Response, or throws an ApiError. */
  async send(method, path, { headers = {}, body, signal } = {}) {
    const response = await fetch(path, {
      method,
      headers: this.headers(headers),
      body,
      signal,
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
    const rev = response.headers.get('X-Kv-Revision');
    if (rev !== null) this.onRevision(Number(rev));
    if (!response.ok) throw await errorOf(response);
    return response;
  }

  async json(method, path, options) {
    return (await this.send(method, path, options)).json();
  }

  /** One page of a listing. */
  async list({ prefix = '', startAfter = null, limit = 100, delimiter = null, keysOnly = true }) {
    const query = new URLSearchParams({ prefix, limit: String(limit) });
    if (startAfter !== null) query.set('start_after', startAfter);
    if (delimiter) query.set('delimiter', delimiter);
    if (keysOnly) query.set('keys_only', 'true');
    const page = await this.json('GET', `/v1/kv?${query}`);
    // An empty list of prefixes is left out of the answer.
    page.prefixes = page.prefixes || [];
    return page;
  }

  /** A key's entry with its metadata, or null when there is no such key. */
  async entry(key) {
    try {
      return await this.json('GET', `${keyPath(key)}?format=json`);
    } catch (e) {
      if (e instanceof ApiError && e.code === 'key_not_found') return null;
      throw e;
    }
  }

  /**
   * Writes a value: `bytes` (a Uint8Array or string), with `contentType`,
   * `expiry` ({ttl} or {expiresAt} or nothing) and a condition:
   * `ifMatch` (a revision: compare-and-set) or `create` (If-None-Match: *).
   */
  put(key, bytes, { contentType = '', expiry = {}, ifMatch = null, create = false } = {}) {
    const headers = {};
    if (contentType) headers['Content-Type'] = contentType;
    if (ifMatch !== null) headers['If-Match'] = `"${ifMatch}"`;
    if (create) headers['If-None-Match'] = '*';
    const query = new URLSearchParams();
    if (expiry.ttl) query.set('ttl', expiry.ttl);
    if (expiry.expiresAt) query.set('expires_at', String(expiry.expiresAt));
    const search = query.toString() ? `?${query}` : '';
    // A Blob with no type: fetch adds no Content-Type of its own.
    return this.json('PUT', keyPath(key) + search, { headers, body: new Blob([bytes]) });
  }

  /** Deletes a key if its revision is still `ifMatch`. */
  delete(key, ifMatch) {
    return this.json('DELETE', keyPath(key), { headers: { 'If-Match': `"${ifMatch}"` } });
  }

  /** Deletes every key under a non-empty prefix. */
  deletePrefix(prefix) {
    return this.json('DELETE', `/v1/kv?${new URLSearchParams({ prefix })}`);
  }

  /**
   * Counts the keys under `prefix`, a page of 1,000 at a time, up to
   * `most`: {count, complete}.
   */
  async count(prefix, most = 100000) {
    let count = 0;
    let startAfter = null;
    for (;;) {
      const page = await this.list({ prefix, startAfter, limit: 1000 });
      count += page.entries.length;
      if (page.next === null) return { count, complete: true };
      if (count >= most) return { count, complete: false };
      startAfter = page.next;
    }
  }

  /** `GET /`: up, writable, storage. */
  health() {
    return this.json('GET', '/');
  }

  /** `GET /v1/status` (replicated mode), or null where the server has none. */
  async status() {
    try {
      return await this.json('GET', '/v1/status');
    } catch (e) {
      if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
      throw e;
    }
  }

  /** `GET /metrics` as text (any valid token may read it). */
  async metrics() {
    return (await this.send('GET', '/metrics')).text();
  }
}

async function errorOf(response) {
  let detail = { message: `${response.status} ${response.statusText}` };
  try {
    const body = await response.json();
    if (body && body.error) detail = body.error;
  } catch {
    // Not JSON: keep the status line.
  }
  return new ApiError(response.status, detail);
}
