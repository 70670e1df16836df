// Typed errors of the service layer. Services throw them; the API's one `onError` (src/api/app.ts) turns
// each into problem+json with its status, title and detail, and any `extra` members (`errors` naming the
// offending fields, `currentVersion`, ...).

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
  ) {
    super(detail);
    this.name = new.target.name;
  }
}

/** 400: the input is wrong; `errors` names each offending field. */
export class ValidationError extends ServiceError {
  constructor(detail: string, errors?: FieldError[], extra: ErrorExtra = {}) {
    super(400, 'Bad Request', detail, { ...extra, ...(errors ? { errors } : {}) });
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

/** 503: a dependency (Temporal) is unavailable; nothing was changed. */
export class UnavailableError extends ServiceError {
  constructor(detail: string) {
    super(503, 'Service Unavailable', detail);
  }
}
