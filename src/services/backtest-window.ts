// The window of a backtest (asked for, clamped to what retention kept) and the cursor that pins it, so
// every page of a long result is the same backtest.
import { createHash } from 'node:crypto';
import { historyPurgedBefore } from '../db/repositories/backtests.js';
import type { Db } from '../db/repositories/db.js';
import { oldestEventAt } from '../db/repositories/history.js';
import { formatDuration, MAX_WINDOW_SECONDS, parseDuration } from '../domain/backtest/index.js';
import { canonicalJson } from '../domain/json-diff.js';
import { ValidationError } from './errors.js';

export interface WindowInput {
  since?: string | undefined;
  from?: string | undefined;
  to?: string | undefined;
  services?: string[] | undefined;
  environments?: string[] | undefined;
  asLive?: boolean | undefined;
  assumedRunSeconds?: number | undefined;
  maxEvents?: number | undefined;
  timeBudgetSeconds?: number | undefined;
}

export interface Cursor {
  v: 1;
  offset: number;
  from: string;
  to: string;
  hash: string;
}

export const encodeCursor = (c: Cursor) => Buffer.from(JSON.stringify(c)).toString('base64url');

export function decodeCursor(text: string): Cursor {
  try {
    const c = JSON.parse(Buffer.from(text, 'base64url').toString('utf8')) as Cursor;
    // Not signed: a client can write one, so every field is checked as if it came from the request.
    if (c.v === 1 && Number.isSafeInteger(c.offset) && c.offset >= 0 && isInstant(c.from) && isInstant(c.to) && typeof c.hash === 'string') return c;
  } catch {
    // fall through
  }
  throw new ValidationError('the cursor is not one this API gave', [{ path: 'cursor', message: 'not a cursor' }]);
}

/** An ISO 8601 instant as a cursor carries it (what `toISOString` wrote). */
const isInstant = (v: unknown): v is string => typeof v === 'string' && v.length <= 40 && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(v) && Number.isFinite(Date.parse(v));

/** The request without its paging, as a hash: a cursor is only good for the request that made it. */
export function requestHash(input: Record<string, unknown>): string {
  const { cursor: _c, limit: _l, ...rest } = input;
  return createHash('sha256').update(canonicalJson(rest)).digest('base64url').slice(0, 22);
}

export interface ResolvedWindow {
  from: Date;
  to: Date;
  requested: { from: Date; to: Date };
  retention: { days: number; purgedBefore: string | null; oldestEvent: string | null; clamped: boolean; note?: string };
}

/** The window asked for, clamped to what retention kept; a window that only covers purged history is a 400. */
export async function resolveWindow(db: Db, input: WindowInput, retentionDays: number, pinned?: { from: string; to: string }): Promise<ResolvedWindow> {
  if (input.since !== undefined && input.from !== undefined) throw new ValidationError('give since or from, not both', [{ path: 'since', message: 'not with from' }]);
  let to: Date;
  let from: Date;
  if (pinned) {
    from = new Date(pinned.from);
    to = new Date(pinned.to);
  } else {
    to = input.to ? new Date(input.to) : new Date();
    if (input.from) from = new Date(input.from);
    else {
      const seconds = parseDuration(input.since ?? '30d');
      if (seconds === undefined) throw new ValidationError('since must be a duration such as 30d, 12h, 90m or 2w', [{ path: 'since', message: 'not a duration' }]);
      from = new Date(to.getTime() - seconds * 1000);
    }
  }
  if (from.getTime() >= to.getTime()) throw new ValidationError('the window is empty: from must be before to', [{ path: 'from', message: 'not before to' }]);
  if (to.getTime() - from.getTime() > MAX_WINDOW_SECONDS * 1000) {
    throw new ValidationError(`the window is longer than ${MAX_WINDOW_SECONDS / 86_400} days`, [{ path: input.from ? 'from' : 'since', message: `at most ${MAX_WINDOW_SECONDS / 86_400}d` }]);
  }
  const [purgedBefore, oldest] = await Promise.all([historyPurgedBefore(db), oldestEventAt(db)]);
  const retention: ResolvedWindow['retention'] = {
    days: retentionDays,
    purgedBefore: purgedBefore?.toISOString() ?? null,
    oldestEvent: oldest?.toISOString() ?? null,
    clamped: false,
  };
  const requested = { from, to };
  if (purgedBefore && from < purgedBefore) {
    if (to <= purgedBefore) {
      throw new ValidationError(
        `no history in this window: events before ${purgedBefore.toISOString()} were purged (SELFHEAL_RETENTION_DAYS=${retentionDays}); the history goes back to ${purgedBefore.toISOString()}`,
        [{ path: input.from ? 'from' : 'since', message: `the history goes back to ${purgedBefore.toISOString()}` }],
      );
    }
    retention.clamped = true;
    retention.note = `events before ${purgedBefore.toISOString()} were purged (retention ${retentionDays} days): the backtest covers ${purgedBefore.toISOString()} to ${to.toISOString()}, not the ${formatDuration((to.getTime() - from.getTime()) / 1000)} asked for`;
    from = purgedBefore;
  }
  return { from, to, requested, retention };
}
