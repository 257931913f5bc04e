// The live feed panel: every change as it happens, from GET /v1/watch,
// with prefix and op filters. Pause stops the stream; resume sends
// Last-Event-ID with the last revision seen, so nothing is skipped. A cut
// (the server dropped a slow reader) and a 410 (the revisions needed are
// gone from the server's memory) are shown plainly, with the revisions
// missed, and resuming from them is the user's choice.

import { valueBytes } from './api.js';
import { byId, clock, el, replace } from './dom.js';
import { hideNotice, showError, showNote } from './notice.js';
import { Watcher } from './sse.js';
import { placeHref } from './tree.js';
import { preview } from './value_format.js';

/** Most rows the panel keeps (older ones are dropped). */
const MAX_ROWS = 500;

/** The feed panel. */
export class FeedPanel {
  constructor(api, session, status) {
    this.api = api;
    this.session = session;
    this.status = status;
    this.paused = false;
    this.watcher = new Watcher(api, {
      onEvent: (type, data) => this.event(type, data),
      onState: (state, detail) => this.state(state, detail),
    });
  }

  mount() {
    this.list = byId('feed-events');
    this.notice = byId('feed-notice');
    this.stateLine = byId('feed-state');
    this.toggle = byId('feed-toggle');
    this.prefix = byId('feed-prefix');
    this.toggle.addEventListener('click', () => (this.watcher.running ? this.pause() : this.resume()));
    byId('feed-clear').addEventListener('click', () => this.list.replaceChildren());
    byId('feed-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.filtersChanged();
    });
    let debounce = 0;
    this.prefix.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.filtersChanged(), 400);
    });
    for (const box of document.querySelectorAll('#feed-form input[name="op"]')) {
      box.addEventListener('change', () => this.filtersChanged());
    }
  }

  /** The watch query from the filters, or null when no op is ticked. */
  query() {
    const query = {};
    if (this.prefix.value) query.prefix = this.prefix.value;
    const ops = [...document.querySelectorAll('#feed-form input[name="op"]')];
    const ticked = ops.filter((box) => box.checked).map((box) => box.value);
    if (ticked.length === 0) return null;
    if (ticked.length < ops.length) query.ops = ticked.join(',');
    return query;
  }

  /** Starts from now (the page opened, the token changed). */
  start() {
    this.paused = false;
    this.open({});
  }

  pause() {
    this.paused = true;
    this.watcher.stop();
  }

  /** Resumes after the last revision seen. */
  resume() {
    this.paused = false;
    const last = this.watcher.lastId;
    this.open(last === null ? {} : { afterId: last });
  }

  filtersChanged() {
    if (this.paused) return;
    this.resume();
  }

  open(resume) {
    const query = this.query();
    if (query === null) {
      this.watcher.stop(false);
      showNote(this.notice, 'Tick at least one op to watch.');
      this.renderState('stopped');
      return;
    }
    hideNotice(this.notice);
    this.watcher.start(query, resume);
  }

  event(type, data) {
    if (type === 'progress') {
      this.status.seeRevision(data.rev);
      this.renderState('live');
      return;
    }
    if (!['set', 'rm', 'expire'].includes(type)) return;
    this.status.seeRevision(data.rev);
    const value = data.val === undefined || data.val === null ? '' : preview(valueBytes(data.val, data.encoding));
    this.list.prepend(el('li', { class: `event op-${type}`, data: { rev: data.rev, op: type, key: data.key } },
      el('span', { class: 'rev', text: data.rev }),
      el('span', { class: 'op', text: type }),
      el('a', { class: 'key', href: placeHref(folderOf(data.key), data.key), text: data.key }),
      el('span', { class: 'val', text: value }),
      el('time', { text: clock() })));
    while (this.list.childElementCount > MAX_ROWS) this.list.lastElementChild.remove();
    this.renderState('live');
  }

  /** A row that says revisions were missed, where they were. */
  gap(text) {
    this.list.prepend(el('li', { class: 'event gap', text }));
  }

  state(state, detail) {
    if (state === 'cut') {
      const from = detail.resume_from_rev;
      this.gap(`— cut by the server: nothing received from revision ${from} on —`);
      showNote(this.notice,
        el('strong', { text: 'The server cut this feed. ' }),
        `${detail.reason.charAt(0).toUpperCase()}${detail.reason.slice(1)}. `,
        el('button', { type: 'button', id: 'feed-resume-cut', text: `Resume from revision ${from}`, on: { click: () => { this.paused = false; this.watcher.start(this.query() || {}, { fromRev: from }); } } }));
      this.notice.classList.add('warn');
      this.renderState('cut', from);
      return;
    }
    if (state === 'refused' && detail.status === 410) {
      const after = this.watcher.lastId;
      const oldest = detail.detail.oldest_rev;
      this.gap(`— revisions ${after + 1} to ${oldest - 1} are gone from the server: not shown —`);
      showNote(this.notice,
        el('strong', { text: 'Revisions missed. ' }),
        `The server no longer keeps the changes after revision ${after} (the oldest it has is ${oldest}), so the events in between cannot be shown. `,
        el('button', { type: 'button', id: 'feed-from-now', text: 'Watch from now', on: { click: () => this.start() } }));
      this.notice.classList.add('warn');
      this.notice.dataset.gone = 'true';
      this.renderState('gone');
      return;
    }
    if (state === 'refused') {
      showError(this.notice, detail, this.session);
      this.renderState('stopped');
      return;
    }
    if (state === 'stopped' && this.paused) {
      this.renderState('paused');
      return;
    }
    this.renderState(state);
  }

  renderState(state, extra) {
    const last = this.watcher.lastId;
    const seen = last === null ? '' : ` · last revision seen ${last}`;
    const label = {
      connecting: 'connecting…',
      live: 'live',
      reconnecting: 'reconnecting…',
      paused: 'paused',
      stopped: 'stopped',
      cut: `cut at revision ${extra}`,
      gone: 'revisions missed',
    }[state] || state;
    replace(this.stateLine, el('span', { class: `dot ${state}` }), `${label}${seen}`);
    this.stateLine.dataset.state = state;
    this.stateLine.dataset.lastRev = last === null ? '' : String(last);
    this.toggle.textContent = this.watcher.running ? 'Pause' : 'Resume';
  }
}

/** The folder a key is in: everything up to its last `/`. */
export function folderOf(key) {
  return key.slice(0, key.lastIndexOf('/') + 1);
}
