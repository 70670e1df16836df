import type { Context } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** RFC 9457 problem details: the one error shape of the API. */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: { path: string; message: string }[];
  [k: string]: unknown;
}

export class ProblemError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail?: string,
    readonly extra: { errors?: { path: string; message: string }[]; [k: string]: unknown } = {},
  ) {
    super(detail ?? title);
    this.name = 'ProblemError';
  }
}

export const badRequest = (detail: string, errors?: { path: string; message: string }[]) =>
  new ProblemError(400, 'Bad Request', detail, errors ? { errors } : {});
export const notFound = (detail: string) => new ProblemError(404, 'Not Found', detail);
export const conflict = (detail: string, extra: Record<string, unknown> = {}) => new ProblemError(409, 'Conflict', detail, extra);
export const unauthorized = (detail: string) => new ProblemError(401, 'Unauthorized', detail);
export const forbidden = (detail: string) => new ProblemError(403, 'Forbidden', detail);
export const unavailable = (detail: string) => new ProblemError(503, 'Service Unavailable', detail);

const typeSlug = (status: number) =>
  ({ 400: 'bad-request', 401: 'unauthorized', 403: 'forbidden', 404: 'not-found', 409: 'conflict', 410: 'gone', 413: 'payload-too-large', 415: 'unsupported-media-type', 429: 'too-many-requests', 503: 'unavailable' })[status] ??
  'error';

export function problem(c: Context, status: number, title: string, detail?: string, extra: Record<string, unknown> = {}) {
  const body: ProblemBody = {
    type: `https://selfheal.dev/problems/${typeSlug(status)}`,
    title,
    status,
    ...(detail ? { detail } : {}),
    instance: c.req.path,
    ...extra,
  };
  return c.body(JSON.stringify(body), status as ContentfulStatusCode, { 'Content-Type': 'application/problem+json' });
}

/** Turn zod issues into the `errors` list: one entry per offending field path. */
export function issuesToErrors(issues: readonly { path: readonly PropertyKey[]; message: string }[]) {
  return issues.map((i) => ({ path: i.path.map(String).join('.') || '(body)', message: i.message }));
}
