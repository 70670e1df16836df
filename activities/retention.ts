// History retention (issue 21): incident events, rule matches and action runs older than the retention are
// deleted in bounded batches, so a purge never holds long locks or a long transaction; the watermark says
// from when on the history is whole, and the backtest reads it to say what it no longer has. A run still
// going (an action run not finished) is never deleted, nor is its match.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { HISTORY_WATERMARK } from '../src/db/repositories/backtests.js';
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
  deleted: { actionRuns: number; matches: number; events: number; incidents: number };
  /** A table had a full batch: call again. */
  more: boolean;
}

export function createRetentionActivities(deps: RetentionDeps) {
  const now = deps.now ?? (() => new Date());

  /** One batch per table, oldest rows first: action runs, then matches, events, and incidents left with no event. */
  async function purgeHistoryBatch(input: PurgeBatchInput): Promise<PurgeBatchResult> {
    const cutoff = new Date(now().getTime() - input.retentionDays * 86_400_000);
    const n = input.batchSize;
    const deleted = await deps.db.transaction().execute(async (trx) => {
      // The watermark first: from this moment, history before the cutoff is incomplete.
      await trx
        .insertInto('retention_watermarks')
        .values({ name: HISTORY_WATERMARK, purged_before: cutoff, updated_at: new Date() })
        .onConflict((oc) =>
          oc.column('name').doUpdateSet({ purged_before: sql`greatest(retention_watermarks.purged_before, excluded.purged_before)`, updated_at: sql`now()` }),
        )
        .execute();
      const actionRuns = await sql`
        delete from action_runs where id in (
          select id from action_runs
          where incident_id is not null and created_at < ${cutoff} and finished_at is not null
          order by created_at limit ${n})`.execute(trx);
      const matches = await sql`
        delete from rule_matches where id in (
          select m.id from rule_matches m
          where m.matched_at < ${cutoff}
            and not exists (select 1 from action_runs a where a.match_id = m.id)
          order by m.matched_at limit ${n})`.execute(trx);
      const events = await sql`
        delete from incident_events where id in (
          select id from incident_events where received_at < ${cutoff} order by received_at limit ${n})`.execute(trx);
      const incidents = await sql`
        delete from incidents where id in (
          select i.id from incidents i
          where coalesce(i.last_event_at, i.created_at) < ${cutoff}
            and not exists (select 1 from incident_events e where e.incident_id = i.id)
            and not exists (select 1 from rule_matches m where m.incident_id = i.id)
          limit ${n})`.execute(trx);
      return {
        actionRuns: Number(actionRuns.numAffectedRows ?? 0),
        matches: Number(matches.numAffectedRows ?? 0),
        events: Number(events.numAffectedRows ?? 0),
        incidents: Number(incidents.numAffectedRows ?? 0),
      };
    });
    const more = Object.values(deleted).some((d) => d >= n);
    if (Object.values(deleted).some((d) => d > 0)) deps.logger.info({ cutoff: cutoff.toISOString(), ...deleted, more }, 'history purged');
    return { cutoff: cutoff.toISOString(), deleted, more };
  }

  return { purgeHistoryBatch };
}
