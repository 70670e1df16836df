// History retention (issue 21): incident events, rule matches and action runs older than the retention are
// deleted in bounded batches, so a purge never holds long locks or a long transaction; the watermark says
// from when on the history is whole, and the backtest reads it to say what it no longer has. A run still
// going (an action run not finished) is never deleted, nor is its match.
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { purgeHistoryBefore, type PurgedCounts } from '../src/db/repositories/retention.js';
import { inTransaction } from '../src/db/repositories/transactions.js';
import type { Logger } from '../src/logger.js';

export interface RetentionDeps {
  db: Kysely<Database>;
  logger: Logger;
  now?: () => Date;
}

export interface PurgeBatchInput {
  retentionDays: number;
  /** Rows deleted per table per call. */
  batchSize: number;
}

export interface PurgeBatchResult {
  cutoff: string;
  deleted: PurgedCounts;
  /** A table had a full batch: call again. */
  more: boolean;
}

export function createRetentionActivities(deps: RetentionDeps) {
  const now = deps.now ?? (() => new Date());

  /** One batch per table, oldest rows first: action runs, then matches, events, and incidents left with no event. */
  async function purgeHistoryBatch(input: PurgeBatchInput): Promise<PurgeBatchResult> {
    const cutoff = new Date(now().getTime() - input.retentionDays * 86_400_000);
    const n = input.batchSize;
    const deleted = await inTransaction(deps.db, (trx) => purgeHistoryBefore(trx, cutoff, n));
    const more = Object.values(deleted).some((d) => d >= n);
    if (Object.values(deleted).some((d) => d > 0)) deps.logger.info({ cutoff: cutoff.toISOString(), ...deleted, more }, 'history purged');
    return { cutoff: cutoff.toISOString(), deleted, more };
  }

  return { purgeHistoryBatch };
}
