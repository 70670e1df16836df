// The dashboard's client of the REST API (same origin): JSON in and out, the session's bearer token on
// every call, and errors as the API's problem+json (RFC 9457) turned into readable text.
// Answers are typed by the caller (`api.get<RuleView>(...)`): the API is ours and its shapes are in types.ts.

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

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

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Aborts the call when the view that made it is left. */
  signal?: AbortSignal;
}

export interface ApiClient {
  get<T>(path: string, options?: RequestOptions): Promise<T>;
  send<T>(method: Method, path: string, body?: unknown, options?: RequestOptions): Promise<T>;
}

/** `onUnauthorized` runs on any 401 (token revoked or expired): the app signs out and shows the sign-in page. */
export function createApi(token: () => string, onUnauthorized: () => void): ApiClient {
  async function send<T>(method: Method, path: string, body?: unknown, options: RequestOptions = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json', authorization: `Bearer ${token()}`, ...options.headers };
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
