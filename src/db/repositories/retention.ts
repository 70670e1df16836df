// The history purge (issue 21): one bounded batch per table, oldest rows first, with the watermark that
// says from when on the history is whole. Run it in a transaction (the watermark and the deletes together).
import { sql, type Transaction } from 'kysely';
import type { Database } from '../database.js';
import { HISTORY_WATERMARK } from './backtests.js';

export interface PurgedCounts {
  actionRuns: number;
  matches: number;
  events: number;
  incidents: number;
  /** Guard bookkeeping (issue 22): remediations the windows counted, sent pages and notes. */
  remediations: number;
  alerts: number;
  /** Approval links past their expiry. */
  approvalLinks: number;
  /** Finished job runs with their per-target results. */
  jobRuns: number;
  /** Side-effect records (an action's or a notice's once-only ledger) and the PagerDuty writes log. */
  sideEffects: number;
  pagerDutyWrites: number;
}

/** Guard windows reach back at most 7 days: their rows are kept at least this long whatever the retention. */
const GUARD_BOOKKEEPING_DAYS = 8;

/**
 * Deletes at most `n` rows per table older than `cutoff`: finished action runs, then matches with no
 * action run left, events, and incidents left with no event and no match; finished job runs; and the
 * bookkeeping (guards, side effects, PagerDuty writes) past both the cutoff and the guards' week. A run
 * still going is never deleted, nor is its match.
 */
export async function purgeHistoryBefore(trx: Transaction<Database>, cutoff: Date, n: number): Promise<PurgedCounts> {
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
  const keepFrom = new Date(Math.min(cutoff.getTime(), Date.now() - GUARD_BOOKKEEPING_DAYS * 86_400_000));
  const remediations = await sql`
    delete from remediations where id in (
      select id from remediations where at < ${keepFrom} order by at limit ${n})`.execute(trx);
  // A page not sent yet is kept: it is still owed.
  const alerts = await sql`
    delete from automation_alerts where id in (
      select id from automation_alerts where sent_at is not null and created_at < ${keepFrom} order by created_at limit ${n})`.execute(trx);
  const approvalLinks = await sql`
    delete from approval_links where id in (
      select id from approval_links where expires_at < ${cutoff} order by expires_at limit ${n})`.execute(trx);
  // Job runs finished before the cutoff, with their per-target results (one statement).
  const jobRuns = await sql`
    with batch as (
      select id from job_runs where finished_at is not null and started_at < ${cutoff} order by started_at, id limit ${n}),
    results as (delete from job_target_results where job_run_id in (select id from batch))
    delete from job_runs where id in (select id from batch)`.execute(trx);
  // The once-only ledgers outlive every retry of what they guard (a day at most) and the echo windows of the
  // PagerDuty writes (minutes; a verification's own-resolve check, hours): kept at least the guards' week.
  const sideEffects = await sql`
    delete from side_effects where key in (
      select key from side_effects
      where updated_at < ${keepFrom} and (in_flight_until is null or in_flight_until < now())
      order by updated_at limit ${n})`.execute(trx);
  const pagerDutyWrites = await sql`
    delete from pagerduty_writes where id in (
      select id from pagerduty_writes where started_at < ${keepFrom} order by started_at limit ${n})`.execute(trx);
  return {
    jobRuns: Number(jobRuns.numAffectedRows ?? 0),
    sideEffects: Number(sideEffects.numAffectedRows ?? 0),
    pagerDutyWrites: Number(pagerDutyWrites.numAffectedRows ?? 0),
    remediations: Number(remediations.numAffectedRows ?? 0),
    alerts: Number(alerts.numAffectedRows ?? 0),
    approvalLinks: Number(approvalLinks.numAffectedRows ?? 0),
    actionRuns: Number(actionRuns.numAffectedRows ?? 0),
    matches: Number(matches.numAffectedRows ?? 0),
    events: Number(events.numAffectedRows ?? 0),
    incidents: Number(incidents.numAffectedRows ?? 0),
  };
}
