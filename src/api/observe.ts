// The access log (one line per request) and the request metrics, as one middleware.
import type { Context, MiddlewareHandler } from 'hono';
import type { Metrics } from '../metrics.js';
import type { AppEnv } from './env.js';

/** The route pattern that answered (bounded label values), not the raw path. */
function routeOf(c: Context<AppEnv>): string {
  const handlers = c.req.matchedRoutes.filter((r) => r.method !== 'ALL');
  return handlers[handlers.length - 1]?.path ?? 'unmatched';
}

const QUIET = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * Request headers the access log writes with their values: what tells who called, through which proxies, with
 * what body, and which delivery it was. Any other header is written by name only, its value `[redacted]`:
 * a credential header a client or proxy adds (Proxy-Authorization, X-Forwarded-Access-Token, a vendor's own)
 * never reaches the log, where a list of headers to redact missed each one it did not name. Referer is not
 * among them: its query may carry an approval link's token. Cookies are not logged at all.
 */
const LOGGED_HEADERS = new Set([
  'accept',
  'content-encoding',
  'content-length',
  'content-type',
  'forwarded',
  'host',
  'origin',
  'traceparent',
  'user-agent',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-real-ip',
  'x-request-id',
  'x-webhook-id',
  'x-webhook-subscription',
]);

/** The request's headers as the access log writes them (see LOGGED_HEADERS). */
function loggedHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name === 'cookie') continue;
    out[name] = LOGGED_HEADERS.has(name) ? value : '[redacted]';
  }
  return out;
}

/**
 * The access log (one line per request) and request metrics, as middleware. createApp installs it before
 * the body limits and every route, so 413s and 404s are counted and logged too.
 */
export function observeRequests(metrics: Metrics): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routeOf(c);
    const status = c.res.status;
    metrics.httpRequest(c.req.method, route, status, seconds);
    // The webhook handler (or the body limit) records how each delivery ended; an answer neither gave
    // (an unexpected error) counts by its status.
    const webhook = c.req.method === 'POST' && c.req.path === '/webhooks/pagerduty' ? (c.get('webhook') ?? { outcome: `status_${status}` }) : undefined;
    if (webhook) metrics.webhook(webhook.outcome);

    // Access log, one line per request; a webhook's line names its event, incident and workflow.
    const headers = loggedHeaders(c.req.header());
    const entry = { req: { method: c.req.method, path: c.req.path, route, headers }, status, durationMs: Math.round(seconds * 1000), ...webhook };
    const log = c.get('logger');
    if (QUIET.has(c.req.path) || c.req.path.startsWith('/ui/')) log.debug(entry, 'request');
    else if (status >= 500) log.error(entry, 'request');
    else log.info(entry, 'request');
  };
}
