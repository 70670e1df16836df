import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import { createMetrics } from '../metrics.js';
import { errorForLog, ServiceError } from '../services/errors.js';
import { withTimeout } from '../timeout.js';
import { KiB, limitBodies, MAX_WEBHOOK_BYTES, MiB, type BodyLimitRule } from './body.js';
import type { AppDeps, AppEnv, RouteFactory } from './env.js';
import { observeRequests } from './observe.js';
import { problem } from './problem.js';
import { validationHook } from './router.js';
import { healthRoutes } from './routes/health.js';
import { sessionResolver } from './session.js';

export type { AppDeps, AppEnv, RouteFactory, WebhookOutcome } from './env.js';
export { MAX_WEBHOOK_BYTES, withTimeout };

/** The approval link's POST: its form (action ≤ 600 characters, token, csrf) or JSON, url-encoded at most a few KiB. */
export const MAX_APPROVAL_LINK_BYTES = 16 * KiB;

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
  // The approval link's form is read before anyone is authenticated (it carries the CSRF token the session
  // check needs): three short fields, or two as JSON. A megabyte of fields was parsed for anyone.
  { path: /^\/approvals\/link$/, maxBytes: MAX_APPROVAL_LINK_BYTES, maxString: MAX_APPROVAL_LINK_BYTES },
];

/** Answers that are no cache's to keep (Cache-Control: no-store unless the route set its own). */
const PRIVATE_PATHS = /^\/(?:api|approvals|auth)(?:\/|$)|^\/ui\/(?:config\.json|convert)$/;

const DOCUMENT_INFO = {
  title: 'Self-healing API',
  version: '0.1.0',
  description: 'Rules that remediate PagerDuty incidents, scheduled jobs, and the PagerDuty webhook. Errors are application/problem+json (RFC 9457).',
};

/**
 * Build the HTTP app. No globals: tests build one per case with their own deps. Its OpenAPI document is
 * generated from the mounted OpenAPIHono routers (every operation they declare, by construction).
 */
export function createApp(deps: AppDeps, routes: RouteFactory[] = []): OpenAPIHono<AppEnv> {
  const app = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
  // The dashboard's single sign-on session, which requireScope consults when a request has no bearer token.
  const resolveSession = sessionResolver(deps);
  const metrics = deps.metrics ?? createMetrics({ db: deps.db, temporal: deps.temporal, namespace: deps.config.temporal.namespace, logger: deps.logger, refreshSeconds: deps.config.metricsRefreshSeconds });
  let document: unknown;
  const openApiDocument = () =>
    (document ??= app.getOpenAPI31Document({
      openapi: '3.1.0',
      info: DOCUMENT_INFO,
      ...(deps.config.publicUrl ? { servers: [{ url: deps.config.publicUrl }] } : {}),
    }));
  const routeDeps: AppDeps = { ...deps, metrics, openApiDocument };

  // Browsers given an https public URL keep to https for a year (no preload: that is the operator's choice).
  const hsts = deps.config.publicUrl?.startsWith('https:') ? 'max-age=31536000' : undefined;
  app.use('*', async (c, next) => {
    const requestId = c.req.header('x-request-id')?.slice(0, 100) || randomUUID();
    c.set('requestId', requestId);
    c.set('logger', deps.logger.child({ requestId }));
    c.set('resolveSession', resolveSession);
    c.header('X-Request-Id', requestId);
    await next();
    // Every answer: never sniffed into a page; and one that is not a page of ours (JSON, problem+json, the
    // metrics text, whose 404 repeats the path asked for) may load, run or frame nothing. The dashboard's and
    // sign-in's pages set their own policy.
    if (!c.res.headers.has('X-Content-Type-Options')) c.header('X-Content-Type-Options', 'nosniff');
    // Not on a 304: its headers update the cached answer's, and the dashboard page revalidated by its ETag
    // (no content type on a 304) would take this policy instead of its own.
    if (c.res.status !== 304 && !c.res.headers.has('Content-Security-Policy') && !(c.res.headers.get('content-type') ?? '').startsWith('text/html')) {
      c.header('Content-Security-Policy', "default-src 'none'; frame-ancestors 'none'");
    }
    // What a caller reads with its credentials (incidents, audit, approval pages, who is signed in) and every
    // problem about it is kept by no cache: not a shared proxy's, which would hand it to the next caller, nor
    // the browser's disk, where it would outlive the sign-out. A route that says otherwise keeps its own.
    if (PRIVATE_PATHS.test(c.req.path) && !c.res.headers.has('Cache-Control')) c.header('Cache-Control', 'no-store');
    if (hsts && !c.res.headers.has('Strict-Transport-Security')) c.header('Strict-Transport-Security', hsts);
  });
  // Access log and request metrics wrap everything after them, 413s included.
  app.use('*', observeRequests(metrics));
  // Every body is bounded while it streams, before any route parses it or checks a signature.
  app.use('*', limitBodies(BODY_LIMIT_RULES));

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'SELFHEAL_ADMIN_TOKEN or a token from POST /api/tokens (scopes: read < write < admin).',
  });
  app.route('/', healthRoutes(routeDeps));
  for (const r of routes) app.route('/', r(routeDeps));

  app.notFound((c) => problem(c, 404, 'Not Found', `no route for ${c.req.method} ${c.req.path}`));

  // The one error mapper: service errors (src/services/errors.ts) and HTTP problems keep their status,
  // title and detail; other 4xx (hono's own) become problem+json; the rest is logged and answered 500.
  app.onError((err, c) => {
    if (err instanceof ServiceError) {
      // What a dependency said (Temporal's text names hosts, addresses, namespaces) is for the log only.
      if (err.cause !== undefined) c.get('logger').warn({ status: err.status, err: errorForLog(err.cause) }, 'request failed on a dependency');
      return problem(c, err.status, err.title, err.detail, err.extra);
    }
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

/** The pool's connect timeout (DATABASE_CONNECT_TIMEOUT_MS) or Postgres' statement timeout (DATABASE_STATEMENT_TIMEOUT_MS) fired. */
function isDatabaseTimeout(err: Error): boolean {
  if ((err as { code?: string }).code === '57014') return true;
  return /timeout exceeded when trying to connect|Connection terminated due to connection timeout/.test(err.message);
}
