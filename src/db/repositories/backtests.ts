// Backtests attached to rule versions (what the author saw before enabling), and the retention watermark
// the backtest reads to say how far back the history goes.
import type { Db } from './db.js';

export async function insertRuleBacktest(db: Db, b: { ruleId: string; version: number; actor: string; from: Date; to: Date; summary: unknown }) {
  return db
    .insertInto('rule_backtests')
    .values({ rule_id: b.ruleId, version: b.version, actor: b.actor, window_from: b.from, window_to: b.to, summary: JSON.stringify(b.summary) })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Newest first. */
export async function listRuleBacktests(db: Db, ruleId: string) {
  return db.selectFrom('rule_backtests').selectAll().where('rule_id', '=', ruleId).orderBy('id', 'desc').limit(200).execute();
}

/** The name of the watermark the history purge keeps (events, matches and runs are purged together). */
export const HISTORY_WATERMARK = 'incident_history';

/** Rows older than this were purged; null when nothing ever was. */
export async function historyPurgedBefore(db: Db): Promise<Date | null> {
  const row = await db.selectFrom('retention_watermarks').select('purged_before').where('name', '=', HISTORY_WATERMARK).executeTakeFirst();
  return row?.purged_before ?? null;
}
