// One caller's share of a per-process line (the statistics answers' and the YAML conversions' turns,
// src/domain/turns.ts): a token or session without the admin scope holds at most all of the line's places
// but one (one at least), so one reader's burst cannot fill the line and leave every other caller a 503 for
// as long as it keeps sending. Admins, who can revoke any token, are held by the line only. The same rule
// as the backtests' slots (src/api/routes/backtest.ts).
import type { Context } from 'hono';
import { hasScope } from './auth.js';
import type { AppEnv } from './env.js';

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

/** Whom a share counts the request against: its caller (`token:<id>`, `session:<id>`), undefined for an admin. */
export function shareCallerOf(c: Context<AppEnv>): string | undefined {
  return hasScope(c.get('scopes') ?? [], 'admin') ? undefined : c.get('caller');
}
