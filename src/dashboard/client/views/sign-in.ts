// The sign-in page, with the ways the server offers (GET /auth/config):
// - single sign-on: a link to /auth/login, which sends the browser to the company's OpenID Connect
//   provider and, once signed in there, back to the dashboard with a session cookie;
// - an API token (or the admin token) pasted here, checked against the API before it is kept. It stays on
//   beside single sign-on as the break-glass way in unless DASHBOARD_TOKEN_SIGN_IN=false.
import { tokenStatus } from '../api.js';
import { h } from '../dom.js';
import type { View } from '../router.js';
import { session } from '../session.js';

export const signInView: View = async (ctx) => {
  const { auth } = ctx.config;
  const sso = auth.sso
    ? h(
        'div',
        { class: 'sso' },
        h('a', { class: 'button', href: auth.sso.loginUrl, 'data-testid': 'sso-sign-in' }, `Sign in with ${auth.sso.providerName}`),
      )
    : null;
  if (!auth.tokenSignIn) {
    ctx.show(h('div', { class: 'card login', id: 'login' }, h('h2', {}, 'Sign in'), sso));
    return;
  }

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
      sso,
      sso ? h('p', { class: 'muted or' }, 'or paste an API token (or the admin token). It is kept in this tab only.') : h('p', { class: 'muted' }, 'Paste an API token (or the admin token). It is kept in this tab only.'),
      input,
      h('button', { type: 'submit' }, 'Sign in'),
      error,
    ),
  );
  if (!sso) input.focus();
};
