import { askedPauseMs, readBodyCapped, redirectTarget } from '../http-body.js';
import { EgressDeniedError, HttpCallError } from './errors.js';

export type FetchLike = typeof fetch;

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT';
  url: string;
  /** Used in error messages instead of the URL (URLs such as Slack webhooks carry secrets). */
  label: string;
  headers?: Record<string, string>;
  body?: string;
  /** A limit of this call's own; without it, DEFAULT_HTTP_TIMEOUT_MS bounds a call made without `signal`. */
  timeoutMs?: number;
  /**
   * The attempt's deadline (activities/side-effects.ts), which bounds the call: no fixed timeout is added
   * below it, since the action's `timeoutSeconds` may allow a slow receiver more than 15 s.
   */
  signal?: AbortSignal;
  fetch?: FetchLike;
  /**
   * Whether an error answer's body may appear in the error message (default true: work-item APIs come
   * from operator configuration and their error bodies explain what is wrong). Rule-directed calls pass
   * false: whoever wrote the rule chose the peer, and its answer must not travel back into action runs,
   * the API or PagerDuty notes, so their errors carry the status and a fixed reason only.
   */
  echoBody?: boolean;
  /**
   * Largest answer read, in bytes (default DEFAULT_MAX_RESPONSE_BYTES): reading stops there, so a peer
   * cannot fill the worker's memory. A 2xx answer over the limit is a permanent error (it was not read).
   */
  maxResponseBytes?: number;
  /** The answer's body is not needed (a rule-directed webhook): it is not read at all. */
  discardBody?: boolean;
  /**
   * What to change when this address answers with a redirect, in the words of the operator who can
   * (`set JIRA_BASE_URL to the address that answers`): the error of a 3xx ends with it.
   */
  redirectFix?: string;
  /**
   * A 303 See Other to this POST or PUT whose Location is on the request's own origin (scheme, host and port)
   * means the receiver took it (RFC 9110: its result is elsewhere), and nothing of that result is needed (a
   * notification): the call succeeds with status 303 and no body, and the Location is not followed. A 303
   * to another origin is a redirect error (redirectError), as is any 303 without this.
   */
  seeOtherIsDelivered?: boolean;
  /**
   * For a rule-directed call (`echoBody: false`): why a 303 See Other it got does not count as delivered, in
   * its error, which then names where the 303 pointed as its origin only (seeOtherError). Without it, a 303
   * is reported like any other redirect, naming its Location's origin only.
   */
  seeOtherNotDelivered?: string;
}

export interface HttpResponse {
  status: number;
  headers: Headers;
  text: string;
}

/** The timeout of a call made outside an attempt (without `signal`). */
export const DEFAULT_HTTP_TIMEOUT_MS = 15_000;
/** Trackers' answers (a page of 100 GitHub issues with bodies) fit with room to spare. */
export const DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024;

/** Whether an HTTP status is worth retrying: 408, 429 and 5xx. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500;
}

/**
 * One HTTP call, bounded by its attempt's deadline or a timeout. Non-2xx answers throw HttpCallError
 * (retryable for 408/429/5xx and for a 403 that says when to come again, a rate limit; not for other 4xx,
 * nor for a 3xx, which is not followed: redirectError), carrying the pause a retryable one asked for
 * (`retryAfterMs`); network failures and timeouts throw a retryable HttpCallError with status null.
 */
export async function httpRequest(req: HttpRequest): Promise<HttpResponse> {
  const doFetch = req.fetch ?? fetch;
  // An attempt's call runs until the attempt's deadline: a fixed 15 s below it cut a receiver that a rule
  // with `timeoutSeconds: 60` allowed 20 s, an unanswered call sent again at once.
  const timeout = req.timeoutMs !== undefined || !req.signal ? AbortSignal.timeout(req.timeoutMs ?? DEFAULT_HTTP_TIMEOUT_MS) : undefined;
  const signal = req.signal && timeout ? AbortSignal.any([req.signal, timeout]) : (req.signal ?? timeout!);
  let res: Response;
  try {
    // A redirect is never followed, and it is an answer, not a failure to connect: with `redirect: 'error'`
    // fetch threw a TypeError ("unexpected redirect") that read as a network failure, retried for the
    // action's whole retry budget and naming neither the status nor where it pointed.
    const init: RequestInit = { method: req.method, signal, redirect: 'manual' };
    if (req.headers) init.headers = req.headers;
    if (req.body !== undefined) init.body = req.body;
    res = await doFetch(req.url, init);
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof EgressDeniedError) throw new HttpCallError(`${req.label}: ${cause.message}`, null, false, { cause });
    const detail = cause as { code?: string; message?: string } | undefined;
    const reason = timeout?.aborted ? 'timed out' : (detail?.code ?? detail?.message ?? (err as Error).message);
    throw new HttpCallError(`${req.label}: request failed (${reason})`, null, true, { cause: err });
  }
  if (res.status >= 300 && res.status < 400) {
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 303 && req.method !== 'GET' && req.seeOtherIsDelivered && sameOrigin(res.headers.get('location'), req.url)) return { status: 303, headers: res.headers, text: '' };
    throw redirectError(req, res);
  }
  const max = req.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  let text = '';
  let truncated = false;
  try {
    if (req.discardBody) await res.body?.cancel();
    else ({ text, truncated } = await readBodyCapped(res, max));
  } catch (err) {
    if (req.signal?.aborted) throw req.signal.reason;
    // The status line arrived, the body did not (dropped or too slow): an answer we did not get.
    throw new HttpCallError(`${req.label}: HTTP ${res.status}, answer cut off (${timeout?.aborted ? 'timed out' : 'connection lost'})`, null, true, { cause: err });
  }
  if (res.status < 200 || res.status > 299) {
    // A refusal that says when to come again (Retry-After, GitHub's rate-limit reset) is retried no sooner;
    // a 403 saying so is a rate limit (GitHub answers its limits 403 or 429), retried like a 429.
    const asked = askedPauseMs(res.headers);
    const retryable = isRetryableStatus(res.status) || (res.status === 403 && asked !== undefined);
    const options = retryable && asked !== undefined ? { retryAfterMs: asked } : {};
    const reason = res.status === 403 && retryable ? 'rate limited by the receiver' : statusReason(res.status);
    if (req.echoBody === false) throw new HttpCallError(`${req.label}: HTTP ${res.status} (${reason}; the answer is not recorded)`, res.status, retryable, options);
    const snippet = text.replace(/\s+/g, ' ').slice(0, 200);
    throw new HttpCallError(`${req.label}: HTTP ${res.status}${snippet ? `: ${snippet}` : ''}`, res.status, retryable, options);
  }
  if (truncated) throw new HttpCallError(`${req.label}: HTTP ${res.status}, but the answer is larger than ${max} bytes (not read)`, res.status, false);
  return { status: res.status, headers: res.headers, text };
}

/**
 * How a rule-directed call's redirect names a Location on the request's own origin, or its own host with
 * another scheme or port: in words, since a Slack hook's address is a secret, its host included (a relay's
 * name, an internal proxy).
 */
const OWN_ORIGIN = { origin: 'its own origin', host: 'its own host' };

/**
 * The error of a 3xx answer. A redirect is not followed (the request, its credentials and its body go to the
 * address configured or named, nowhere else): the call did not reach a receiver that took it, and sending it
 * again meets the same answer until the address is changed, so it fails once, not retried, as a refused
 * destination does (its cause says nothing was done, so the side-effect layer neither re-sends it nor records
 * its outcome unknown). Every redirect's error names its status and where it pointed, as its origin only
 * (redirectTarget: scheme, host and port), since the path, query, fragment or user part of a Location can
 * carry a token (a sign-on page's return ticket, a Slack hook's new secret path), and ends with what to change
 * (`redirectFix`: the action's url, the secret the hook is read from, JIRA_BASE_URL). A rule-directed call
 * (`echoBody: false`) says so in the words of its other errors (`HTTP 302 (redirect, not followed) to …`):
 * nothing else of its answer is recorded. Any other call (a tracker's API) says `HTTP 302, redirecting to …`.
 * Its one exception is a 303 to a write, which says the write's result is
 * elsewhere and so may follow a write that was made: it keeps its status, and the side-effect layer looks for
 * the item before it acts again, as after any answer it cannot read (PagerDuty's client counts a 3xx so, for
 * the same reason).
 */
function redirectError(req: HttpRequest, res: Response): HttpCallError {
  const reason = statusReason(res.status);
  if (req.echoBody === false && res.status === 303 && req.seeOtherNotDelivered !== undefined) return seeOtherError(req, res, req.seeOtherNotDelivered);
  if (req.echoBody === false) {
    // Before, only a 303 named where it pointed: a 301, 302, 307 or 308 said "the answer is not recorded" and
    // left the operator to find the proxy or sign-on gateway in between on their own.
    const fix = req.redirectFix ? `; ${req.redirectFix}` : '';
    return new HttpCallError(`${req.label}: HTTP ${res.status} (${reason}) to ${redirectTarget(res.headers.get('location'), req.url, OWN_ORIGIN)}${fix}`, null, false, { cause: new EgressDeniedError(reason) });
  }
  const message = `${req.label}: HTTP ${res.status}, redirecting to ${redirectTarget(res.headers.get('location'), req.url)}: redirects are not followed; ${req.redirectFix ?? 'give the address that answers'}`;
  if (res.status === 303 && req.method !== 'GET') return new HttpCallError(message, res.status, false);
  return new HttpCallError(message, null, false, { cause: new EgressDeniedError(reason) });
}

/**
 * The error of a rule-directed call's 303 See Other that is not taken as delivered (`why`): a Slack hook's
 * (Slack never answers a post with 303, so something in between did: a proxy, a sign-on gateway), a webhook's
 * to another origin. It names the status and where the 303 pointed as its origin only (redirectTarget: the
 * Location's path, query and credentials can carry a token, and a Slack hook's new address is a secret), and
 * what to change. Nothing of the post is taken as done (an EgressDeniedError cause, as for any redirect not
 * followed): it fails once, not retried, since the same address meets the same answer, and it is not
 * recorded as maybe delivered.
 */
function seeOtherError(req: HttpRequest, res: Response, why: string): HttpCallError {
  const reason = statusReason(res.status);
  const fix = req.redirectFix ? `; ${req.redirectFix}` : '';
  const message = `${req.label}: HTTP 303 (${reason}) to ${redirectTarget(res.headers.get('location'), req.url, OWN_ORIGIN)}: ${why}${fix}`;
  return new HttpCallError(message, null, false, { cause: new EgressDeniedError(reason) });
}

/**
 * Whether `location` (resolved against `url`) is on `url`'s origin: scheme, host and port. A blank one is no
 * Location: it would resolve to the url itself, and a 303 that names nowhere is not a delivery receipt.
 */
function sameOrigin(location: string | null, url: string): boolean {
  if (location === null || location.trim() === '') return false;
  const to = URL.parse(location.trim(), url);
  const from = URL.parse(url);
  return to !== null && from !== null && (to.protocol === 'http:' || to.protocol === 'https:') && to.origin === from.origin;
}

/** A fixed phrase for a non-2xx status: what an error message may say instead of the answer's body. */
export function statusReason(status: number): string {
  if (status >= 300 && status < 400) return 'redirect, not followed';
  if (status === 408 || status === 429) return 'the receiver asked to retry later';
  if (status >= 400 && status < 500) return 'refused by the receiver';
  if (status >= 500) return 'the receiver failed';
  return 'unexpected status';
}

/** Parses a JSON response body, turning garbage into a non-retryable HttpCallError. */
export function parseJson(res: HttpResponse, label: string): unknown {
  try {
    return JSON.parse(res.text) as unknown;
  } catch {
    throw new HttpCallError(`${label}: response is not JSON`, res.status, false);
  }
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}
