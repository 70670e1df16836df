import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { Hono } from 'hono';
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.js';
import type { Database } from '../db/database.js';
import type { ExtractorsConfig } from '../domain/extract.js';
import type { Logger } from '../logger.js';
import { problem, ProblemError } from './problem.js';
import { sessionResolver, type SessionResolver } from './session.js';
import { withTimeout } from '../timeout.js';

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
}

/** How a webhook delivery ended, set by its handler: counted in /metrics and carried on the request's access-log line. */
export interface WebhookOutcome {
  /** accepted, duplicate, ignored, bad_signature, malformed, too_large, overloaded, temporal_unavailable */
  outcome: string;
  eventId?: string;
  eventType?: string;
  incidentId?: string;
  workflowId?: string;
}

export type AppEnv = { Variables: { requestId: string; logger: Logger; actor?: string; scopes?: string[]; webhook?: WebhookOutcome; resolveSession?: SessionResolver } };

export type RouteFactory = (deps: AppDeps) => Hono<AppEnv>;

/** Build the HTTP app. No globals: tests build one per case with their own deps. */
export function createApp(deps: AppDeps, routes: RouteFactory[] = []): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  // The dashboard's single sign-on session, which requireScope consults when a request has no bearer token.
  const resolveSession = sessionResolver(deps);

  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || randomUUID();
    c.set('requestId', requestId);
    c.set('logger', deps.logger.child({ requestId }));
    c.set('resolveSession', resolveSession);
    c.header('X-Request-Id', requestId);
    await next();
  });

  app.get('/healthz', (c) => c.json({ status: 'ok' }));

  app.get('/readyz', async (c) => {
    const [dbCheck, temporalCheck] = await Promise.all([checkDatabase(deps.db), checkTemporal(deps.temporal)]);
    const checks = { database: dbCheck, temporal: temporalCheck };
    const down = Object.entries(checks).filter(([, v]) => v.status !== 'up');
    if (down.length > 0) {
      return problem(c, 503, 'Service Unavailable', `not ready: ${down.map(([k, v]) => `${k} ${v.error ?? 'unreachable'}`).join('; ')}`, { checks });
    }
    return c.json({ status: 'ready', checks });
  });

  for (const r of routes) app.route('/', r(deps));

  app.notFound((c) => problem(c, 404, 'Not Found', `no route for ${c.req.method} ${c.req.path}`));

  app.onError((err, c) => {
    if (err instanceof ProblemError) return problem(c, err.status, err.title, err.detail, err.extra);
    const status = (err as { status?: number }).status;
    if (typeof status === 'number' && status >= 400 && status < 500) {
      return problem(c, status, 'Bad Request', err.message);
    }
    c.get('logger').error({ err: { name: err.name, message: err.message, stack: err.stack } }, 'unhandled error');
    return problem(c, 500, 'Internal Server Error', `unexpected error; request id ${c.get('requestId')}`);
  });

  return app;
}

async function checkDatabase(db: Kysely<Database>): Promise<{ status: 'up' | 'down'; error?: string }> {
  try {
    await withTimeout(sql`select 1`.execute(db), 3000);
    return { status: 'up' };
  } catch (err) {
    return { status: 'down', error: shortError(err) };
  }
}

async function checkTemporal(client: Client): Promise<{ status: 'up' | 'down'; error?: string }> {
  try {
    await withTimeout(client.workflowService.getSystemInfo({}), 3000);
    return { status: 'up' };
  } catch (err) {
    return { status: 'down', error: shortError(err) };
  }
}

function shortError(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split('\n')[0]!.slice(0, 200);
}
