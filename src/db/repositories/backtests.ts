// Backtests attached to rule versions (what the author saw before enabling), and the retention watermark
// the backtest reads to say how far back the history goes.
import { sql } from 'kysely';
import { MAX_LISTED_SUMMARY_BYTES, RECAP_PATHS, RECAP_VALUE_BYTES } from '../../domain/backtest/index.js';
import { rowsWithin } from '../../domain/pages.js';
import type { Db } from './db.js';

export async function insertRuleBacktest(db: Db, b: { ruleId: string; version: number; actor: string; from: Date; to: Date; summary: unknown }) {
  return db
    .insertInto('rule_backtests')
    .values({ rule_id: b.ruleId, version: b.version, actor: b.actor, window_from: b.from, window_to: b.to, summary: JSON.stringify(b.summary) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * The sizes of the rule's backtests a page would take, newest first, after the one whose id is `before`
 * (when given): `limit` of them and one more (to tell whether more follow). The bytes are summary_bytes,
 * kept by Postgres as each summary was stored (no summary is read to be measured), for a summary listed as
 * its recap too: Postgres unpacks all of it to take the recap, so a page bounded by these bytes makes it
 * unpack that many at most (and its first summary, whatever its size).
 */
export async function measureRuleBacktests(db: Db, ruleId: string, page: { before?: string | undefined; limit: number }) {
  return db
    .selectFrom('rule_backtests')
    .select(['id', 'summary_bytes as bytes'])
    .where('rule_id', '=', ruleId)
    .$if(page.before !== undefined, (q) => q.where('id', '<', page.before!))
    .orderBy('id', 'desc')
    .limit(page.limit + 1)
    .execute();
}

export interface ListedBacktestRow {
  id: string;
  rule_id: string;
  version: number;
  actor: string;
  window_from: Date;
  window_to: Date;
  created_at: Date;
  summary_bytes: number | null;
  /** The summary as stored when it is at most MAX_LISTED_SUMMARY_BYTES, else null (see `recap`). */
  summary: unknown;
  /** For a larger summary (or one of unknown size): the values RECAP_PATHS name, in order, each null when absent or over RECAP_VALUE_BYTES. */
  recap: unknown[] | null;
}

/**
 * A page of the rule's backtests, newest first, after the one whose id is `before` (when given): `limit`
 * at most and no more than `maxBytes` of summaries as stored (one at least), measured before any is read.
 * A summary over MAX_LISTED_SUMMARY_BYTES (one stored before the bounds) never leaves Postgres: its recap
 * does, the few values RECAP_PATHS name, each of RECAP_VALUE_BYTES at most. Postgres unpacks such a
 * summary once (`#> '{}'` in a subquery kept by `offset 0`), not once for each value taken from it, and it
 * counts at its size as stored: a page of `maxBytes` (twice MAX_LISTED_SUMMARY_BYTES at most) holds one.
 * `last`: the id of the page's last backtest when more follow, else null.
 */
export async function listRuleBacktestPage(db: Db, ruleId: string, page: { before?: string | undefined; limit: number; maxBytes: number }) {
  const sizes = await measureRuleBacktests(db, ruleId, page);
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { rows: [], last: null };
  const ids = sizes.slice(0, taken).map((s) => String(s.id));
  const whole = sql<boolean>`b.summary_bytes <= ${MAX_LISTED_SUMMARY_BYTES}`;
  const recap = sql.join(RECAP_PATHS.map((path) => sql`case when pg_column_size(o.s #> ${path}::text[]) <= ${RECAP_VALUE_BYTES} then o.s #> ${path}::text[] end`));
  const { rows } = await sql<ListedBacktestRow>`
    select b.id, b.rule_id, b.version, b.actor, b.window_from, b.window_to, b.created_at, b.summary_bytes,
      case when ${whole} then b.summary end as summary,
      case when o.s is not null then jsonb_build_array(${recap}) end as recap
    from rule_backtests b
    cross join lateral (select case when ${whole} then null else b.summary #> '{}' end as s offset 0) o
    where b.rule_id = ${ruleId} and b.id = any(${ids}::bigint[])
    order by b.id desc`.execute(db);
  return { rows, last: sizes.length > taken ? String(sizes[taken - 1]!.id) : null };
}

/** The name of the watermark the history purge keeps (events, matches and runs are purged together). */
export const HISTORY_WATERMARK = 'incident_history';

/** Rows older than this were purged; null when nothing ever was. */
export async function historyPurgedBefore(db: Db): Promise<Date | null> {
  const row = await db.selectFrom('retention_watermarks').select('purged_before').where('name', '=', HISTORY_WATERMARK).executeTakeFirst();
  return row?.purged_before ?? null;
}
