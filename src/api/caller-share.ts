// One caller's share of a per-process line (the statistics answers' and the YAML conversions' turns,
// src/domain/turns.ts): a token, or a user's dashboard sessions together, without the admin scope hold at
// most all of the line's places but one (one at least), so one reader's burst cannot fill the line and leave
// every other caller a 503 for as long as it keeps sending. Admins, who can revoke any token, are held by the line only. The same rule
// as the backtests' slots (src/api/routes/backtest.ts).
import type { Context } from 'hono';
import { hasScope } from './auth.js';
import type { AppEnv } from './env.js';
import { ProblemError } from './problem.js';

export interface CallerShare {
  /** Places (running and waiting) one caller without the admin scope may hold. */
  readonly perCaller: number;
  /** Takes one of `caller`'s places: false when it holds its share already; an undefined caller always gets one. */
  take(caller: string | undefined): boolean;
  /** Gives back a place `take` gave. */
  release(caller: string | undefined): void;
}

export function createCallerShare(places: number): CallerShare {
  const perCaller = Math.max(1, places - 1);
  const held = new Map<string, number>();
  return {
    perCaller,
    take(caller) {
      if (caller === undefined) return true;
      const own = held.get(caller) ?? 0;
      if (own >= perCaller) return false;
      held.set(caller, own + 1);
      return true;
    },
    release(caller) {
      if (caller === undefined) return;
      const left = (held.get(caller) ?? 1) - 1;
      if (left > 0) held.set(caller, left);
      else held.delete(caller);
    },
  };
}

/**
 * Whom a share counts the request against: its token (`token:<id>`), or a session's user (`user-sessions:<sub>`:
 * all the sessions of one user, who starts another with every sign-in); undefined for an admin.
 */
export function shareCallerOf(c: Context<AppEnv>): string | undefined {
  return hasScope(c.get('scopes') ?? [], 'admin') ? undefined : c.get('principal');
}

/** What a line's refusal of a caller past its share says (see {@link shareRefusal}). */
export interface ShareLine {
  /** The body's `limit`: names the line. */
  readonly limit: string;
  /** Retry-After, in seconds. */
  readonly retryAfterSeconds: number;
  /** What the caller holds, after "this caller already ": `holds 4 of the 5 places of the statistics line (computing and waiting)`. */
  readonly holds: string;
  /** How many places one caller may hold, said of the line (default `all but one`). */
  readonly share?: string;
  /** What the caller may do now, after the semicolon: `try again in a few seconds`. */
  readonly next: string;
  /** More members of the body, before `perCaller`. */
  readonly extra?: Record<string, unknown>;
}

/**
 * The 503 that turns away a caller holding its share of a line already (`perCaller` places), with its
 * Retry-After set on `c`: the statistics, the conversions and the backtests answer it alike (one status,
 * title, sentence and `perCaller` member), so a client reads one shape whichever line refused it.
 */
export function shareRefusal(c: Context, perCaller: number, line: ShareLine): ProblemError {
  c.header('Retry-After', String(line.retryAfterSeconds));
  return new ProblemError(503, 'Service Unavailable', `this caller already ${line.holds}, as many as one caller may (${line.share ?? 'all but one'}, one at least); ${line.next}`, {
    limit: line.limit,
    ...line.extra,
    perCaller,
  });
}
