// The tree and the open key follow changes as they arrive: one watch
// stream over the longest prefix both the folder shown and the open key
// share. When that stream is cut or its revisions are gone, the console
// reads the current state again and watches from there.

import { showNote } from './notice.js';
import { Watcher } from './sse.js';

/** Time to gather changes before listing the folder again. */
const TREE_DELAY_MS = 150;

/** The longest common prefix of two strings. */
export function commonPrefix(a, b) {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return a.slice(0, i);
}

/** Keeps the tree and the key panel up to date. */
export class LiveUpdates {
  constructor(api, tree, keyPanel, status) {
    this.tree = tree;
    this.keyPanel = keyPanel;
    this.status = status;
    this.prefix = null;
    this.reload = 0;
    this.watcher = new Watcher(api, {
      onEvent: (type, data) => this.event(type, data),
      onState: (state, detail) => this.state(state, detail),
    });
  }

  /** Follows `folder` and the open `key` (null: none). */
  follow(folder, key) {
    const prefix = key === null ? folder : commonPrefix(folder, key);
    if (prefix === this.prefix && this.watcher.running) return;
    this.prefix = prefix;
    this.restart();
  }

  /** Watches from now (after a change of token, or of what is shown). */
  restart() {
    this.watcher.start(this.prefix ? { prefix: this.prefix } : {}, {});
  }

  event(type, data) {
    this.status.seeRevision(data.rev);
    if (type === 'progress') return;
    // At most one listing per TREE_DELAY_MS, however fast changes come
    // (a timer reset on each change would wait for a pause that a busy
    // store never makes).
    if (data.key.startsWith(this.tree.listPrefix) && !this.reload) {
      this.reload = setTimeout(() => {
        this.reload = 0;
        this.tree.reload();
      }, TREE_DELAY_MS);
    }
    if (data.key === this.keyPanel.key) this.keyPanel.changed({ op: type, rev: data.rev });
  }

  state(state, detail) {
    const live = document.getElementById('live-state');
    if (live) live.dataset.state = state;
    if (state === 'cut' || (state === 'refused' && detail.status === 410)) {
      // Missed changes: read the current state again, watch from now.
      this.tree.reload();
      this.keyPanel.refresh();
      this.restart();
    } else if (state === 'refused') {
      showNote(document.getElementById('tree-notice'),
        `Live updates are off: ${detail.message}`);
    }
  }
}
