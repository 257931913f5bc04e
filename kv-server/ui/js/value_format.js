// How a value is shown: as text, as pretty JSON, or as a hex dump for
// binary, chosen from its content type and its bytes.

/** Most bytes a hex dump shows (the rest is summarised). */
export const HEX_LIMIT = 64 * 1024;

const JSON_TYPE = /^application\/([\w.+-]*\+)?json\b/i;
const TEXT_TYPE = /^(text\/|application\/(xml|javascript|x-www-form-urlencoded|yaml|toml)\b|[^;]*\+xml\b)/i;

/**
 * The views that make sense for a value, best first:
 * 'json' (it parses, and its type says JSON or it looks like an object or
 * array), 'text' (valid UTF-8 without control characters but tab and
 * newlines) and 'hex' (always possible).
 */
export function viewsFor(bytes, contentType) {
  const text = decodeUtf8(bytes);
  const views = [];
  if (text !== null) {
    const parsesAsJson = parseJson(text) !== undefined;
    const typeSaysJson = JSON_TYPE.test(contentType || '');
    const looksLikeJson = /^\s*[[{]/.test(text);
    if (parsesAsJson && (typeSaysJson || looksLikeJson)) views.push('json');
    if (!hasControlCharacters(text) || TEXT_TYPE.test(contentType || '')) views.push('text');
  }
  views.push('hex');
  return views;
}

/** The value as text, or null when it is not valid UTF-8. */
export function decodeUtf8(bytes) {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

/** The text as JSON indented by two spaces. */
export function prettyJson(text) {
  return JSON.stringify(JSON.parse(text), null, 2);
}

function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function hasControlCharacters(text) {
  // C0 controls but tab, LF, CR; and DEL.
  return /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/.test(text);
}

/**
 * A hex dump: one line per `perRow` bytes (16, or 8 on a narrow screen),
 * `offset  hex bytes  |ascii|`, up to HEX_LIMIT bytes.
 */
export function hexDump(bytes, perRow = 16) {
  const lines = [];
  const shown = Math.min(bytes.length, HEX_LIMIT);
  const half = perRow / 2;
  const width = half * 3 - 1;
  for (let at = 0; at < shown; at += perRow) {
    const row = bytes.subarray(at, Math.min(at + perRow, shown));
    const hex = Array.from(row, (b) => b.toString(16).padStart(2, '0'));
    const left = hex.slice(0, half).join(' ');
    const right = hex.slice(half).join(' ');
    const ascii = Array.from(row, (b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : '.')).join('');
    lines.push(`${at.toString(16).padStart(8, '0')}  ${left.padEnd(width)}  ${right.padEnd(width)}  |${ascii}|`);
  }
  if (bytes.length > shown) lines.push(`… ${bytes.length - shown} more bytes not shown`);
  return lines.join('\n');
}

/** Hex digits (whitespace ignored) as bytes, or null when they are not. */
export function parseHex(text) {
  const digits = text.replace(/\s+/g, '');
  if (digits.length % 2 !== 0 || /[^0-9a-f]/i.test(digits)) return null;
  const bytes = new Uint8Array(digits.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(digits.substr(i * 2, 2), 16);
  return bytes;
}

/** The bytes as plain hex, 32 bytes a line, for editing. */
export function plainHex(bytes) {
  const lines = [];
  for (let at = 0; at < bytes.length; at += 32) {
    lines.push(Array.from(bytes.subarray(at, at + 32), (b) => b.toString(16).padStart(2, '0')).join(' '));
  }
  return lines.join('\n');
}

/** A one-line preview of a value for lists: text, or a note for binary. */
export function preview(bytes, max = 80) {
  const text = decodeUtf8(bytes);
  if (text === null || hasControlCharacters(text)) return `‹${bytes.length} bytes, binary›`;
  const line = text.replace(/\s+/g, ' ');
  return line.length > max ? `${line.slice(0, max)}…` : line;
}
