// The form that creates or edits a key, and the view of an edit conflict
// (what you wrote beside what the server has now).

import { el } from './dom.js';
import { decodeUtf8, hexDump, parseHex, plainHex, prettyJson, viewsFor } from './value_format.js';

const CONTENT_TYPES = [
  'text/plain; charset=utf-8',
  'application/json',
  'application/octet-stream',
  'text/html; charset=utf-8',
  'application/xml',
];

/**
 * The editor. `base` is the entry being edited (null for a new key);
 * `draft` ({key, bytes, contentType, expiry}) fills it instead: a new
 * key's name so far, or what was written before a conflict.
 * Returns {node, read, focus}: `read()` gives the draft or throws an Error
 * saying what to fix.
 */
export function keyEditor({ base, draft, onSave, onCancel }) {
  const isNew = base === null;
  const bytes = draft ? draft.bytes : base ? base.bytes : new Uint8Array();
  const asText = decodeUtf8(bytes);
  const startInHex = asText === null || !viewsFor(bytes, base?.contentType).includes('text');

  const keyInput = el('input', {
    id: 'editor-key', type: 'text', required: true, autocomplete: 'off', spellcheck: false,
    value: draft?.key ?? base?.key ?? '', readOnly: !isNew,
  });
  const typeInput = el('input', {
    id: 'editor-type', type: 'text', autocomplete: 'off', spellcheck: false,
    value: draft ? draft.contentType : base ? base.contentType || '' : 'text/plain; charset=utf-8',
    attrs: { list: 'content-types' },
  });
  const modeSelect = el('select', { id: 'editor-mode' },
    el('option', { value: 'text', text: 'Text (UTF-8)' }),
    el('option', { value: 'hex', text: 'Hex bytes' }));
  modeSelect.value = startInHex ? 'hex' : 'text';
  const valueArea = el('textarea', {
    id: 'editor-value', spellcheck: false, rows: 12,
    value: startInHex ? plainHex(bytes) : asText,
  });
  let lastMode = modeSelect.value;
  modeSelect.addEventListener('change', () => {
    // Convert what is in the box, so switching never loses an edit.
    const current = lastMode === 'hex' ? parseHex(valueArea.value) : new TextEncoder().encode(valueArea.value);
    if (current === null) {
      modeSelect.value = lastMode;
      return;
    }
    const text = decodeUtf8(current);
    if (modeSelect.value === 'text' && text === null) {
      modeSelect.value = lastMode;
      return;
    }
    valueArea.value = modeSelect.value === 'hex' ? plainHex(current) : text;
    lastMode = modeSelect.value;
  });

  const expirySelect = el('select', { id: 'editor-expiry' });
  if (base?.expiresAt) expirySelect.append(el('option', { value: 'keep', text: 'Keep the current expiry' }));
  expirySelect.append(
    el('option', { value: 'none', text: 'Never expires' }),
    el('option', { value: 'ttl', text: 'Expires after…' }));
  const ttlInput = el('input', { id: 'editor-ttl', type: 'text', placeholder: '30s, 5m, 2h, 1d', size: 10, hidden: true });
  expirySelect.addEventListener('change', () => {
    ttlInput.hidden = expirySelect.value !== 'ttl';
  });
  if (draft?.expiry?.ttl) {
    expirySelect.value = 'ttl';
    ttlInput.value = draft.expiry.ttl;
    ttlInput.hidden = false;
  }

  const form = el('form', { id: 'editor', class: 'editor', on: { submit: (event) => { event.preventDefault(); onSave(); } } },
    el('label', {}, el('span', { text: 'Key' }), keyInput),
    el('label', {}, el('span', { text: 'Content type' }), typeInput),
    el('datalist', { id: 'content-types' }, CONTENT_TYPES.map((t) => el('option', { value: t }))),
    el('label', {}, el('span', { text: 'Edit as' }), modeSelect),
    el('label', { class: 'value-label' }, el('span', { text: 'Value' }), valueArea),
    el('div', { class: 'expiry' }, el('label', {}, el('span', { text: 'Expiry' }), expirySelect), ttlInput),
    el('div', { class: 'actions' },
      el('button', { id: 'save-button', type: 'submit', class: 'primary', text: isNew ? 'Create' : 'Save' }),
      el('button', { id: 'cancel-button', type: 'button', text: 'Cancel', on: { click: onCancel } })));

  function read() {
    const key = keyInput.value;
    if (key === '') throw new Error('Give the key a name.');
    const value = modeSelect.value === 'hex' ? parseHex(valueArea.value) : new TextEncoder().encode(valueArea.value);
    if (value === null) throw new Error('The value is not hex bytes (pairs of 0-9 a-f).');
    const contentType = typeInput.value.trim();
    if (/json/i.test(contentType) && modeSelect.value === 'text') {
      try {
        JSON.parse(valueArea.value);
      } catch (e) {
        throw new Error(`The content type says JSON, but the value is not JSON: ${e.message}`);
      }
    }
    let expiry = {};
    if (expirySelect.value === 'keep') expiry = { expiresAt: base.expiresAt };
    if (expirySelect.value === 'ttl') {
      const ttl = ttlInput.value.trim();
      if (!/^\d+(ms|s|m|h|d)?$/.test(ttl)) throw new Error('Give the time to live as 30s, 5m, 2h or 1d.');
      expiry = { ttl };
    }
    return { key, bytes: value, contentType, expiry };
  }

  return { node: form, read, focus: () => (isNew ? keyInput : valueArea).focus() };
}

/** A value as a block of text: pretty JSON, text or a hex dump. */
export function valueBlock(bytes, contentType, id) {
  const view = viewsFor(bytes, contentType)[0];
  const text = view === 'json' ? prettyJson(decodeUtf8(bytes))
    : view === 'text' ? decodeUtf8(bytes) : hexDump(bytes, 8);
  return el('pre', { id, class: `value view-${view}`, data: { view }, text });
}

/**
 * The conflict view: the draft beside what the server has now (`current`,
 * null when the key was deleted), and the ways out `actions` gives
 * ([{id, label, run, kind}]).
 */
export function conflictView({ message, draft, current, actions, mineTitle = 'Yours (not saved)' }) {
  return el('div', { id: 'conflict', class: 'conflict' },
    el('p', { class: 'notice warn', id: 'conflict-message', text: message }),
    el('div', { class: 'sides' },
      el('div', { class: 'side mine' },
        el('h3', { text: mineTitle }),
        valueBlock(draft.bytes, draft.contentType, 'conflict-mine')),
      el('div', { class: 'side theirs' },
        el('h3', { text: current ? `On the server now (revision ${current.modRev})` : 'On the server now: deleted' }),
        current ? valueBlock(current.bytes, current.contentType, 'conflict-theirs')
          : el('p', { id: 'conflict-theirs', class: 'gone', text: 'The key no longer exists.' }))),
    el('div', { class: 'actions' },
      actions.map((a) => el('button', { id: a.id, type: 'button', class: a.kind || '', text: a.label, on: { click: a.run } }))));
}
