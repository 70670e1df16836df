// Backtests attached to rule versions (what the author saw before enabling), and the retention watermark
// the backtest reads to say how far back the history goes.
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
 * kept by Postgres as each summary was stored: no summary is read to be measured.
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

/**
 * A page of the rule's backtests, newest first, after the one whose id is `before` (when given): `limit`
 * at most and no more than `maxBytes` of summaries as stored (one at least), measured before any is read.
 * `last`: the id of the page's last backtest when more follow, else null.
 */
export async function listRuleBacktestPage(db: Db, ruleId: string, page: { before?: string | undefined; limit: number; maxBytes: number }) {
  const sizes = await measureRuleBacktests(db, ruleId, page);
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { rows: [], last: null };
  const ids = sizes.slice(0, taken).map((s) => s.id);
  const rows = await db
    .selectFrom('rule_backtests')
    .select(['id', 'rule_id', 'version', 'actor', 'window_from', 'window_to', 'summary', 'created_at'])
    .where('rule_id', '=', ruleId)
    .where('id', 'in', ids)
    .orderBy('id', 'desc')
    .execute();
  return { rows, last: sizes.length > taken ? String(sizes[taken - 1]!.id) : null };
}

/** The name of the watermark the history purge keeps (events, matches and runs are purged together). */
export const HISTORY_WATERMARK = 'incident_history';

/** Rows older than this were purged; null when nothing ever was. */
export async function historyPurgedBefore(db: Db): Promise<Date | null> {
  const row = await db.selectFrom('retention_watermarks').select('purged_before').where('name', '=', HISTORY_WATERMARK).executeTakeFirst();
  return row?.purged_before ?? null;
}
