// Reading an HTTP answer's body with a bound: undici's `text()` reads whatever the peer sends. One reader for
// the three HTTP clients (the CLI's, the PagerDuty REST client, the action executors'); it sits at the top
// of src, outside every layer, because the CLI and src/pagerduty may not import src/executors. It does no
// I/O of its own beyond consuming the stream it is given. redirectTarget is here for the same reason: the
// executors and the PagerDuty client both name a redirect's target without its secrets, and askedPauseMs: both
// read the pause a refusal asks for.

/**
 * Reads at most `maxBytes` of a response body, then cancels the rest (the connection is dropped, the
 * peer stops sending). `truncated` says the body was longer than that; callers that want all or nothing
 * refuse the answer then.
 */
export async function readBodyCapped(res: Response, maxBytes: number): Promise<{ text: string; truncated: boolean }> {
  if (!res.body) return { text: '', truncated: false };
  const reader = res.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > maxBytes) {
      chunks.push(value.subarray(0, maxBytes - size));
      await reader.cancel().catch(() => undefined);
      return { text: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { text: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/**
 * Where a Location points, quoted, as its origin only (scheme, host and port, resolved against the request's
 * URL), saying when more was withheld: never its path, query, fragment or user part, any of which can carry a
 * secret (a Slack hook's `/services/T…/B…/<secret>`, a token in a path segment, a sign-on page's return
 * ticket). The executors' errors and PagerDuty's client use it; their messages are kept in action runs, API
 * answers, logs and PagerDuty notes. With `own` (words such as "its own origin" and "its own host"), a
 * Location on the origin of `base` is named by the first, and one on its host with another scheme or port
 * (an http → https upgrade, another port of the same relay) by the second and that scheme and port: the
 * host of `base` is never spelled out.
 */
export function redirectTarget(location: string | null, base: string, own?: { origin: string; host: string }): string {
  if (location === null || location.trim() === '') return '(no Location)';
  const url = URL.parse(location.trim(), base);
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') return '(a Location that is not an http or https URL)';
  const origin = url.origin.length > 200 ? `${url.origin.slice(0, 200)}…` : url.origin;
  const withheld = url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '';
  // A caller whose own address is a secret (a Slack hook) names a Location on that host in words instead.
  const from = own === undefined ? null : URL.parse(base);
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  // `relay.internal.` is `relay.internal` (DNS's root dot): the same host, not to be spelled out.
  const host = (u: URL) => u.hostname.replace(/\.$/, '');
  const named = from && url.origin === from.origin ? own!.origin : from && host(url) === host(from) ? `${own!.host} (${url.protocol.slice(0, -1)}, port ${port})` : `"${origin}"`;
  return `${named}${withheld ? ' (path withheld)' : ''}`;
}

/**
 * How long an answer asks the caller to wait before sending the same request again, in milliseconds, or
 * undefined when it asks nothing (or nothing readable). Its `Retry-After`, in seconds or as an HTTP date
 * (PagerDuty, Slack and Jira Cloud answer 429 with it; GitHub's secondary rate limits too, as 403 or 429);
 * without one, when `x-ratelimit-remaining` is 0, until `x-ratelimit-reset` (GitHub's primary rate limit:
 * the UTC epoch second the limit resets; an HTTP or ISO date is read too). A time already past asks for 0.
 * Not bounded here: the callers cap what they wait (activities/side-effects.ts).
 */
export function askedPauseMs(headers: Headers, now = Date.now()): number | undefined {
  const after = headers.get('retry-after')?.trim();
  if (after) {
    if (/^\d+(\.\d+)?$/.test(after)) return Number(after) * 1000;
    // An HTTP date names its day and month in letters; anything else (`-5`, `soon`) asks nothing readable.
    const at = /[a-z]/i.test(after) ? Date.parse(after) : NaN;
    return Number.isNaN(at) ? undefined : Math.max(0, at - now);
  }
  if (headers.get('x-ratelimit-remaining')?.trim() !== '0') return undefined;
  const reset = headers.get('x-ratelimit-reset')?.trim();
  if (!reset) return undefined;
  const at = /^\d+$/.test(reset) ? Number(reset) * 1000 : Date.parse(reset);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
