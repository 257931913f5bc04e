// The status strip: the store's revision, its storage policy, whether it
// takes writes, the NATS bridge's state, and in replicated mode the
// server's lag (log messages not applied yet). From GET / (no token
// needed), GET /v1/status (`mode` single or replica; a server without it
// answers 404 and counts as single) and GET /metrics (any valid token),
// every few seconds, and the revision from every answer and event.

import { byId, el, replace } from './dom.js';

const POLL_MS = 5000;

/** The value of an unlabelled gauge in Prometheus text, or null. */
export function gauge(metrics, name) {
  const match = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.eE+-]+)$`, 'm').exec(metrics);
  return match ? Number(match[1]) : null;
}

/** The status strip. */
export class StatusStrip {
  constructor(api) {
    this.api = api;
    // null until an answer or an event tells it (an empty store is at 0).
    this.rev = null;
    this.facts = {};
    this.timer = 0;
  }

  mount() {
    this.node = byId('status');
    this.refresh();
  }

  /** A revision seen in an answer or an event: the strip shows the highest. */
  seeRevision(rev) {
    if (typeof rev !== 'number' || (this.rev !== null && rev <= this.rev)) return;
    this.rev = rev;
    const cell = this.node && this.node.querySelector('[data-item="rev"]');
    if (cell) cell.textContent = `rev ${rev}`;
  }

  async refresh() {
    clearTimeout(this.timer);
    const [health, status, metrics] = await Promise.allSettled([
      this.api.health(), this.api.status(), this.api.metrics()]);
    const facts = {};
    if (health.status === 'fulfilled') Object.assign(facts, health.value);
    else facts.unreachable = true;
    if (status.status === 'fulfilled' && status.value) {
      facts.mode = status.value.mode;
      facts.lag = status.value.lag ?? null;
      this.seeRevision(status.value.rev);
    }
    if (metrics.status === 'fulfilled') {
      const text = metrics.value;
      this.seeRevision(gauge(text, 'kvstore_revision'));
      const connected = gauge(text, 'kvstore_nats_connected');
      facts.nats = connected === null ? 'off' : connected ? 'connected' : 'disconnected';
      facts.natsLag = gauge(text, 'kvstore_nats_publish_lag_revisions');
    }
    this.facts = facts;
    this.render();
    this.timer = setTimeout(() => this.refresh(), POLL_MS);
  }

  render() {
    const f = this.facts;
    const item = (name, text, state = '') => el('span', { class: `item ${state}`, data: { item: name }, text });
    const items = [item('rev', this.rev === null ? 'rev ?' : `rev ${this.rev}`)];
    if (f.unreachable) items.push(item('up', 'server unreachable', 'bad'));
    else {
      items.push(item('storage', `storage: ${f.storage}`));
      items.push(f.writable ? item('writable', 'writable', 'good') : item('writable', `read-only: ${f.error || 'writes refused'}`, 'bad'));
    }
    if (f.nats === undefined) items.push(item('nats', 'NATS: ? (sign in to see)'));
    else if (f.nats === 'off') items.push(item('nats', 'NATS: off'));
    else {
      const lag = f.natsLag ? `, ${f.natsLag} behind` : '';
      items.push(item('nats', `NATS: ${f.nats}${lag}`, f.nats === 'connected' ? 'good' : 'bad'));
    }
    // `single`, or a replicated mode (`replica`), which reports its lag.
    if (f.mode) items.push(item('mode', f.mode === 'single' ? 'single server' : `mode: ${f.mode}`));
    if (f.mode && f.mode !== 'single' && f.lag !== null) {
      items.push(item('lag', `lag ${f.lag}`, f.lag > 0 ? 'warn' : 'good'));
    }
    replace(this.node, items);
  }
}
