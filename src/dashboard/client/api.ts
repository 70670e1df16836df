// The dashboard's client of the REST API (same origin): JSON in and out, the session's credentials on
// every call (a bearer token, or the sign-in cookie with the CSRF token on writes: session.ts), and errors
// as the API's problem+json (RFC 9457) turned into readable text.
// Answers are typed by the caller (`api.get<RuleView>(...)`): the API is ours and its shapes are in types.ts.

import type { AuthConfig, Problem, SsoUser } from './types.js';

export type { Problem } from './types.js';

/** A non-2xx answer: `message` is the problem as text (status, title, detail, then one line per field error). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly problem: Problem,
  ) {
    super(problemText(status, problem));
    this.name = 'ApiError';
  }
}

export function problemText(status: number, p: Problem): string {
  const lines = [`${status} ${p.title ?? ''}${p.detail ? `: ${p.detail}` : ''}`];
  for (const e of p.errors ?? []) lines.push(`  ${e.path}: ${e.message}`);
  return lines.join('\n');
}

export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** The header that marks a call the page made by itself (`RequestOptions.background`). */
export const BACKGROUND_HEADER = 'x-selfheal-background';

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Aborts the call when the view that made it is left. */
  signal?: AbortSignal;
  /**
   * The page makes this call by itself (a timed refresh, not the person's click or navigation): it is sent
   * with `X-Selfheal-Background: 1`, and the server does not count it as use of the sign-in session, whose
   * idle timeout measures the person's activity (src/api/session.ts).
   */
  background?: boolean;
}

export interface ApiClient {
  get<T>(path: string, options?: RequestOptions): Promise<T>;
  send<T>(method: Method, path: string, body?: unknown, options?: RequestOptions): Promise<T>;
}

/**
 * `credentials(method)` gives the headers that authenticate a call; `onUnauthorized` runs on any 401 (token
 * revoked, session expired or signed out elsewhere): the app signs out and shows the sign-in page.
 */
export function createApi(credentials: (method: Method) => Record<string, string>, onUnauthorized: () => void): ApiClient {
  async function send<T>(method: Method, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', ...credentials(method), ...options.headers };
    if (options.background) headers[BACKGROUND_HEADER] = '1';
    const init: RequestInit = { method, headers };
    if (options.signal) init.signal = options.signal;
    if (body !== undefined) {
      headers['content-type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const res = await fetch(path, init);
    const text = await res.text();
    let parsed: unknown = null;
    try {
      parsed = text ? JSON.parse(text) : null;
    } catch {
      parsed = text;
    }
    if (res.ok) return parsed as T;
    const problem: Problem = typeof parsed === 'object' && parsed !== null ? (parsed as Problem) : { detail: String(parsed ?? '').slice(0, 500) };
    if (res.status === 401) onUnauthorized();
    throw new ApiError(res.status, problem);
  }
  return { get: (path, options) => send('GET', path, undefined, options), send };
}

/** Whether the API accepts `token` (the sign-in check): the status of a one-incident read with it. */
export async function tokenStatus(token: string): Promise<number> {
  const res = await fetch('/api/incidents?limit=1', { headers: { accept: 'application/json', authorization: `Bearer ${token}` } });
  await res.body?.cancel();
  return res.status;
}

/** Which sign-ins the server offers (GET /auth/config); token sign-in only when it cannot be asked. */
export async function authConfig(): Promise<AuthConfig> {
  try {
    const res = await fetch('/auth/config', { headers: { accept: 'application/json' } });
    if (res.ok) return (await res.json()) as AuthConfig;
  } catch {
    // fall through
  }
  return { tokenSignIn: true, sso: null };
}

/** The single sign-on session of this browser's cookie, if there is a live one. */
export async function ssoSession(): Promise<SsoUser | undefined> {
  const res = await fetch('/auth/session', { headers: { accept: 'application/json' } });
  if (!res.ok) {
    await res.body?.cancel();
    return undefined;
  }
  return (await res.json()) as SsoUser;
}

/** Ends the single sign-on session on the server; returns the provider's logout URL, if it has one. */
export async function endSsoSession(csrfToken: string): Promise<string | null> {
  const res = await fetch('/auth/logout', { method: 'POST', headers: { accept: 'application/json', 'x-csrf-token': csrfToken } });
  if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => ({}))) as Problem);
  return ((await res.json()) as { logoutUrl: string | null }).logoutUrl;
}
