// The console: wires the panels together and follows the address
// (`#folder=users/&key=users/ada`), so a place can be bookmarked and the
// back button works.

import { Api } from './api.js';
import { byId } from './dom.js';
import { FeedPanel, folderOf } from './feed.js';
import { KeyPanel } from './key_panel.js';
import { LiveUpdates } from './live.js';
import { Session } from './session.js';
import { StatusStrip } from './status.js';
import { placeHref, TreePanel } from './tree.js';

/** The folder and key the address names. */
function place() {
  const params = new URLSearchParams(location.hash.slice(1));
  return { folder: params.get('folder') || '', key: params.get('key') };
}

/** On a narrow screen one panel shows at a time: `tree`, `key` or `feed`. */
function showTab(name) {
  document.body.dataset.tab = name;
  for (const tab of document.querySelectorAll('.tabs button')) {
    tab.setAttribute('aria-selected', String(tab.dataset.panel === name));
  }
}

function main() {
  const session = new Session();
  session.mount();
  const api = new Api(session);
  const status = new StatusStrip(api);
  api.onRevision = (rev) => status.seeRevision(rev);
  status.mount();

  const tree = new TreePanel(api, session);
  tree.mount();
  const keyPanel = new KeyPanel(api, session, (key) => {
    // A key written under another name (a new key) becomes the open one.
    if (place().key !== key) location.hash = placeHref(folderOf(key), key);
    tree.reload();
  });
  keyPanel.mount();
  const feed = new FeedPanel(api, session, status);
  feed.mount();
  const live = new LiveUpdates(api, tree, keyPanel, status);

  let lastKey;
  const route = () => {
    const { folder, key } = place();
    tree.show(folder, key);
    keyPanel.open(key);
    live.follow(folder, key);
    if (key !== lastKey && key !== null) showTab('key');
    lastKey = key;
  };
  window.addEventListener('hashchange', route);
  // A link to the place already in the address changes nothing in it:
  // open its key all the same (after "New key", say).
  document.addEventListener('click', (event) => {
    const link = event.target.closest('a[href^="#"]');
    if (link && link.getAttribute('href') === location.hash) {
      keyPanel.open(place().key);
      if (place().key !== null) showTab('key');
    }
  });

  for (const tab of document.querySelectorAll('.tabs button')) {
    tab.addEventListener('click', () => showTab(tab.dataset.panel));
  }
  byId('new-key').addEventListener('click', () => {
    keyPanel.create(tree.folder);
    showTab('key');
  });
  session.onChange(() => {
    tree.restart();
    keyPanel.open(place().key, true);
    feed.start();
    live.restart();
    status.refresh();
  });

  showTab('tree');
  route();
  feed.start();
  document.body.dataset.ready = 'true';
}

main();
