// Building the page from data, as text only.
//
// Every key and value reaches the page through `el` (textContent and
// createTextNode) or an attribute set with setAttribute: never as HTML.
// The server's Content-Security-Policy also requires Trusted Types, so a
// string handed to an HTML sink by mistake throws instead of being parsed
// as markup.

/**
 * Creates an element. `props` may hold `class`, `text`, `title`, `on`
 * ({event: handler}), `data` ({name: value}), `attrs` ({name: value}) and
 * DOM properties such as `type`, `value`, `disabled`. Children are nodes or
 * strings (as text); null and false are skipped.
 */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(props)) {
    if (value === undefined || value === null) continue;
    if (name === 'class') node.className = value;
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'on') {
      for (const [event, handler] of Object.entries(value)) node.addEventListener(event, handler);
    } else if (name === 'data') {
      for (const [key, v] of Object.entries(value)) node.dataset[key] = String(v);
    } else if (name === 'attrs') {
      for (const [key, v] of Object.entries(value)) node.setAttribute(key, String(v));
    } else node[name] = value;
  }
  append(node, children);
  return node;
}

/** Appends children (nodes, strings as text, arrays of them). */
export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replaces every child of `node`. */
export function replace(node, ...children) {
  node.replaceChildren();
  return append(node, children);
}

/** The element with this id (it must exist). */
export function byId(id) {
  const node = document.getElementById(id);
  if (!node) throw new Error(`no #${id} in the page`);
  return node;
}

/** "1 key", "2 keys". */
export function plural(n, word) {
  return `${n.toLocaleString('en')} ${word}${n === 1 ? '' : 's'}`;
}

/** A byte count for people: 512 B, 1.5 KiB, 3.2 MiB. */
export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A duration in milliseconds for people: 4m 12s, 2h 5m, 3d 4h. */
export function formatDuration(ms) {
  if (ms <= 0) return '0s';
  const s = Math.floor(ms / 1000);
  const units = [[86400, 'd'], [3600, 'h'], [60, 'm'], [1, 's']];
  const parts = [];
  let rest = s;
  for (const [size, name] of units) {
    if (rest >= size || (size === 1 && parts.length === 0)) {
      parts.push(`${Math.floor(rest / size)}${name}`);
      rest %= size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
}

/** A time of day, for feed rows. */
export function clock(date = new Date()) {
  return date.toLocaleTimeString('en-GB', { hour12: false });
}
