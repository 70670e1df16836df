// The history purge (issue 21): one bounded batch per table, oldest rows first, with the watermark that
// says from when on the history is whole. Run it in a transaction (the watermark and the deletes together).
// The Prometheus counters count these rows: each delete adds what its rows counted to the metric offsets in the
// same statement (metrics.ts), so a purge never lowers a counter.
import { sql, type Transaction } from 'kysely';
import type { Database } from '../database.js';
import { HISTORY_WATERMARK } from './backtests.js';
import { deleteKeepingCounts, durationOffsets } from './metrics.js';
import { succeededRun } from './stats.js';

export interface PurgedCounts {
  actionRuns: number;
  matches: number;
  events: number;
  incidents: number;
  /** Events an incident run parked (incident_event_backlog) and no run took: a run terminated from outside. */
  parkedEvents: number;
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
  /** Per-target leases (cooldown, concurrency) released or expired, past the guards' week. */
  leases: number;
  /** Backtests attached to rule versions. */
  backtests: number;
}

/** Guard and rate-limit windows reach back at most 7 days: their rows are kept at least this long whatever the retention. */
const GUARD_BOOKKEEPING_DAYS = 8;

/**
 * Deletes at most `n` rows per table older than `cutoff`: finished action runs, then matches with no
 * action run left, events, events parked by incident runs and not taken, and incidents left with no event
 * and no match, all of resolved incidents (and of `unknown` status, or gone: an incident open keeps them
 * however old); finished job runs; attached backtests; and the
 * bookkeeping (guards, side effects, PagerDuty writes, target leases) past both the cutoff and the guards'
 * week, as are `run` matches (a rate limit counts them); and the metric offsets of deleted rules and jobs.
 * A run still going is never deleted, nor is its match.
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
  // What an incident still open did is kept with it (its events below, its action runs and matches here):
  // purged, its page lost what automation already did while its approvals may still wait, and the resolve
  // that came later found no match to score.
  const incidentOpen = sql`i.status not in ('resolved', 'unknown')`;
  // A run deleted can change whether its match, kept while another of its runs goes on or until a later batch,
  // counts as a succeeded run of its rule: the offset takes the difference, with the test of ruleTotals (stats.ts).
  const succeeded = succeededRun;
  const actionRuns = await deleteKeepingCounts(
    trx,
    sql`gone as (
      delete from action_runs where id in (
        select a.id from action_runs a
        where a.incident_id is not null and a.created_at < ${cutoff} and a.finished_at is not null
          and not exists (select 1 from incidents i where i.id = a.incident_id and ${incidentOpen})
        order by a.created_at limit ${n})
      returning id, match_id, action_type, status, started_at, finished_at)`,
    sql`
      select 'selfheal_actions_total', jsonb_build_object('type', action_type, 'status', status), count(*)::float8 from gone group by action_type, status
      union all ${durationOffsets('selfheal_action_duration_seconds', 'type', 'action_type')}
      union all
      select 'selfheal_rule_runs_succeeded_total', jsonb_build_object('rule_id', m.rule_id),
        (count(*) filter (where ${succeeded(sql`true`)}) - count(*) filter (where ${succeeded(sql`a.id not in (select id from gone)`)}))::float8
      from rule_matches m where m.id in (select match_id from gone) group by m.rule_id`,
  );
  const keepFrom = new Date(Math.min(cutoff.getTime(), Date.now() - GUARD_BOOKKEEPING_DAYS * 86_400_000));
  // A match deleted has no action run left, so it no longer counts as a succeeded run. A `run` decision is
  // what a rule's rate limit counts (its window reaches back 7 days at most): kept the guards' week too, or a
  // retention shorter than the window let the rule run past its limit once the purge took its runs.
  const matches = await deleteKeepingCounts(
    trx,
    sql`gone as (
      delete from rule_matches where id in (
        select m.id from rule_matches m
        where m.matched_at < ${cutoff}
          and (m.decision <> 'run' or m.matched_at < ${keepFrom})
          and not exists (select 1 from action_runs a where a.match_id = m.id)
          and not exists (select 1 from incidents i where i.id = m.incident_id and ${incidentOpen})
        order by m.matched_at limit ${n})
      returning rule_id, decision, verification)`,
    sql`
      select 'selfheal_rule_matches_total', jsonb_build_object('decision', decision), count(*)::float8 from gone group by decision
      union all
      select per_rule.metric, jsonb_build_object('rule_id', g.rule_id), (count(*) filter (where per_rule.counted))::float8
      from gone g cross join lateral (values
        ('selfheal_rule_runs_total', g.decision = 'run'),
        ('selfheal_rule_runs_verified_total', g.verification = 'verified'),
        ('selfheal_rule_runs_unverified_total', g.verification = 'unverified'),
        ('selfheal_rule_matches_suppressed_total', g.decision = 'skipped')) as per_rule (metric, counted)
      group by per_rule.metric, g.rule_id`,
  );
  // An incident open is kept whole, however old: its workflow is still open, waiting for the resolve.
  // Purged, its page answered 404 while it was open, and the resolve wrote the row again with the resolve's
  // time as its opening (and counted its workflow twice in selfheal_workflows_started_total). One of
  // `unknown` status (only notes and the like ever heard of it: an incident PagerDuty resolved before, or
  // long ago) is no more known open than resolved, and goes as a resolved one does: kept whole it stayed for
  // good, since the resolve it would wait for was sent before we knew it, if ever.
  const events = await sql`
    delete from incident_events where id in (
      select e.id from incident_events e
      where e.received_at < ${cutoff}
        and not exists (select 1 from incidents i where i.id = e.incident_id and ${incidentOpen})
      order by e.received_at limit ${n})`.execute(trx);
  // Parked events (incident_event_backlog) are deleted once a run takes them; a run terminated from outside
  // leaves them (each up to 256 KiB of the event's text), and only a later run of the incident parking events
  // of its own took them. They go as the incident's events do: kept while it is open (its next run still
  // takes them), purged past the cutoff once it is not, or once the incident itself is gone.
  const parkedEvents = await sql`
    delete from incident_event_backlog where id in (
      select b.id from incident_event_backlog b
      where b.parked_at < ${cutoff}
        and not exists (select 1 from incidents i where i.id = b.incident_id and ${incidentOpen})
      order by b.parked_at limit ${n})`.execute(trx);
  // Each incident stood for one incident workflow started.
  const incidents = await deleteKeepingCounts(
    trx,
    sql`gone as (
      delete from incidents where id in (
        select i.id from incidents i
        where i.status in ('resolved', 'unknown')
          and coalesce(i.last_event_at, i.created_at) < ${cutoff}
          and not exists (select 1 from incident_events e where e.incident_id = i.id)
          and not exists (select 1 from rule_matches m where m.incident_id = i.id)
        limit ${n})
      returning id)`,
    sql`select 'selfheal_workflows_started_total', jsonb_build_object('kind', 'incident'), count(*)::float8 from gone`,
  );
  // Kept while its match has an action not finished: the row is where an approved script's start learns
  // which environment it was planned on (a gated chain may wait 7 days per action), and without it a script
  // whose environment was deleted or taken by another team meanwhile would start anyway.
  const remediations = await sql`
    delete from remediations where id in (
      select r.id from remediations r
      where r.at < ${keepFrom}
        and not exists (select 1 from action_runs a where a.match_id = r.match_id and a.finished_at is null)
      order by r.at limit ${n})`.execute(trx);
  // A page not sent yet is kept: it is still owed.
  const alerts = await sql`
    delete from automation_alerts where id in (
      select id from automation_alerts where sent_at is not null and created_at < ${keepFrom} order by created_at limit ${n})`.execute(trx);
  const approvalLinks = await sql`
    delete from approval_links where id in (
      select id from approval_links where expires_at < ${cutoff} order by expires_at limit ${n})`.execute(trx);
  // Job runs finished before the cutoff, with their per-target results (one statement). Each run stood for one
  // job workflow started.
  const jobRuns = await deleteKeepingCounts(
    trx,
    sql`batch as (
      select id from job_runs where finished_at is not null and started_at < ${cutoff} order by started_at, id limit ${n}),
    results as (delete from job_target_results where job_run_id in (select id from batch) returning via, status),
    gone as (delete from job_runs where id in (select id from batch) returning job_id, status, started_at, finished_at)`,
    sql`
      select 'selfheal_workflows_started_total', jsonb_build_object('kind', 'job'), count(*)::float8 from gone
      union all
      select 'selfheal_job_runs_total', jsonb_build_object('job', job_id, 'status', status), count(*)::float8 from gone group by job_id, status
      union all
      select 'selfheal_job_target_results_total', jsonb_build_object('via', via, 'status', status), count(*)::float8 from results group by via, status
      union all ${durationOffsets('selfheal_job_run_duration_seconds', 'job', 'job_id')}`,
  );
  // The once-only ledgers outlive every retry of what they guard (a day at most) and the echo windows of the
  // PagerDuty writes (minutes; a verification's own-resolve check, hours): kept at least the guards' week.
  const sideEffects = await sql`
    delete from side_effects where key in (
      select key from side_effects
      where updated_at < ${keepFrom} and (in_flight_until is null or in_flight_until < now())
      order by updated_at limit ${n})`.execute(trx);
  // Backtests attached to rule versions: summaries of history that is itself purged by now.
  const backtests = await sql`
    delete from rule_backtests where id in (
      select id from rule_backtests where created_at < ${cutoff} order by created_at limit ${n})`.execute(trx);
  // Leases count for cooldown (from their start; 7 days at most) and, until released or expired, concurrency.
  const leases = await sql`
    delete from target_leases where id in (
      select id from target_leases
      where acquired_at < ${keepFrom} and (released_at is not null or expires_at < now())
      order by acquired_at limit ${n})`.execute(trx);
  const pagerDutyWrites = await sql`
    delete from pagerduty_writes where id in (
      select id from pagerduty_writes where started_at < ${keepFrom} order by started_at limit ${n})`.execute(trx);
  // The offsets of the series of a deleted rule or job (`rule_id`, `job` labels): those series leave with it
  // (src/metrics.ts reads the offsets of live ones only) and ids are never reused, so its offsets are rows no
  // scrape reads, which were kept for good (one batch above adds them for the rows of a deleted rule it
  // purges). Last, so those go in the same batch; at most `n` a batch.
  await sql`
    delete from metric_offsets where (metric, labels) in (
      select o.metric, o.labels from metric_offsets o
      where (o.labels->>'rule_id' is not null and not exists (select 1 from rules r where r.id = o.labels->>'rule_id' and r.deleted_at is null))
         or (o.labels->>'job' is not null and not exists (select 1 from jobs j where j.id = o.labels->>'job' and j.deleted_at is null))
      limit ${n})`.execute(trx);
  return {
    jobRuns,
    sideEffects: Number(sideEffects.numAffectedRows ?? 0),
    pagerDutyWrites: Number(pagerDutyWrites.numAffectedRows ?? 0),
    leases: Number(leases.numAffectedRows ?? 0),
    backtests: Number(backtests.numAffectedRows ?? 0),
    remediations: Number(remediations.numAffectedRows ?? 0),
    alerts: Number(alerts.numAffectedRows ?? 0),
    approvalLinks: Number(approvalLinks.numAffectedRows ?? 0),
    actionRuns,
    matches,
    events: Number(events.numAffectedRows ?? 0),
    parkedEvents: Number(parkedEvents.numAffectedRows ?? 0),
    incidents,
  };
}
