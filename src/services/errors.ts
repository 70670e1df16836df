// Typed errors of the service layer. Services throw them; the API's one `onError` (src/api/app.ts) turns
// each into problem+json with its status, title and detail, and any `extra` members (`errors` naming the
// offending fields, `currentVersion`, ...). A `cause` (a dependency's own error, whose text may name hosts,
// addresses or namespaces) is logged there with the request id and never answered.

export interface FieldError {
  /** Dotted path of the offending field (`actions.0.script`), or `(body)`. */
  path: string;
  message: string;
}

export type ErrorExtra = { errors?: FieldError[]; [k: string]: unknown };

export class ServiceError extends Error {
  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly extra: ErrorExtra = {},
    cause?: unknown,
  ) {
    super(detail, cause === undefined ? undefined : { cause });
    this.name = new.target.name;
  }
}

/** 400: the input is wrong; `errors` names each offending field. */
export class ValidationError extends ServiceError {
  constructor(detail: string, errors?: FieldError[], extra: ErrorExtra = {}, cause?: unknown) {
    super(400, 'Bad Request', detail, { ...extra, ...(errors ? { errors } : {}) }, cause);
  }
}

/**
 * 422: the input is well formed but cannot be taken as things stand (a job's selector matching more
 * environments than one run may hold); `errors` names each offending field.
 */
export class UnprocessableError extends ServiceError {
  constructor(detail: string, errors?: FieldError[], extra: ErrorExtra = {}) {
    super(422, 'Unprocessable Content', detail, { ...extra, ...(errors ? { errors } : {}) });
  }
}

export class NotFoundError extends ServiceError {
  constructor(detail: string) {
    super(404, 'Not Found', detail);
  }
}

/** 409: the request clashes with the stored state (a name taken, a stale version, a decision already made). */
export class ConflictError extends ServiceError {
  constructor(detail: string, extra: ErrorExtra = {}) {
    super(409, 'Conflict', detail, extra);
  }
}

/** 403: the actor may not do this. */
export class ForbiddenError extends ServiceError {
  constructor(detail: string, extra: ErrorExtra = {}) {
    super(403, 'Forbidden', detail, extra);
  }
}

/** 428: a conditional request was required (If-Match). */
export class PreconditionRequiredError extends ServiceError {
  constructor(detail: string, extra: ErrorExtra = {}) {
    super(428, 'Precondition Required', detail, extra);
  }
}

/** 503: a dependency (Temporal) is unavailable; nothing was changed. `cause` is logged, not answered. */
export class UnavailableError extends ServiceError {
  constructor(detail: string, cause?: unknown) {
    super(503, 'Service Unavailable', detail, {}, cause);
  }
}

/**
 * 503: a sign-in came while a revocation of sessions or tokens ran longer than it may wait
 * (src/services/tokens.ts duringNoRevocation); nothing was stored. `retryAfterSeconds` for Retry-After.
 */
export class RevocationUnderWayError extends ServiceError {
  readonly retryAfterSeconds: number;
  constructor(waitedMs: number) {
    super(503, 'Service Unavailable', `a revocation of sessions or tokens is under way (waited ${Math.round(waitedMs / 1000)} s): sign in again in a few seconds`);
    this.retryAfterSeconds = Math.max(1, Math.ceil(waitedMs / 1000));
  }
}

/**
 * A dependency's error as the log records it: name, code and message with those of its causes (the Temporal
 * client's "Failed to describe schedule" says what failed only in its cause), bounded, no stack. For the
 * log only: this is the text no API answer may carry.
 */
export function errorForLog(err: unknown): { name?: string; code?: unknown; message: string } {
  const messages: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 4; depth++) {
    messages.push(e instanceof Error ? e.message : String(e));
    e = e instanceof Error ? e.cause : undefined;
  }
  const top = err instanceof Error ? err : undefined;
  const code = (top as { code?: unknown } | undefined)?.code ?? ((top?.cause as { code?: unknown } | undefined)?.code);
  return { ...(top ? { name: top.name } : {}), ...(code !== undefined ? { code } : {}), message: messages.join(': ').slice(0, 2000) };
}

/** Postgres refused a row for a unique index (23505), `index` named or any. */
export const isUniqueViolation = (err: unknown, index?: string): boolean => {
  const e = err as { code?: string; constraint?: string } | null;
  return e?.code === '23505' && (index === undefined || e.constraint === index);
};
