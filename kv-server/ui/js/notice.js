// Errors and notes shown in a panel: an API refusal says what the server
// said, and a 403 says which right the token lacks.

import { ApiError } from './api.js';
import { el, replace } from './dom.js';

/** Shows `error` in `box` (an element with class "notice"). */
export function showError(box, error, session) {
  box.hidden = false;
  box.className = 'notice error';
  if (!(error instanceof ApiError)) {
    replace(box, el('strong', { text: 'Error: ' }), String(error.message || error));
    return;
  }
  if (error.status === 401) {
    session.ask('This server needs a token: sign in above.');
    replace(box, el('strong', { text: 'Not signed in. ' }), error.message);
    return;
  }
  if (error.status === 403) {
    const right = error.missingRight;
    replace(
      box,
      el('strong', { text: right ? `Missing right: ${right}. ` : 'Forbidden. ' }),
      `Your token cannot do this (${error.message}).`,
    );
    box.dataset.missingRight = right || '';
    return;
  }
  replace(box, el('strong', { text: `${error.code}: ` }), error.message);
}

/** Shows a plain note in `box`. */
export function showNote(box, ...parts) {
  box.hidden = false;
  box.className = 'notice';
  replace(box, ...parts);
}

/** Hides `box`. */
export function hideNotice(box) {
  box.hidden = true;
  box.replaceChildren();
  delete box.dataset.missingRight;
}
