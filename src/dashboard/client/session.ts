// Who is signed in, one of two ways:
// - a bearer token the operator pasted, kept in sessionStorage (this tab only, gone when it closes; never
//   localStorage), sent as `Authorization: Bearer` on every call;
// - single sign-on: the server's session cookie (HttpOnly, so this code never sees it; the browser sends
//   it on same-origin calls) plus who the user is and the CSRF token, read from GET /auth/session and kept
//   in memory only (a reload asks again). Writes carry the token in `X-CSRF-Token`.
import type { Method } from './api.js';
import type { SsoUser } from './types.js';

export type { SsoUser } from './types.js';

const TOKEN_KEY = 'selfheal-token';

let ssoUser: SsoUser | undefined;

export const session = {
  /** The bearer token, or '' when not signed in with one. */
  token(): string {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  },
  /** The single sign-on user, when signed in that way. */
  sso(): SsoUser | undefined {
    return ssoUser;
  },
  signedIn(): boolean {
    return this.token() !== '' || ssoUser !== undefined;
  },
  /** What the header shows: the user's name or email, or that a token is in use. */
  label(): string {
    if (this.token()) return 'API token';
    return ssoUser ? (ssoUser.name ?? ssoUser.email ?? ssoUser.actor.replace(/^user:/, '')) : '';
  },
  signIn(token: string): void {
    sessionStorage.setItem(TOKEN_KEY, token);
  },
  useSso(user: SsoUser): void {
    ssoUser = user;
  },
  /** Forgets both ways here; ending the server's session is POST /auth/logout (api.ts `endSsoSession`). */
  signOut(): void {
    sessionStorage.removeItem(TOKEN_KEY);
    ssoUser = undefined;
  },
  /** The credentials a call needs: the bearer token, or for a session the CSRF token on writes (the cookie goes by itself). */
  headers(method: Method): Record<string, string> {
    const token = this.token();
    if (token) return { authorization: `Bearer ${token}` };
    if (ssoUser && method !== 'GET') return { 'x-csrf-token': ssoUser.csrfToken };
    return {};
  },
};
