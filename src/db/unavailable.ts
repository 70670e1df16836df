// Postgres out of reach (down, restarting, a connection cut) is our own outage, not the outcome of an
// action. The steps around an external side effect wait for it briefly here instead of failing the
// activity: an action allowed one attempt (a non-idempotent script, `retry: { maximumAttempts: 1 }`) must
// not spend it on the claim or the record failing while the database restarts.
import pRetry from 'p-retry';

/** How long a step before an external effect waits for Postgres to come back, by default. */
export const POSTGRES_WAIT_MS = 15_000;

/** Error codes of a connection that could not be made or was lost (Node) and of Postgres going away (SQLSTATE 08, 57P01–03). */
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const SHUTDOWN_CODES = new Set(['57P01', '57P02', '57P03']);
/** What pg says when the socket closed under a query or a connection could not be had in time. */
const LOST = /Connection terminated|Client has encountered a connection error|not queryable|timeout exceeded when trying to connect/;

/** Whether `err` (or an error it wraps) says Postgres could not be reached, rather than that it refused the statement. */
export function isPostgresUnavailable(err: unknown): boolean {
  let e: unknown = err;
  for (let depth = 0; e && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && (NETWORK_CODES.has(code) || SHUTDOWN_CODES.has(code) || code.startsWith('08'))) return true;
    if (e instanceof Error && LOST.test(e.message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

/**
 * `step()`, tried again while Postgres is unavailable, for at most `maxWaitMs` (default
 * {@link POSTGRES_WAIT_MS}; pauses from 200 ms, doubling, at most 2 s) or until `signal` aborts; any other
 * error, or the last one, is thrown as it is.
 */
export function whilePostgresUnavailable<T>(step: () => Promise<T>, opts: { maxWaitMs?: number; signal?: AbortSignal | undefined } = {}): Promise<T> {
  return pRetry(step, {
    retries: 1_000,
    minTimeout: 200,
    maxTimeout: 2_000,
    factor: 2,
    randomize: false,
    maxRetryTime: opts.maxWaitMs ?? POSTGRES_WAIT_MS,
    shouldRetry: ({ error }) => isPostgresUnavailable(error),
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
}
