import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ConflictError, ForbiddenError, NotFoundError, ServiceError, UnavailableError, ValidationError, type ErrorExtra, type FieldError } from '../services/errors.js';

/** RFC 9457 problem details: the one error shape of the API. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [k: string]: unknown;
}

/** A problem of the HTTP layer itself (authentication 401, rate limit 429, ...); services throw src/services/errors.ts. */
export class ProblemError extends ServiceError {
  constructor(status: number, title: string, detail: string, extra: ErrorExtra = {}) {
    super(status, title, detail, extra);
    this.name = 'ProblemError';
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) => new ValidationError(detail, errors);
export const notFound = (detail: string) => new NotFoundError(detail);
export const conflict = (detail: string, extra: ErrorExtra = {}) => new ConflictError(detail, extra);
export const unauthorized = (detail: string) => new ProblemError(401, 'Unauthorized', detail);
export const forbidden = (detail: string) => new ForbiddenError(detail);
export const unavailable = (detail: string) => new UnavailableError(detail);

const typeSlug = (status: number) =>
  ({ 400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 410: 'gone', 413: 'payload-too-large', 415: 'unsupported-media-type', 429: 'too-many-requests', 503: 'unavailable' })[status] ??
  'error';

export function problem(c: Context, status: number, title: string, detail?: string, extra: Record<string, unknown> = {}) {
  // RFC 9457's own members come last: an extension member of the same name never replaces them.
  const body: ProblemBody = {
    ...extra,
    type: `https://selfheal.dev/problems/${typeSlug(status)}`,
    title,
    status,
    ...(detail ? { detail } : {}),
    instance: c.req.path,
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, { 'Content-Type': 'application/problem+json' });
}

/** Turn zod issues into the `errors` list: one entry per offending field path. */
export function issuesToErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  return issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
}
