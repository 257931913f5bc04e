// The keys as a tree by `/`: one folder at a time (a listing with
// delimiter=/), a page at a time, narrowed by a prefix filter, with a
// count of keys per folder where a few bounded listings can tell it.

import { confirmAction } from './dialog.js';
import { byId, el, plural, replace } from './dom.js';
import { hideNotice, showError, showNote } from './notice.js';

/** Most keys one listing reads to count the keys of folders. */
const COUNT_WINDOW = 1000;
/** Most folders of a page counted with a listing of their own. */
const COUNT_FOLDERS = 10;

/** The link to a place in the console (folder and open key). */
export function placeHref(folder, key) {
  const params = new URLSearchParams();
  if (folder) params.set('folder', folder);
  if (key !== null && key !== undefined) params.set('key', key);
  return `#${params}`;
}

/** The tree panel. */
export class TreePanel {
  constructor(api, session) {
    this.api = api;
    this.session = session;
    // null until the address names a folder ('' is the top).
    this.folder = null;
    this.selected = null;
    // start_after of each page seen so far: starts[i] opens page i.
    this.starts = [null];
    this.pageIndex = 0;
    this.next = null;
    this.loading = 0;
  }

  mount() {
    this.list = byId('tree');
    this.notice = byId('tree-notice');
    this.filter = byId('filter');
    this.pageSize = byId('page-size');
    let debounce = 0;
    this.filter.addEventListener('input', () => {
      clearTimeout(debounce);
      debounce = setTimeout(() => this.restart(), 250);
    });
    byId('filter-form').addEventListener('submit', (event) => {
      event.preventDefault();
      clearTimeout(debounce);
      this.restart();
    });
    this.pageSize.addEventListener('change', () => this.restart());
    byId('next-page').addEventListener('click', () => this.turn(+1));
    byId('prev-page').addEventListener('click', () => this.turn(-1));
    byId('delete-prefix').addEventListener('click', () => this.deletePrefix());
  }

  /** The prefix the listing asks for: the folder plus the filter. */
  get listPrefix() {
    return this.folder + this.filter.value;
  }

  /** Shows `folder` with `selected` highlighted (from the address). */
  show(folder, selected) {
    this.selected = selected;
    if (folder !== this.folder) {
      this.folder = folder;
      this.filter.value = '';
      this.restart();
    } else {
      this.highlight();
    }
    this.renderCrumbs();
  }

  restart() {
    this.starts = [null];
    this.pageIndex = 0;
    return this.reload();
  }

  turn(step) {
    if (step > 0 && this.next === null) return;
    if (step < 0 && this.pageIndex === 0) return;
    this.pageIndex += step;
    if (step > 0) this.starts[this.pageIndex] = this.next;
    this.reload();
  }

  /** Lists the current page again (after a change). */
  async reload() {
    const ticket = ++this.loading;
    const prefix = this.listPrefix;
    const startAfter = this.starts[this.pageIndex];
    const limit = Number(this.pageSize.value);
    try {
      const page = await this.api.list({ prefix, startAfter, limit, delimiter: '/' });
      if (ticket !== this.loading) return;
      hideNotice(this.notice);
      this.next = page.next;
      this.render(page, prefix);
      this.countFolders(page, prefix, startAfter, ticket);
    } catch (error) {
      if (ticket !== this.loading) return;
      this.list.replaceChildren();
      this.next = null;
      this.renderPager(0);
      showError(this.notice, error, this.session);
    }
  }

  render(page, prefix) {
    const rows = [];
    for (const folder of page.prefixes) {
      rows.push(el('li', { class: 'folder', data: { prefix: folder } },
        el('a', { class: 'name', href: placeHref(folder, null), text: this.relative(folder) }),
        el('span', { class: 'count' })));
    }
    for (const entry of page.entries) {
      const name = this.relative(entry.key);
      const meta = [entry.content_type || 'no type', `v${entry.version}`];
      if (entry.expires_at) meta.push('expires');
      rows.push(el('li', { class: 'key', data: { key: entry.key } },
        el('a', {
          class: name ? 'name' : 'name self',
          href: placeHref(this.folder, entry.key),
          title: entry.key,
          text: name || entry.key,
        }),
        el('span', { class: 'meta', text: meta.join(' · ') })));
    }
    if (rows.length === 0) {
      rows.push(el('li', { class: 'empty', text: prefix ? `No keys start with “${prefix}”.` : 'No keys yet.' }));
    }
    this.list.replaceChildren(...rows);
    this.list.dataset.rev = String(page.rev);
    this.highlight();
    this.renderPager(page.prefixes.length + page.entries.length);
    const deleteButton = byId('delete-prefix');
    deleteButton.hidden = prefix === '';
    deleteButton.textContent = `Delete all under “${prefix}”…`;
  }

  renderPager(shown) {
    byId('prev-page').disabled = this.pageIndex === 0;
    byId('next-page').disabled = this.next === null;
    const info = byId('page-info');
    info.textContent = `Page ${this.pageIndex + 1} · ${plural(shown, 'item')}${this.next === null ? '' : ' · more'}`;
    info.dataset.page = String(this.pageIndex + 1);
  }

  /** The part of a key or folder after the current folder. */
  relative(name) {
    return name.startsWith(this.folder) ? name.slice(this.folder.length) : name;
  }

  highlight() {
    for (const row of this.list.querySelectorAll('li.key')) {
      row.classList.toggle('selected', row.dataset.key === this.selected);
    }
  }

  renderCrumbs() {
    const crumbs = [el('a', { href: placeHref('', null), text: 'all keys' })];
    let path = '';
    for (const part of this.folder.split('/').slice(0, -1)) {
      path += `${part}/`;
      crumbs.push(' / ', el('a', { href: placeHref(path, null), text: part || '(empty)' }));
    }
    replace(byId('crumbs'), crumbs);
  }

  /**
   * Counts the keys of the page's folders, cheaply: one listing of at most
   * COUNT_WINDOW keys from where the page starts counts every folder it
   * sees whole; each folder it does not (at most COUNT_FOLDERS of them)
   * gets its own listing of at most COUNT_WINDOW keys. A folder with more
   * shows "1000+"; one left uncounted shows nothing.
   */
  async countFolders(page, prefix, startAfter, ticket) {
    if (page.prefixes.length === 0) return;
    const counts = new Map();
    try {
      const window = await this.api.list({ prefix, startAfter, limit: COUNT_WINDOW });
      const seen = new Map();
      let last = null;
      for (const entry of window.entries) {
        const slash = entry.key.indexOf('/', prefix.length);
        if (slash < 0) continue;
        last = entry.key.slice(0, slash + 1);
        seen.set(last, (seen.get(last) || 0) + 1);
      }
      for (const [folder, n] of seen) {
        counts.set(folder, { n, exact: window.next === null || folder !== last });
      }
    } catch {
      return; // Counts are a nicety: the listing itself worked.
    }
    const unresolved = page.prefixes.filter((f) => !counts.get(f)?.exact).slice(0, COUNT_FOLDERS);
    await Promise.allSettled(unresolved.map(async (folder) => {
      const listing = await this.api.list({ prefix: folder, limit: COUNT_WINDOW });
      counts.set(folder, { n: listing.entries.length, exact: listing.next === null });
    }));
    if (ticket !== this.loading) return;
    for (const row of this.list.querySelectorAll('li.folder')) {
      const count = counts.get(row.dataset.prefix);
      if (count === undefined) continue;
      const badge = row.querySelector('.count');
      badge.textContent = count.exact ? String(count.n) : `${count.n}+`;
      badge.title = count.exact ? plural(count.n, 'key') : `at least ${plural(count.n, 'key')}`;
    }
  }

  /** Deletes every key under the listed prefix, after a confirmation with the count. */
  async deletePrefix() {
    const prefix = this.listPrefix;
    if (!prefix) return;
    try {
      const { count, complete } = await this.api.count(prefix);
      const counted = complete ? plural(count, 'key') : `more than ${plural(count, 'key')}`;
      const confirmed = await confirmAction({
        title: 'Delete by prefix',
        message: `Delete ${counted} under “${prefix}”? This cannot be undone.`,
        confirmLabel: `Delete ${counted}`,
      });
      if (!confirmed) return;
      const answer = await this.api.deletePrefix(prefix);
      const differs = complete && answer.deleted !== count ? ' (keys changed since the count)' : '';
      await this.restart();
      showNote(this.notice, `Deleted ${plural(answer.deleted, 'key')} under “${prefix}” at revision ${answer.rev}${differs}.`);
    } catch (error) {
      showError(this.notice, error, this.session);
    }
  }
}
