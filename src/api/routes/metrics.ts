import { z } from '../../domain/zod.js';
import { createMetrics } from '../../metrics.js';
import { checkMetricsToken } from '../auth.js';
import type { AppDeps } from '../env.js';
import { newRouter, op, open, problemResponse } from '../router.js';

/**
 * GET /metrics. It renders the series the process holds: database-backed ones come from a cache that
 * one background refresh at a time keeps fresh (src/metrics.ts), so a scrape never waits on Postgres.
 */
export function metricsRoutes(deps: AppDeps) {
  const app = newRouter();
  const metrics = deps.metrics ?? createMetrics({ db: deps.db, temporal: deps.temporal, namespace: deps.config.temporal.namespace, logger: deps.logger, refreshSeconds: deps.config.metricsRefreshSeconds });

  const route = op(open(), {
    method: 'get',
    path: '/metrics',
    tags: ['operations'],
    summary: 'Prometheus metrics (Authorization: Bearer <METRICS_TOKEN> when that is set)',
    responses: {
      200: { description: 'Prometheus text format.', content: { 'text/plain': { schema: z.string() } } },
      401: problemResponse('METRICS_TOKEN is set and the request does not carry it.'),
      429: problemResponse('Too many failed authentications from this address; `Retry-After` says when to try again.'),
    },
  });

  app.openapi(route, async (c) => {
    // With METRICS_TOKEN set, a scraper must send it (Prometheus: `authorization: { credentials: … }`).
    checkMetricsToken(c, { db: deps.db, token: deps.config.metricsToken, authLimit: deps.config.authLimit });
    const text = await metrics.render();
    return c.body(text, 200, { 'content-type': metrics.contentType, 'cache-control': 'no-store' });
  });

  return app;
}
