// The signed-in token: kept in sessionStorage, so it lives as long as the
// tab (a reload keeps it; another tab or a closed tab does not), and sent
// only as a Bearer header by the API module. No cookie is ever set, so the
// console has no CSRF surface.

import { byId } from './dom.js';

const STORAGE_KEY = 'kv-console-token';

/** The token of this tab, and the sign-in form that sets it. */
export class Session {
  constructor() {
    this.listeners = [];
  }

  /** The token, or '' when signed out. */
  token() {
    return sessionStorage.getItem(STORAGE_KEY) || '';
  }

  /** Calls `listener()` whenever the token changes. */
  onChange(listener) {
    this.listeners.push(listener);
  }

  set(token) {
    if (token) sessionStorage.setItem(STORAGE_KEY, token);
    else sessionStorage.removeItem(STORAGE_KEY);
    this.render();
    for (const listener of this.listeners) listener();
  }

  /** Wires the sign-in form and the sign-out button. */
  mount() {
    const form = byId('signin');
    const input = byId('token');
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const token = input.value.trim();
      input.value = '';
      this.set(token);
    });
    byId('signout').addEventListener('click', () => this.set(''));
    this.render();
  }

  /** Asks for a token (after a 401): shows and focuses the field. */
  ask(message) {
    const hint = byId('signin-hint');
    hint.textContent = message;
    hint.hidden = false;
    byId('token').focus();
  }

  render() {
    const signedIn = this.token() !== '';
    byId('signin').hidden = signedIn;
    byId('signed-in').hidden = !signedIn;
    byId('signin-hint').hidden = true;
  }
}
