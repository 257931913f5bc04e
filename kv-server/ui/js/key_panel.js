// A key's page: its value (text, pretty JSON or hex), its metadata and the
// time left before it expires; editing, creating and deleting, each
// conditioned on the revision the page showed, so a change someone else
// made meanwhile is shown beside yours instead of being overwritten.

import { ApiError, valueBytes } from './api.js';
import { confirmAction } from './dialog.js';
import { byId, el, formatBytes, formatDuration, replace } from './dom.js';
import { conflictView, keyEditor } from './key_editor.js';
import { hideNotice, showError, showNote } from './notice.js';
import { decodeUtf8, hexDump, prettyJson, viewsFor } from './value_format.js';

const VIEW_LABELS = { json: 'JSON', text: 'Text', hex: 'Hex' };

/** An entry of the API (`?format=json`) as the panel keeps it. */
function toEntry(json) {
  return {
    key: json.key,
    bytes: valueBytes(json.value, json.encoding),
    contentType: json.content_type || '',
    createRev: json.create_rev,
    modRev: json.mod_rev,
    version: json.version,
    expiresAt: json.expires_at || null,
  };
}

/** The key panel. `onChanged()` is called after this panel writes. */
export class KeyPanel {
  constructor(api, session, onChanged) {
    this.api = api;
    this.session = session;
    this.onChanged = onChanged;
    this.key = null;
    this.entry = null;
    this.mode = 'empty';
    this.view = null;
    this.ticker = 0;
    // The key to show again when a new key is cancelled.
    this.returnTo = null;
  }

  mount() {
    this.body = byId('key-body');
    this.notice = byId('key-notice');
    this.renderEmpty();
  }

  /** Opens `key` (null: nothing open), unless it is already open. */
  async open(key, force = false) {
    if (key === this.key && !force) return;
    this.key = key;
    this.entry = null;
    this.view = null;
    hideNotice(this.notice);
    if (key === null) {
      this.renderEmpty();
      return;
    }
    await this.load();
  }

  async load() {
    const key = this.key;
    try {
      const json = await this.api.entry(key);
      if (key !== this.key) return;
      this.entry = json ? toEntry(json) : null;
      if (this.entry) this.renderEntry();
      else this.renderMissing();
    } catch (error) {
      if (key !== this.key) return;
      this.mode = 'error';
      this.body.replaceChildren();
      showError(this.notice, error, this.session);
    }
  }

  /** Reads the open key again, unless it is being edited. */
  async refresh() {
    if (this.mode === 'view' || this.mode === 'missing') await this.load();
  }

  /** A change to the open key arrived on the feed: {op, rev}. */
  async changed(event) {
    if (this.mode === 'edit') {
      showNote(this.notice, `Someone changed this key on the server (revision ${event.rev}, ${event.op}) while you edit it: saving will show both versions.`);
      return;
    }
    if (this.mode !== 'view' && this.mode !== 'missing') return;
    if (this.entry && event.rev <= this.entry.modRev) return;
    await this.load();
    const what = event.op === 'set' ? 'updated' : event.op === 'expire' ? 'expired' : 'deleted';
    showNote(this.notice, `This key was ${what} on the server at revision ${event.rev}.`);
  }

  renderEmpty() {
    this.mode = 'empty';
    this.stopTicker();
    replace(this.body, el('p', { class: 'placeholder', text: 'Pick a key in the tree, or create one.' }));
  }

  renderMissing() {
    this.mode = 'missing';
    this.stopTicker();
    replace(this.body,
      el('h2', { id: 'key-name', class: 'key-name', text: this.key }),
      el('p', { id: 'key-missing', class: 'placeholder', text: 'There is no such key (now).' }),
      el('div', { class: 'actions' },
        el('button', { type: 'button', text: 'Create it', on: { click: () => this.create(this.key) } })));
  }

  renderEntry() {
    this.mode = 'view';
    const entry = this.entry;
    const views = viewsFor(entry.bytes, entry.contentType);
    if (!views.includes(this.view)) this.view = views[0];
    const field = (name, label, value) => [
      el('dt', { text: label }), el('dd', { data: { field: name }, text: value })];
    const switcher = el('div', { class: 'view-switch', attrs: { role: 'group', 'aria-label': 'Show as' } },
      views.map((view) => el('button', {
        type: 'button', text: VIEW_LABELS[view], class: view === this.view ? 'on' : '', data: { view },
        on: { click: () => { this.view = view; this.renderEntry(); } },
      })));
    replace(this.body,
      el('h2', { id: 'key-name', class: 'key-name', text: entry.key }),
      el('dl', { id: 'key-meta', class: 'meta' },
        field('content_type', 'Content type', entry.contentType || '(none)'),
        field('create_rev', 'create_rev', entry.createRev),
        field('mod_rev', 'mod_rev', entry.modRev),
        field('version', 'version', entry.version),
        field('size', 'Size', formatBytes(entry.bytes.length)),
        field('expires', 'Expires', '')),
      switcher,
      el('pre', { id: 'value', class: `value view-${this.view}`, data: { view: this.view }, text: this.render(this.view) }),
      el('div', { class: 'actions' },
        el('button', { id: 'edit-button', type: 'button', class: 'primary', text: 'Edit', on: { click: () => this.edit() } }),
        el('button', { id: 'delete-button', type: 'button', class: 'danger', text: 'Delete…', on: { click: () => this.remove() } })));
    this.startTicker();
  }

  render(view) {
    const bytes = this.entry.bytes;
    if (view === 'json') return prettyJson(decodeUtf8(bytes));
    if (view === 'text') return decodeUtf8(bytes);
    return hexDump(bytes, this.body.clientWidth < 560 ? 8 : 16);
  }

  /** Updates the time left before the key expires, every second. */
  startTicker() {
    this.stopTicker();
    const tick = () => {
      const cell = this.body.querySelector('[data-field="expires"]');
      if (!cell || !this.entry) return;
      const at = this.entry.expiresAt;
      if (!at) {
        cell.textContent = 'never';
        return;
      }
      const left = at - Date.now();
      cell.textContent = left > 0
        ? `in ${formatDuration(left)} (${new Date(at).toLocaleString('en-GB')})`
        : 'now: waiting for the server to remove it';
      cell.dataset.msLeft = String(Math.max(0, left));
    };
    tick();
    if (this.entry.expiresAt) this.ticker = setInterval(tick, 1000);
  }

  stopTicker() {
    clearInterval(this.ticker);
    this.ticker = 0;
  }

  /** Starts editing the open key from the revision shown. */
  edit(draft = null) {
    this.showEditor(this.entry, draft);
  }

  /** Starts a new key, named `key` (or the folder's prefix). */
  create(key, draft = null) {
    if (this.key !== null) this.returnTo = this.key;
    this.key = null;
    this.entry = null;
    hideNotice(this.notice);
    this.showEditor(null, draft || { key, bytes: new Uint8Array(), contentType: 'text/plain; charset=utf-8', expiry: {} });
  }

  showEditor(base, draft) {
    this.mode = 'edit';
    this.stopTicker();
    const editor = keyEditor({
      base,
      draft,
      onSave: () => this.save(base, editor),
      onCancel: () => this.open(base ? base.key : this.returnTo ?? null, true),
    });
    replace(this.body,
      el('h2', { class: 'key-name', text: base ? `Editing ${base.key}` : 'New key' }),
      base ? el('p', { class: 'hint', text: `Saving replaces revision ${base.modRev} only if nobody changed it since.` }) : null,
      editor.node);
    editor.focus();
  }

  async save(base, editor) {
    let draft;
    try {
      draft = editor.read();
    } catch (e) {
      showNote(this.notice, el('strong', { text: 'Not saved: ' }), e.message);
      this.notice.classList.add('error');
      return;
    }
    await this.write(draft, base ? { ifMatch: base.modRev } : { create: true }, base);
  }

  /** Writes `draft` under `condition`; a failed condition shows the conflict. */
  async write(draft, condition, base) {
    try {
      const answer = await this.api.put(draft.key, draft.bytes, {
        contentType: draft.contentType, expiry: draft.expiry, ...condition,
      });
      this.key = draft.key;
      await this.load();
      showNote(this.notice, `Saved at revision ${answer.rev}.`);
      this.onChanged(draft.key);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'condition_failed') {
        await this.conflict(draft, base);
      } else {
        showError(this.notice, error, this.session);
      }
    }
  }

  /** Shows `draft` beside the server's current entry, after a failed condition. */
  async conflict(draft, base) {
    const json = await this.api.entry(draft.key).catch(() => null);
    const current = json ? toEntry(json) : null;
    this.mode = 'conflict';
    hideNotice(this.notice);
    let message;
    const actions = [];
    if (base && current) {
      message = `Someone else changed “${draft.key}” after you opened it: you edited revision ${base.modRev}, it is now at revision ${current.modRev}. Nothing was saved.`;
      actions.push({ id: 'overwrite-button', label: `Save mine over revision ${current.modRev}`, kind: 'danger', run: () => this.write(draft, { ifMatch: current.modRev }, current) });
    } else if (base) {
      message = `Someone deleted “${draft.key}” after you opened it (you edited revision ${base.modRev}). Nothing was saved.`;
      actions.push({ id: 'recreate-button', label: 'Create it again with mine', kind: 'danger', run: () => this.write(draft, { create: true }, null) });
    } else if (current) {
      message = `A key “${draft.key}” already exists (revision ${current.modRev}). Nothing was saved.`;
      actions.push({ id: 'overwrite-button', label: `Replace revision ${current.modRev} with mine`, kind: 'danger', run: () => this.write(draft, { ifMatch: current.modRev }, current) });
    } else {
      message = `“${draft.key}” changed while it was saved: try again.`;
    }
    const editAgain = () => {
      if (!current) {
        this.create(draft.key, draft);
        return;
      }
      // From the revision now shown beside it: saving replaces that one.
      this.key = current.key;
      this.entry = current;
      this.edit(draft);
    };
    actions.push({ id: 'edit-again-button', label: 'Edit mine again', run: editAgain });
    actions.push({ id: 'discard-button', label: 'Discard mine', run: () => this.open(draft.key, true) });
    replace(this.body, el('h2', { class: 'key-name', text: draft.key }), conflictView({ message, draft, current, actions }));
  }

  /** Deletes the open key if it is still at the revision shown. */
  async remove(entry = this.entry) {
    const confirmed = await confirmAction({
      title: 'Delete key',
      message: `Delete “${entry.key}” (revision ${entry.modRev})? This cannot be undone.`,
      confirmLabel: 'Delete',
    });
    if (!confirmed) return;
    try {
      const answer = await this.api.delete(entry.key, entry.modRev);
      await this.load();
      showNote(this.notice, `Deleted at revision ${answer.rev}.`);
      this.onChanged(entry.key);
    } catch (error) {
      if (!(error instanceof ApiError && error.code === 'condition_failed')) {
        showError(this.notice, error, this.session);
        return;
      }
      const json = await this.api.entry(entry.key).catch(() => null);
      const current = json ? toEntry(json) : null;
      this.mode = 'conflict';
      const draft = { key: entry.key, bytes: entry.bytes, contentType: entry.contentType };
      const actions = current
        ? [{ id: 'delete-anyway-button', label: `Delete revision ${current.modRev}`, kind: 'danger', run: () => this.remove(current) }]
        : [];
      actions.push({ id: 'discard-button', label: 'Show the key as it is', run: () => this.open(entry.key, true) });
      replace(this.body, el('h2', { class: 'key-name', text: entry.key }), conflictView({
        mineTitle: `What you saw: revision ${entry.modRev}`,
        message: current
          ? `Not deleted: someone changed “${entry.key}” after you opened it (revision ${entry.modRev}, now ${current.modRev}).`
          : `“${entry.key}” was already deleted by someone else.`,
        draft, current, actions,
      }));
    }
  }
}

