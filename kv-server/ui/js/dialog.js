// A modal confirmation (the page's <dialog id="confirm">), for acts that
// cannot be undone: deleting a key, deleting every key under a prefix.

import { byId, replace } from './dom.js';

/**
 * Shows `message` with a `confirmLabel` button and Cancel; resolves to
 * true when confirmed.
 */
export function confirmAction({ title, message, confirmLabel }) {
  const dialog = byId('confirm');
  replace(byId('confirm-title'), title);
  replace(byId('confirm-message'), message);
  const ok = byId('confirm-ok');
  ok.textContent = confirmLabel;
  return new Promise((resolve) => {
    const done = (answer) => {
      ok.removeEventListener('click', onOk);
      dialog.removeEventListener('close', onClose);
      if (dialog.open) dialog.close();
      resolve(answer);
    };
    const onOk = () => done(true);
    const onClose = () => done(false);
    const cancel = byId('confirm-cancel');
    const onCancel = () => {
      cancel.removeEventListener('click', onCancel);
      dialog.close();
    };
    ok.addEventListener('click', onOk);
    cancel.addEventListener('click', onCancel);
    dialog.addEventListener('close', onClose);
    dialog.showModal();
  });
}
