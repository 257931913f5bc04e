// The watch stream read with fetch() instead of EventSource: EventSource
// cannot send an Authorization header, and the token must stay out of URLs
// and cookies. Reading the stream ourselves also lets us send
// Last-Event-ID on every resume, and see the status of a refusal (410).

import { ApiError } from './api.js';

/**
 * A parser of text/event-stream (the WHATWG rules): feed it text as it
 * arrives; it calls `onEvent({type, data, id})` for each event, where `id`
 * is the last event ID seen so far on the stream (null before any).
 */
export class EventStreamParser {
  constructor(onEvent) {
    this.onEvent = onEvent;
    this.buffer = '';
    this.type = '';
    this.data = [];
    this.lastId = null;
    this.sawCr = false;
  }

  push(text) {
    this.buffer += text;
    // A CR at the end of a chunk may be the first half of CRLF.
    let start = 0;
    for (let i = 0; i < this.buffer.length; i++) {
      const c = this.buffer[i];
      if (c === '\n' && this.sawCr) {
        this.sawCr = false;
        start = i + 1;
        continue;
      }
      this.sawCr = false;
      if (c === '\r' || c === '\n') {
        this.line(this.buffer.slice(start, i));
        this.sawCr = c === '\r';
        start = i + 1;
      }
    }
    this.buffer = this.buffer.slice(start);
  }

  line(line) {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.type = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id' && !value.includes('\0')) this.lastId = value;
  }

  dispatch() {
    const type = this.type || 'message';
    const data = this.data.join('\n');
    const hadData = this.data.length > 0;
    this.type = '';
    this.data = [];
    if (hadData) this.onEvent({ type, data, id: this.lastId });
  }
}

/**
 * Opens `GET /v1/watch?query` and reads it until it ends or `signal`
 * aborts. `resume` is {afterId} (sent as Last-Event-ID: the stream starts
 * after it) or {fromRev} (inclusive) or nothing (from now). Resolves when
 * the stream ends; rejects with an ApiError when the server refuses it
 * (403, 410...).
 */
export async function readWatch(api, query, resume, signal, onEvent) {
  const params = new URLSearchParams(query);
  const headers = { Accept: 'text/event-stream' };
  if (resume.afterId != null) headers['Last-Event-ID'] = String(resume.afterId);
  else if (resume.fromRev != null) params.set('from_rev', String(resume.fromRev));
  const response = await api.send('GET', `/v1/watch?${params}`, { headers, signal });
  if (!response.body) throw new ApiError(0, { message: 'this browser cannot read streams' });
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  const parser = new EventStreamParser(onEvent);
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      parser.push(value);
    }
  } finally {
    reader.releaseLock();
  }
}

/** How long to wait before reconnecting a stream that ended by itself. */
const RECONNECT_MS = 1000;

/**
 * One watch stream that resumes where it left off. `onEvent(type, data,
 * id)` gets each event (data parsed as JSON); `onState(state, detail)`
 * gets 'connecting', 'live', 'reconnecting' (the stream ended or the
 * network failed: it reconnects by itself with Last-Event-ID), 'cut' (the
 * server cut it: detail is {resume_from_rev, reason}; it stops), 'refused'
 * (detail is the ApiError, such as 403 or 410; it stops) and 'stopped'.
 */
export class Watcher {
  constructor(api, { onEvent, onState }) {
    this.api = api;
    this.onEvent = onEvent;
    this.onState = onState;
    this.lastId = null;
    this.control = null;
    this.retry = 0;
  }

  get running() {
    return this.control !== null;
  }

  /** Starts (or restarts) the stream with `query` from `resume`. */
  start(query, resume = {}) {
    this.stop(false);
    this.query = query;
    this.lastId = resume.afterId ?? null;
    this.resume = resume;
    this.connect(resume);
  }

  /** Stops the stream; `lastId` stays, to resume from. */
  stop(report = true) {
    clearTimeout(this.retry);
    if (this.control) this.control.abort();
    this.control = null;
    if (report) this.onState('stopped');
  }

  async connect(resume) {
    const control = new AbortController();
    this.control = control;
    this.onState('connecting');
    let opened = false;
    try {
      await readWatch(this.api, this.query, resume, control.signal, ({ type, data, id }) => {
        if (!opened) {
          opened = true;
          this.onState('live');
        }
        if (id !== null) {
          this.lastId = Number(id);
          this.resume = { afterId: this.lastId };
        }
        let parsed;
        try {
          parsed = JSON.parse(data);
        } catch {
          return;
        }
        if (type === 'cut') {
          control.abort();
          this.control = null;
          this.onState('cut', parsed);
          return;
        }
        this.onEvent(type, parsed);
      });
    } catch (error) {
      if (control.signal.aborted) return;
      if (error instanceof ApiError && error.status !== 503) {
        this.control = null;
        this.onState('refused', error);
        return;
      }
    }
    if (control.signal.aborted || this.control !== control) return;
    // Ended by itself (a restart, a proxy, the network): resume after the
    // last event seen, as EventSource would.
    this.onState('reconnecting');
    this.retry = setTimeout(() => {
      if (this.control === control) this.connect(this.resume);
    }, RECONNECT_MS);
  }
}
