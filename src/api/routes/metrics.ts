import { Hono, type Context } from 'hono';
import { createMetrics, type Metrics } from '../../metrics.js';
import type { AppDeps, AppEnv } from '../app.js';
import { checkMetricsToken } from '../auth.js';

/** The route pattern that answered (bounded label values), not the raw path. */
function routeOf(c: Context<AppEnv>): string {
  const handlers = c.req.matchedRoutes.filter((r) => r.method !== 'ALL');
  return handlers[handlers.length - 1]?.path ?? 'unmatched';
}

const QUIET = new Set(['/metrics', '/healthz', '/readyz']);

/**
 * GET /metrics, plus the middleware that counts webhooks and logs each request. Mounted first (see
 * routes/index.ts) so its middleware wraps every later route group.
 */
export function metricsRoutes(deps: AppDeps & { metrics?: Metrics }) {
  const app = new Hono<AppEnv>();
  const metrics = deps.metrics ?? createMetrics({ db: deps.db, temporal: deps.temporal, namespace: deps.config.temporal.namespace, logger: deps.logger });

  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    const route = routeOf(c);
    const status = c.res.status;
    metrics.httpRequest(c.req.method, route, status, seconds);
    // The webhook handler records how each delivery ended; an answer it did not give (an unexpected
    // error) counts by its status.
    const webhook = c.req.method === 'POST' && c.req.path === '/webhooks/pagerduty' ? (c.get('webhook') ?? { outcome: `status_${status}` }) : undefined;
    if (webhook) metrics.webhook(webhook.outcome);

    // Access log, one line per request; a webhook's line names its event, incident and workflow. Headers
    // go through the logger's redaction (authorization, x-pagerduty-signature); cookies are never logged.
    const { cookie: _cookie, ...headers } = c.req.header();
    const entry = { req: { method: c.req.method, path: c.req.path, route, headers }, status, durationMs: Math.round(seconds * 1000), ...webhook };
    const log = c.get('logger');
    if (QUIET.has(c.req.path) || c.req.path.startsWith('/ui/')) log.debug(entry, 'request');
    else if (status >= 500) log.error(entry, 'request');
    else log.info(entry, 'request');
  });

  app.get('/metrics', async (c) => {
    // With METRICS_TOKEN set, a scraper must send it (Prometheus: `authorization: { credentials: … }`).
    checkMetricsToken(c, { db: deps.db, token: deps.config.metricsToken, authLimit: deps.config.authLimit });
    const text = await metrics.render();
    return c.body(text, 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  });

  return app;
}
