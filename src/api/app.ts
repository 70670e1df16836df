import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { ExtractorsConfig } from '../domain/extract.js';
import type { Logger } from '../logger.js';
import { createMetrics, type Metrics } from '../metrics.js';
import { withTimeout } from '../timeout.js';
import { KiB, limitBodies, MiB, type BodyLimitRule, type BodyLimits } from './body.js';
import { problem, ProblemError } from './problem.js';
import { observeRequests } from './routes/metrics.js';
import { sessionResolver, type SessionResolver } from './session.js';

export { withTimeout };

export interface AppDeps {
  config: Config;
  db: Kysely<Database>;
  /** The Temporal client; created lazily so the API answers (503) while Temporal is down. */
  temporal: Client;
  logger: Logger;
  /** The Temporal address actually used (may come from an embedded dev server). */
  temporalUiUrl?: string;
  /** Environment extractors (SELFHEAL_EXTRACTORS_FILE), for rule tests that extract like the worker. */
  extractors?: ExtractorsConfig;
  /** The process's metrics; createApp makes them when not given and hands them to every route group. */
  metrics?: Metrics;
}

/** How a webhook delivery ended, set by its handler: counted in /metrics and carried on the request's access-log line. */
export interface WebhookOutcome {
  /** accepted, duplicate, ignored, bad_signature, malformed, too_large, not_configured, overloaded, temporal_unavailable */
  outcome: string;
  eventId?: string;
  eventType?: string;
  incidentId?: string;
  workflowId?: string;
}

export type AppEnv = {
  Variables: { requestId: string; logger: Logger; actor?: string; scopes?: string[]; webhook?: WebhookOutcome; bodyLimits?: BodyLimits; resolveSession?: SessionResolver; csrfFormToken?: string };
};

/** The PagerDuty webhook's byte limit: PagerDuty's deliveries are a few KiB. */
export const MAX_WEBHOOK_BYTES = 256 * KiB;

/**
 * Byte and JSON string limits per route (src/api/body.ts); every other route gets 1 MiB and 64 KiB strings.
 * Rule tests and validation carry a whole PagerDuty payload with up to 100 alerts, hence more.
 */
export const BODY_LIMIT_RULES: readonly BodyLimitRule[] = [
  {
    path: /^\/webhooks\/pagerduty$/,
    maxBytes: MAX_WEBHOOK_BYTES,
    maxString: MAX_WEBHOOK_BYTES,
    onTooLarge: (c) => c.set('webhook', { outcome: 'too_large' }),
  },
  { path: /^\/api\/rules\/(?:test|validate|[^/]+\/test)$/, maxBytes: 4 * MiB, maxString: 256 * KiB },
];

export type RouteFactory = (deps: AppDeps) => Hono<AppEnv>;

/** Build the HTTP app. No globals: tests build one per case with their own deps. */
export function createApp(deps: AppDeps, routes: RouteFactory[] = []): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // The dashboard's single sign-on session, which requireScope consults when a request has no bearer token.
  const resolveSession = sessionResolver(deps);
  const metrics = deps.metrics ?? createMetrics({ db: deps.db, temporal: deps.temporal, namespace: deps.config.temporal.namespace, logger: deps.logger, refreshSeconds: deps.config.metricsRefreshSeconds });
  const routeDeps: AppDeps = { ...deps, metrics };

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || randomUUID();
    c.set('requestId', requestId);
    c.set('logger', deps.logger.child({ requestId }));
    c.set('resolveSession', resolveSession);
    c.header('X-Request-Id', requestId);
    await next();
  });
  // Access log and request metrics wrap everything after them, 413s included.
  app.use('*', observeRequests(metrics));
  // Every body is bounded while it streams, before any route parses it or checks a signature.
  app.use('*', limitBodies(BODY_LIMIT_RULES));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  // Which dependency is down, never its error text (it can name hosts, users and ports).
  app.get('/readyz', async (c) => {
    const log = c.get('logger');
    const [database, temporal] = await Promise.all([
      reachable('database', sql`select 1`.execute(deps.db), log),
      reachable('temporal', deps.temporal.workflowService.getSystemInfo({}), log),
    ]);
    const checks = { database: { status: database }, temporal: { status: temporal } };
    const down = Object.entries(checks).filter(([, v]) => v.status !== 'up');
    if (down.length > 0) {
      return problem(c, 503, 'Service Unavailable', `not ready: ${down.map(([k]) => `${k} unreachable`).join('; ')}`, { checks });
    }
    return c.json({ status: 'ready', checks });
  });

  for (const r of routes) app.route('/', r(routeDeps));

  app.notFound((c) => problem(c, 404, 'Not Found', `no route for ${c.req.method} ${c.req.path}`));

  app.onError((err, c) => {
    if (err instanceof ProblemError) return problem(c, err.status, err.title, err.detail, err.extra);
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problem(c, status, 'Bad Request', err.message);
    }
    if (isDatabaseTimeout(err)) {
      c.get('logger').warn({ err: { message: err.message } }, 'database timeout');
      c.header('Retry-After', '5');
      return problem(c, 503, 'Service Unavailable', 'the database did not answer in time; retry later');
    }
    c.get('logger').error({ err: { name: err.name, message: err.message, stack: err.stack } }, 'unhandled error');
    return problem(c, 500, 'Internal Server Error', `unexpected error; request id ${c.get('requestId')}`);
  });

  return app;
}

/** up when the probe answers within 3 s. Why it failed goes to the log, never into the answer. */
async function reachable(dependency: string, probe: Promise<unknown>, log: Logger): Promise<'up' | 'down'> {
  try {
    await withTimeout(probe, 3000);
    return 'up';
  } catch (err) {
    log.warn({ dependency, err: { message: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300) } }, 'readiness check failed');
    return 'down';
  }
}

/** The pool's connect timeout (DATABASE_CONNECT_TIMEOUT_MS) or Postgres' statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) fired. */
function isDatabaseTimeout(err: Error): boolean {
  if ((err as { code?: string }).code === '57014') return true;
  return /timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(err.message);
}
