// One typed client for the REST API: base URL and bearer token, JSON in and out, and every
// `application/problem+json` answer turned into an ApiError carrying the CLI's exit code
// (2 for a request the server refused as invalid, 3 for authentication, authority and server failures).
// Nothing is retried but one case: a 429 of the caller's request budget (the problem's `limit` is
// `caller-budget`), answered before the server did any work, is sent again after the server's Retry-After
// (a few times, a few seconds each), so that a long `gitops apply` slows down instead of stopping half-way.
// A 429 of the failed-authentication limit is reported with its Retry-After and never retried: another
// attempt inside the window is refused again and prolongs nothing useful.
// The token goes over plain http only to a loopback address, or when the user says so (--insecure-http).
import type { AutomationPauseView, AutomationStatusView, CreatedToken, EnvironmentCheckAnswer, EnvironmentView, IncidentDetail, IncidentSummary, JobRunView, JobView, Problem, RevokedSessions, RevokedToken, RuleView, TeamMemberView, TeamView, TokenView } from './api-types.js';
import { isLoopbackHost } from '../domain/loopback.js';
import { trimTrailingSlashes } from '../domain/text.js';
import { readBodyCapped, redirectTarget } from '../http-body.js';
import { CliError, EXIT, plainText, quote, type MessagePart } from './errors.js';

/** A request that takes longer than this is a network error (exit 3). */
const REQUEST_TIMEOUT_MS = 30_000;
/** An answer larger than this is refused rather than buffered. */
const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;
/**
 * One list the CLI follows by `nextCursor` and keeps (rules, jobs, environments, tokens, teams, members,
 * runs) is refused once it passes either bound with a cursor still handed out: a server that never ends a
 * list (a hostile endpoint, a broken proxy, a bug) is otherwise followed until the CLI dies out of memory,
 * since each page is bounded but their number was not. A real list of 5,000 objects takes 10 pages of 500,
 * and 140 rules of 500 KB (the largest a rule is) take 9 pages of 8 MiB; the old single answer was refused
 * past 64 MiB. A list printed a page at a time and not kept (a run's targets) is bounded by pages only, 10
 * times as many.
 */
export const MAX_LIST_PAGES = 100;
export const MAX_LIST_BYTES = 256 * 1024 * 1024;
export const MAX_STREAMED_LIST_PAGES = 1000;

/** Problem statuses that mean "the request is invalid" (exit 2); every other error status exits 3. */
const VALIDATION_STATUSES = new Set([400, 409, 413, 415, 422, 428]);

/**
 * A problem answer as message parts: `<status> <title>: <detail>`, then one line `  <path>: <message>`
 * per field error. The layout is the CLI's; the title, the detail and each field error's path and message
 * are the server's, `Quoted`, so that main() prints each on its line (a newline in them is shown as `\n`
 * and cannot start a line such as `rule applied: 3 actions succeeded`).
 */
export function problemMessage(status: number, body: unknown): MessagePart[] {
  const p = (body && typeof body === 'object' ? body : {}) as Problem;
  const title = quote(p.title);
  const parts: MessagePart[] = [String(status)];
  if (title.text !== '' || p.detail) parts.push(' ', title);
  if (p.detail) parts.push(': ', quote(p.detail));
  for (const e of Array.isArray(p.errors) ? p.errors : []) parts.push('\n  ', quote(e?.path), ': ', quote(e?.message));
  return parts;
}

/** `problemMessage` as plain text (unescaped: for a line of a command's output, which escapes it as a whole). */
export function describeProblem(status: number, body: unknown): string {
  return plainText(problemMessage(status, body));
}

/**
 * Seconds a `Retry-After` header asks for (a number of seconds or an HTTP date), or undefined when it is
 * missing or unreadable.
 */
export function retryAfterSeconds(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** What a 429 means here: the API's failed-authentication limit (src/api/auth.ts) blocks this address. */
export const tooManyFailures = (retryAfter: number | undefined) =>
  `too many failed authentications from this address; retry ${retryAfter === undefined ? 'later' : `in ${retryAfter} s`}`;

/** What a 429 of the request budget means: this token sent more requests than the server lets one caller send. */
export const overBudget = (retryAfter: number | undefined) =>
  `this token sent more requests than the server's per-caller budget allows (SELFHEAL_RATE_LIMIT_BURST, SELFHEAL_RATE_LIMIT_PER_SECOND); retry ${retryAfter === undefined ? 'later' : `in ${retryAfter} s`}`;

/** A 429 of the per-caller request budget (src/api/auth.ts), as opposed to the failed-authentication limit. */
const isBudget429 = (status: number, body: unknown) => status === 429 && (body as { limit?: unknown } | undefined)?.limit === 'caller-budget';

/** Budget 429s sent again, and the longest Retry-After waited for (longer: reported at once). */
const BUDGET_RETRIES = 5;
const BUDGET_MAX_WAIT_SECONDS = 10;

/**
 * A 503 of the server's backtest limit (src/api/routes/backtest.ts: SELFHEAL_BACKTEST_MAX_CONCURRENT), which
 * did nothing: sent again after its Retry-After, up to BUSY_RETRIES times (a backtest takes up to its 30 s
 * budget, so about a minute of waiting). Reported at once, `rules apply` recorded the rule as "could not be
 * backtested" whenever two other backtests ran: with --require-backtest nothing was applied, without it the
 * rules were applied with no backtest attached.
 */
const isBacktestBusy = (status: number, body: unknown) => status === 503 && (body as { limit?: unknown } | undefined)?.limit === 'backtest-concurrency';
const BUSY_RETRIES = 12;

/** The server answered with an error status. */
export class ApiError extends CliError {
  constructor(
    readonly method: string,
    readonly path: string,
    readonly status: number,
    readonly body: unknown,
    /** Seconds the server's Retry-After asked for (429). */
    readonly retryAfter?: number,
  ) {
    super(
      VALIDATION_STATUSES.has(status) ? EXIT.usage : EXIT.server,
      status === 429 ? (isBudget429(status, body) ? overBudget(retryAfter) : tooManyFailures(retryAfter)) : [`${method} ${path} failed: `, ...problemMessage(status, body)],
    );
    this.name = 'ApiError';
  }

  /** The problem's one-line summary and its field errors, without the request line. */
  get summary(): string {
    return this.status === 429 ? this.message : describeProblem(this.status, this.body);
  }
}

export interface RequestOptions {
  body?: unknown;
  headers?: Record<string, string>;
  /** Answer `{status: 404}` instead of throwing when the resource does not exist. */
  allow404?: boolean;
}

export interface ApiResponse<T> {
  status: number;
  body: T;
  /** Bytes of the answer's body as read (what a list of pages adds up, see `pageFollower`). */
  bytes: number;
}

export interface ApiClient {
  readonly baseUrl: string;
  request<T = unknown>(method: string, path: string, opts?: RequestOptions): Promise<ApiResponse<T>>;
  rules: {
    list(): Promise<RuleView[]>;
    get(id: string): Promise<RuleView | undefined>;
    create(definition: unknown): Promise<RuleView>;
    /** Replaces the rule at `version` (If-Match); 409 when it moved on. */
    update(id: string, version: number, definition: unknown): Promise<RuleView>;
    remove(id: string, version: number): Promise<void>;
  };
  environments: {
    list(): Promise<EnvironmentView[]>;
    get(name: string): Promise<EnvironmentView | undefined>;
    create(body: unknown): Promise<EnvironmentView>;
    /** `ifTeam`: only while it is in that team (409 otherwise): the team a plan read it in. */
    update(name: string, body: unknown, ifTeam?: string): Promise<EnvironmentView>;
    remove(name: string, ifTeam?: string): Promise<void>;
    check(name: string): Promise<EnvironmentCheckAnswer | undefined>;
  };
  jobs: {
    list(): Promise<JobView[]>;
    get(id: string): Promise<JobView | undefined>;
    create(body: unknown): Promise<JobView>;
    /** `ifTeam`: only while it is in that team (409 otherwise): the team a plan read it in. */
    update(id: string, body: unknown, ifTeam?: string): Promise<JobView>;
    remove(id: string, ifTeam?: string): Promise<void>;
    /** The newest `limit` runs, following `nextCursor` (a page ends at 4 MiB); undefined for an unknown job. */
    runs(id: string, limit: number): Promise<JobRunView[] | undefined>;
    /** One page of a run's target results, whole, and its size; undefined for an unknown job or run. */
    runTargets(id: string, runId: string, cursor: string | null): Promise<{ items: JobRunView['targets']; nextCursor: string | null; bytes: number } | undefined>;
    /** The run's id when the API started it itself, and the time (to the second) the trigger was taken. */
    trigger(id: string): Promise<{ runId: string | null; triggeredAt: string | null }>;
    setState(id: string, what: 'pause' | 'resume'): Promise<JobView | undefined>;
  };
  incidents: {
    list(query: URLSearchParams): Promise<IncidentSummary[]>;
    get(id: string): Promise<IncidentDetail | undefined>;
    markResolved(id: string, body: { reason: string; resolvedAt?: string }): Promise<{ incidentId: string; eventId: string; actor: string }>;
  };
  automation: {
    status(): Promise<AutomationStatusView>;
    resume(body: { scope: 'fleet' | 'environment'; environment?: string }): Promise<{ resumed: AutomationPauseView[] }>;
  };
  tokens: {
    create(body: { name: string; scopes?: string[]; teams?: string[]; expiresIn?: string; expiresAt?: string; owner?: string }): Promise<CreatedToken>;
    /** Every token (or every live one), following the API's pages. */
    list(opts?: { live?: boolean }): Promise<TokenView[]>;
    /** Undefined when the token is not known. */
    revoke(id: string): Promise<RevokedToken | undefined>;
  };
  sessions: {
    /** Revokes every live dashboard session of the user with this subject or e-mail. */
    revokeUser(owner: { subject: string } | { email: string }): Promise<RevokedSessions>;
  };
  teams: {
    list(): Promise<TeamView[]>;
    create(body: { name: string; description?: string }): Promise<TeamView>;
    /** Undefined when the team is not known (or not the caller's). */
    members(team: string): Promise<TeamMemberView[] | undefined>;
    setRoles(team: string, tokenId: string, roles: string[]): Promise<TeamMemberView | undefined>;
  };
}

const seg = (s: string) => encodeURIComponent(s);

/**
 * `path` (`/api/…`, maybe with a query) under the configured URL, keeping the URL's own path: behind an
 * ingress that routes `https://tools.corp/selfheal/`, `/api/rules` is `https://tools.corp/selfheal/api/rules`.
 * (`new URL('/api/rules', base)` dropped it, and sent the token to whatever serves `/api` on that host.)
 */
export function apiUrl(base: string, path: string): URL {
  const u = new URL(base);
  // fetch refuses such a URL with an error that repeats it, password and all, onto the terminal.
  if (u.username || u.password) throw new CliError(EXIT.usage, 'SELFHEAL_URL (--url) must not carry a user or password: give the API token with SELFHEAL_TOKEN (--token)');
  const [pathname = '', query] = path.split(/\?(.*)/s, 2);
  // Only the path and query change: the origin stays the configured one. Resolving the joined path against
  // the origin read a path starting with `//` (`https://tools.corp//selfheal`, a base joined with a slash
  // too many) as another host, `selfheal`, and the token went there.
  u.pathname = `${trimTrailingSlashes(u.pathname)}${pathname}`;
  u.search = query ?? '';
  u.hash = '';
  return u;
}

/**
 * A 3xx is not followed (it could lead the request body elsewhere): it is an error naming where it pointed,
 * by its origin only (redirectTarget): the message lands in CI logs, and a Location's path, query or user
 * part may carry a secret (a webhook path, a token).
 */
export function redirectError(url: string, res: Response): CliError | undefined {
  if (res.status < 300 || res.status > 399) return undefined;
  const to = redirectTarget(res.headers.get('location'), url);
  return new CliError(EXIT.server, [`${url} answered ${res.status}, redirecting to `, quote(to), ': redirects are not followed; give the address to reach directly']);
}

/**
 * The checks of one list followed by `nextCursor`, asked after each page with its cursor and size: answers
 * the cursor to follow, or null at the end. A cursor handed out twice (a server bug, a proxy caching a
 * page, a hostile server) ends the command (exit 3): followed, it paged for ever; and so does a list that
 * goes on past `maxPages` pages or `maxBytes` bytes (see MAX_LIST_PAGES), before the next page is asked for.
 * `what` names the list in the messages (`http://api:8080`, `the run's targets`).
 */
export function pageFollower(what: string, maxPages: number = MAX_LIST_PAGES, maxBytes: number = MAX_LIST_BYTES) {
  const seen = new Set<string>();
  let pages = 0;
  let bytes = 0;
  return (cursor: string | null | undefined, pageBytes: number): string | null => {
    pages++;
    bytes += pageBytes;
    if (!cursor) return null;
    if (seen.has(cursor)) throw new CliError(EXIT.server, [`${what} answered a page cursor it had already given (`, quote(cursor), '): the list does not move on; not followed']);
    seen.add(cursor);
    if (pages >= maxPages || bytes >= maxBytes) {
      const bound = pages >= maxPages ? `${maxPages} pages` : `${maxBytes / 1024 / 1024} MiB`;
      throw new CliError(EXIT.server, `${what} answered ${pages} pages (${Math.ceil(bytes / 1024 / 1024)} MiB) of one list and still another cursor: the CLI follows at most ${bound} of a list; not followed further`);
    }
    return cursor;
  };
}

/**
 * Why the token may not be sent to `url`, if it may not: over plain http to a host that is not loopback,
 * anyone on the way reads the token and acts as its owner. Refused before any connection (or DNS lookup).
 */
export function plainHttpRefusal(url: URL, insecureHttp: boolean): CliError | undefined {
  if (url.protocol !== 'http:' || insecureHttp || isLoopbackHost(url.hostname)) return undefined;
  return new CliError(
    EXIT.usage,
    `refusing to send the API token over plain http to ${url.host}: anyone on the way could read it. Give an https:// SELFHEAL_URL (--url); plain http is for localhost, 127.0.0.0/8 and ::1 only.\n` +
      'On a network you trust, --insecure-http (or SELFHEAL_INSECURE_HTTP=1) sends it anyway.',
  );
}

/**
 * Why `token`, read from `source` (`SELFHEAL_TOKEN`, `--token`, `PAGERDUTY_API_TOKEN`), cannot be sent, if
 * it cannot: an HTTP header carries printable ASCII only, and fetch refuses anything else with a message
 * that repeats the whole header, token included (`Headers.append: "Bearer <token>" is an invalid header
 * value.`), which the CLI then printed as why it could not reach the server, into CI logs, where a token of
 * two lines is the one secret masking handles worst. The answer names the source and the kind of the first
 * character refused, never the token or any part of it. A token file read with `$(cat …)` loses its final
 * line break; one of two lines, a pasted secret wrapped in two, a space or a typographic quote does not.
 */
export function tokenRefusal(token: string, source: string): CliError | undefined {
  const bad = /[^\x21-\x7e]/.exec(token)?.[0];
  if (bad === undefined) return undefined;
  const code = bad.codePointAt(0)!;
  const kind =
    bad === '\n' || bad === '\r'
      ? 'a line break'
      : bad === ' ' || bad === '\t'
        ? 'a space or tab'
        : code < 0x20 || code === 0x7f
          ? 'a control character'
          : `a character that is not ASCII (U+${code.toString(16).toUpperCase().padStart(4, '0')})`;
  return new CliError(EXIT.usage, `the token given by ${source} holds ${kind}, which an HTTP header cannot carry; nothing was sent. Give the token alone, on one line, as it was issued (the token is not shown here)`);
}

export function createApiClient(global: { url: string; token: string | undefined; tokenSource?: string; insecureHttp?: boolean }): ApiClient {
  async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<ApiResponse<T>> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await send<T>(method, path, opts);
      } catch (err) {
        const budget = err instanceof ApiError && isBudget429(err.status, err.body);
        const busy = err instanceof ApiError && isBacktestBusy(err.status, err.body);
        const wait = budget || busy ? (err as ApiError).retryAfter : undefined;
        if (wait === undefined || wait > BUDGET_MAX_WAIT_SECONDS || attempt >= (busy ? BUSY_RETRIES : BUDGET_RETRIES)) throw err;
        await new Promise((r) => setTimeout(r, Math.max(wait, 1) * 1000));
      }
    }
  }

  async function send<T>(method: string, path: string, opts: RequestOptions): Promise<ApiResponse<T>> {
    const url = apiUrl(global.url, path);
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers };
    if (global.token) {
      // Asked here, not when the options are read: a command that sends nothing (pagerduty ping) runs whatever SELFHEAL_TOKEN holds.
      const refused = tokenRefusal(global.token, global.tokenSource ?? 'SELFHEAL_TOKEN') ?? plainHttpRefusal(url, global.insecureHttp === true);
      if (refused) throw refused;
      headers.authorization = `Bearer ${global.token}`;
    }
    if (opts.body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
      const redirected = redirectError(global.url, res);
      if (redirected) {
        await res.body?.cancel();
        throw redirected;
      }
      const answer = await readBodyCapped(res, MAX_RESPONSE_BYTES);
      if (answer.truncated) throw new CliError(EXIT.server, `the answer is larger than ${MAX_RESPONSE_BYTES / 1024 / 1024} MiB`);
      text = answer.text;
    } catch (err) {
      if (err instanceof CliError) throw err;
      const e = err as Error;
      const reason = e.cause instanceof Error ? e.cause.message : e.message;
      // A reason that quotes a request header (fetch's for a value it refuses) never shows the token, should one reach it.
      throw new CliError(EXIT.server, [`cannot reach ${global.url}: `, quote(global.token ? reason.replaceAll(global.token, '<the token>') : reason)]);
    }
    let body: unknown = undefined;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const bytes = Buffer.byteLength(text);
    if (res.status === 404 && opts.allow404) return { status: 404, body: body as T, bytes };
    if (res.status >= 400) throw new ApiError(method, path, res.status, body, res.status === 429 || res.status === 503 ? retryAfterSeconds(res.headers.get('retry-after')) : undefined);
    return { status: res.status, body: body as T, bytes };
  }
  const found = <T>(r: ApiResponse<T>) => (r.status === 404 ? undefined : r.body);
  /**
   * Every item of a list the API pages by cursor (500 a page at most; the server may end a page sooner, at
   * its bytes), following `nextCursor`; undefined when the first page is a 404 (asked with allow404). An
   * answer without nextCursor (a server from before a list was paged) is the whole list. A cursor handed
   * out twice, or a list past MAX_LIST_PAGES or MAX_LIST_BYTES, ends the command (exit 3; `pageFollower`).
   */
  async function allPages<T>(page: (query: URLSearchParams) => Promise<ApiResponse<{ items: T[]; nextCursor: string | null }>>, filter: Record<string, string> = {}): Promise<T[] | undefined> {
    const items: T[] = [];
    const next = pageFollower(global.url);
    let cursor: string | null = null;
    do {
      const r = await page(new URLSearchParams({ limit: '500', ...filter, ...(cursor ? { cursor } : {}) }));
      if (r.status === 404) return undefined;
      items.push(...r.body.items);
      cursor = next(r.body.nextCursor, r.bytes);
    } while (cursor);
    return items;
  }
  const ifMatch = (version: number) => ({ 'if-match': `"${version}"` });
  /** The `ifTeam` precondition (environments, jobs) as a query string, or nothing. */
  const inTeam = (team: string | undefined) => (team === undefined ? '' : `?${new URLSearchParams({ ifTeam: team }).toString()}`);

  return {
    baseUrl: global.url,
    request,
    rules: {
      list: async () => (await allPages<RuleView>((query) => request('GET', `/api/rules?${query}`)))!,
      get: async (id) => found(await request<RuleView>('GET', `/api/rules/${seg(id)}`, { allow404: true })),
      create: async (definition) => (await request<RuleView>('POST', '/api/rules', { body: definition })).body,
      update: async (id, version, definition) => (await request<RuleView>('PUT', `/api/rules/${seg(id)}`, { body: definition, headers: ifMatch(version) })).body,
      remove: async (id, version) => {
        await request('DELETE', `/api/rules/${seg(id)}`, { headers: ifMatch(version) });
      },
    },
    environments: {
      list: async () => (await allPages<EnvironmentView>((query) => request('GET', `/api/environments?${query}`)))!,
      get: async (name) => found(await request<EnvironmentView>('GET', `/api/environments/${seg(name)}`, { allow404: true })),
      create: async (body) => (await request<EnvironmentView>('POST', '/api/environments', { body })).body,
      update: async (name, body, ifTeam) => (await request<EnvironmentView>('PUT', `/api/environments/${seg(name)}${inTeam(ifTeam)}`, { body })).body,
      remove: async (name, ifTeam) => {
        await request('DELETE', `/api/environments/${seg(name)}${inTeam(ifTeam)}`);
      },
      check: async (name) => found(await request<EnvironmentCheckAnswer>('POST', `/api/environments/${seg(name)}/check`, { allow404: true })),
    },
    jobs: {
      list: async () => (await allPages<JobView>((query) => request('GET', `/api/jobs?${query}`)))!,
      get: async (id) => found(await request<JobView>('GET', `/api/jobs/${seg(id)}`, { allow404: true })),
      create: async (body) => (await request<JobView>('POST', '/api/jobs', { body })).body,
      update: async (id, body, ifTeam) => (await request<JobView>('PUT', `/api/jobs/${seg(id)}${inTeam(ifTeam)}`, { body })).body,
      remove: async (id, ifTeam) => {
        await request('DELETE', `/api/jobs/${seg(id)}${inTeam(ifTeam)}`);
      },
      runs: async (id, limit) => {
        // A page ends at 4 MiB of runs (one at least): the pages are followed up to `limit` runs.
        const items: JobRunView[] = [];
        const next = pageFollower(global.url);
        let cursor: string | null = null;
        do {
          const q: URLSearchParams = new URLSearchParams({ limit: String(limit - items.length), ...(cursor ? { cursor } : {}) });
          const r: ApiResponse<{ items: JobRunView[]; nextCursor?: string | null }> = await request<{ items: JobRunView[]; nextCursor?: string | null }>('GET', `/api/jobs/${seg(id)}/runs?${q}`, { allow404: true });
          if (r.status === 404) return undefined;
          items.push(...r.body.items);
          // Enough runs end the list before its bounds are asked about: the pages after them are not wanted.
          cursor = items.length < limit ? next(r.body.nextCursor, r.bytes) : null;
        } while (cursor);
        return items.slice(0, limit);
      },
      runTargets: async (id, runId, cursor) => {
        const q = new URLSearchParams({ limit: '500', ...(cursor ? { cursor } : {}) });
        const r = await request<{ items: JobRunView['targets']; nextCursor: string | null }>('GET', `/api/jobs/${seg(id)}/runs/${seg(runId)}/targets?${q}`, { allow404: true });
        const page = found(r);
        return page && { items: page.items, nextCursor: page.nextCursor ?? null, bytes: r.bytes };
      },
      trigger: async (id) => {
        // A server before runId and triggeredAt answers without them: the CLI then follows the first new run.
        const body = (await request<{ runId?: string | null; triggeredAt?: string }>('POST', `/api/jobs/${seg(id)}/trigger`)).body;
        return { runId: body?.runId ?? null, triggeredAt: body?.triggeredAt ?? null };
      },
      setState: async (id, what) => found(await request<JobView>('POST', `/api/jobs/${seg(id)}/${what}`, { allow404: true })),
    },
    incidents: {
      list: async (query) => (await request<{ items: IncidentSummary[] }>('GET', `/api/incidents?${query}`)).body.items,
      get: async (id) => found(await request<IncidentDetail>('GET', `/api/incidents/${seg(id)}`, { allow404: true })),
      markResolved: async (id, body) => (await request<{ incidentId: string; eventId: string; actor: string }>('POST', `/api/incidents/${seg(id)}/mark-resolved`, { body })).body,
    },
    automation: {
      status: async () => (await request<AutomationStatusView>('GET', '/api/automation')).body,
      resume: async (body) => (await request<{ resumed: AutomationPauseView[] }>('POST', '/api/automation/resume', { body })).body,
    },
    tokens: {
      create: async (body) => (await request<CreatedToken>('POST', '/api/tokens', { body })).body,
      list: async (opts = {}) => (await allPages<TokenView>((query) => request('GET', `/api/tokens?${query}`), opts.live ? { state: 'live' } : {}))!,
      revoke: async (id) => found(await request<RevokedToken>('DELETE', `/api/tokens/${seg(id)}`, { allow404: true })),
    },
    sessions: {
      revokeUser: async (owner) => (await request<RevokedSessions>('DELETE', `/api/sessions?${new URLSearchParams(owner)}`)).body,
    },
    teams: {
      list: async () => (await allPages<TeamView>((query) => request('GET', `/api/teams?${query}`)))!,
      create: async (body) => (await request<TeamView>('POST', '/api/teams', { body })).body,
      members: (team) => allPages<TeamMemberView>((query) => request('GET', `/api/teams/${seg(team)}/members?${query}`, { allow404: true })),
      setRoles: async (team, tokenId, roles) =>
        found(await request<TeamMemberView>('PUT', `/api/teams/${seg(team)}/members/${seg(tokenId)}`, { body: { roles }, allow404: true })),
    },
  };
}
