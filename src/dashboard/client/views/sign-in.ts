// The sign-in page: the operator pastes an API token (or the admin token); it is checked against the API
// before it is kept. Another sign-in method (OIDC) would add its button here.
import { tokenStatus } from '../api.js';
import { h } from '../dom.js';
import type { View } from '../router.js';
import { session } from '../session.js';

export const signInView: View = async (ctx) => {
  const input = h('input', { type: 'password', id: 'token', autocomplete: 'off', placeholder: 'Bearer token' });
  const error = h('p', { class: 'error', 'data-testid': 'login-error' });
  const submit = async (ev: SubmitEvent) => {
    ev.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    let status: number;
    try {
      status = await tokenStatus(token);
    } catch (err) {
      error.textContent = `Cannot reach the API: ${(err as Error).message}`;
      return;
    }
    if (status >= 200 && status < 300) {
      session.signIn(token);
      if (location.hash === '#/login' || !location.hash) location.hash = '#/incidents';
      else ctx.reload();
    } else {
      error.textContent = status === 401 || status === 403 ? `That token is not accepted (${status}).` : `The API answered ${status}.`;
    }
  };
  ctx.show(
    h(
      'form',
      { class: 'card login', id: 'login', onsubmit: (ev) => void submit(ev) },
      h('h2', {}, 'Sign in'),
      h('p', { class: 'muted' }, 'Paste an API token (or the admin token). It is kept in this tab only.'),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
      error,
    ),
  );
  input.focus();
};
