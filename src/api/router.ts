// What every route group is built with: an OpenAPIHono router whose validation failures become our
// problem+json (400 naming each field), the bounded JSON reader that runs before validation, the bearer
// guard, and the responses every operation shares. The OpenAPI document is generated from these routes.
import { createRoute, OpenAPIHono, type RouteConfig } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { ruleIssues } from '../domain/rules/index.js';
import type { Actor, Scope } from '../services/actor.js';
import { ValidationError } from '../services/errors.js';
import { requireScope, type AuthLimitSettings, type CallerBudgetSettings } from './auth.js';
import { readBoundedJson } from './body.js';
import type { AppEnv } from './env.js';

import type { z } from '../domain/zod.js';
import { problemSchema } from './schemas/common.js';

export { createRoute };
export { BACKTEST_REQUEST_COST } from './auth.js';

/** A response with a JSON body. */
export const json = (description: string, schema: z.ZodType) => ({ description, content: { 'application/json': { schema } } });
/** A problem+json response. */
export const problemResponse = (description: string) => ({ description, content: { 'application/problem+json': { schema: problemSchema } } });
/** A JSON request body (read bounded, then validated against `schema`). */
export const jsonBody = <T extends z.ZodType>(schema: T) => ({ required: true, content: { 'application/json': { schema } } });

/** Responses any operation may give; having one without content also leaves handlers free to answer a plain Response (redirects, HTML, 204). */
const COMMON_RESPONSES = { 500: { description: 'Unexpected error: problem+json naming the request id (never internals).' } };
const BAD_REQUEST = { 400: problemResponse('Invalid request: `errors` lists each offending field path.') };
const authResponses = (scope: Scope) => ({
  401: problemResponse('Missing, invalid, expired or revoked bearer token.'),
  403: problemResponse(`The token lacks the "${scope}" scope.`),
  429: problemResponse(
    'Too many requests: this address sent too many failed authentications (`limit: failed-authentications`), or this caller (token, session or the bootstrap admin token) ' +
      'spent its request budget, a burst of SELFHEAL_RATE_LIMIT_BURST refilled at SELFHEAL_RATE_LIMIT_PER_SECOND (`limit: caller-budget`); ' +
      '`Retry-After` says when to try again. Nothing was done.',
  ),
});

export interface AuthSettings {
  db: Kysely<Database>;
  adminToken: string | undefined;
  authLimit?: AuthLimitSettings | undefined;
  callerBudget?: CallerBudgetSettings | undefined;
}

interface Access {
  middleware: MiddlewareHandler<AppEnv>[];
  scope?: Scope;
}

export interface BodyOptions {
  /** The operation takes a JSON body: the bounded reader runs before validation. */
  body?: boolean;
  /** The value of an empty body (otherwise 400 "a JSON body is required"). */
  emptyBodyAs?: unknown;
  /** The detail of a body the schema refuses (the fields are in `errors`); default: the fields listed. */
  invalidBody?: string;
}

export interface GuardOptions extends BodyOptions {
  /** What one call costs against the caller's request budget (src/api/auth.ts); default 1. */
  cost?: number;
}

/** A guarded operation: the bearer (or session) check for `scope` and the caller's request budget; with `body`, then the bounded JSON reader. */
export function guard(auth: AuthSettings, scope: Scope, opts: GuardOptions = {}): Access {
  return { middleware: [requireScope(auth, scope, opts.cost), ...(opts.body ? [boundedJson(opts)] : [])], scope };
}

/**
 * An operation whose handler checks `scope` itself, because it must read something first (a form's CSRF
 * token) or answers a refusal its own way (a page a person reads). Documented like a guarded one.
 */
export function checkedInHandler(scope: Scope): Access {
  return { middleware: [], scope };
}

/** A public operation (no token); with `body`, the bounded JSON reader runs before validation. */
export function open(opts: BodyOptions = {}): Access {
  return { middleware: opts.body ? [boundedJson(opts)] : [] };
}

/**
 * One operation: `createRoute` with its access (middleware and security requirement) and the responses
 * every operation shares (400 when it takes input, 401/403/429 when guarded, 500).
 */
export function op<const C extends Omit<RouteConfig, 'middleware' | 'security'>>(access: Access, config: C) {
  const takesInput = Boolean(config.request?.body || config.request?.query);
  return createRoute({
    ...config,
    middleware: access.middleware,
    security: access.scope ? [{ bearer: [access.scope] }] : [],
    ...(access.scope ? { 'x-required-scope': access.scope } : {}),
    responses: { ...(takesInput ? BAD_REQUEST : {}), ...(access.scope ? authResponses(access.scope) : {}), ...COMMON_RESPONSES, ...config.responses },
  });
}

/**
 * Reads the JSON body within the route's limits (src/api/body.ts: depth, string sizes; 400 naming the
 * path), then hands it to the validator as JSON whatever Content-Type the client sent (the API has
 * always read bodies as JSON).
 */
export function boundedJson(opts: BodyOptions = {}): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    const value = await readBoundedJson(c, opts.emptyBodyAs);
    // The text it read (Hono keeps it): the validator parses that again, not a copy written from the value.
    const text = await c.req.text();
    if (opts.invalidBody !== undefined) c.set('invalidBodyDetail', opts.invalidBody);
    const headers = new Headers(c.req.raw.headers);
    headers.set('content-type', 'application/json');
    c.req.raw = new Request(c.req.raw.url, { method: c.req.method, headers });
    // Hono keeps the body it read as promises (typed as the Body methods' results); the validator reads this one.
    c.req.bodyCache = { text: Promise.resolve(text.trim() === '' ? JSON.stringify(value) : text) } as unknown as typeof c.req.bodyCache;
    await next();
  };
}

/** The authenticated caller of a guarded route, for the services. */
export function actorOf(c: Context<AppEnv>): Actor {
  const aliases = c.get('actorAliases');
  return { name: c.get('actor') ?? 'unknown', scopes: c.get('scopes') ?? [], teams: c.get('teamRoles') ?? [], ...(aliases ? { aliases } : {}) };
}

type HookResult = { target: string; success: boolean; error?: z.ZodError; data?: unknown };

/** Validation failures of any route: 400 problem+json with one entry per offending field (unknown fields named at their own path). */
export function validationHook(result: HookResult, c: Context<AppEnv>): void {
  if (result.success || !result.error) return;
  const errors = ruleIssues(result.error, result.data).map((i) => ({ path: i.path || '(body)', message: i.message }));
  if (result.target === 'json') throw new ValidationError(c.get('invalidBodyDetail') ?? `invalid request body: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`, errors);
  throw new ValidationError(`invalid ${result.target === 'query' ? 'query parameters' : result.target === 'param' ? 'path parameters' : `${result.target}s`}`, errors);
}

/** A route group's router. */
export const newRouter = () => new OpenAPIHono<AppEnv>({ defaultHook: validationHook });

/** The bearer settings of an app's deps. */
export const authOf = (deps: { db: Kysely<Database>; config: { adminToken: string | undefined; authLimit: AuthLimitSettings; callerBudget: CallerBudgetSettings } }): AuthSettings => ({
  db: deps.db,
  adminToken: deps.config.adminToken,
  authLimit: deps.config.authLimit,
  callerBudget: deps.config.callerBudget,
});
