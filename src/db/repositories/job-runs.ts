// Scheduled job runs and their per-environment results, and the job definition a run reads.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../database.js';
import type { Db } from './db.js';
import { advisoryKey } from './transactions.js';

/**
 * Records a run's start and answers its id: `id` (its workflow id), or `<id>@<runId>` when an earlier
 * execution of that workflow id holds `id`. Temporal starts a backfilled or triggered run of a schedule with
 * the id of a closed one (a backfill over a time the schedule already ran): before, that execution was
 * recorded as no run, wrote its target results over the first run's and took its failure notice's key.
 * A retried write answers the id it wrote. `temporalStartedAt`: when the run recorded its start by Temporal's
 * clock (job_runs.temporal_started_at); the first write's stays, and a row an earlier run's claim wrote for
 * this execution (insertClaimedJobRun) takes it.
 */
export async function insertJobRunStart(db: Db, r: { id: string; runId: string; jobId: string; trigger: string; scheduledAt: string | null; temporalStartedAt: Date | null }): Promise<string> {
  const insert = (id: string) =>
    db
      .insertInto('job_runs')
      .values({ id, run_id: r.runId, job_id: r.jobId, trigger: r.trigger, status: 'running', scheduled_at: r.scheduledAt, temporal_started_at: r.temporalStartedAt })
      .onConflict((oc) =>
        oc
          .column('id')
          .doUpdateSet({ temporal_started_at: r.temporalStartedAt })
          .where('job_runs.run_id', '=', r.runId)
          .where('job_runs.temporal_started_at', 'is', null),
      )
      .execute();
  await insert(r.id);
  const held = await db.selectFrom('job_runs').select('run_id').where('id', '=', r.id).executeTakeFirst();
  if (!held || held.run_id === null || held.run_id === r.runId) return r.id;
  const own = `${r.id}@${r.runId}`;
  await insert(own);
  return own;
}

export async function finishJobRun(db: Db, id: string, f: { status: string; summary: unknown; at: Date }): Promise<void> {
  await db.updateTable('job_runs').set({ status: f.status, summary: JSON.stringify(f.summary), finished_at: f.at }).where('id', '=', id).execute();
}

export interface TargetResultRow {
  status: string;
  via: string;
  exit_code: number | null;
  output_excerpt: string | null;
  error: string | null;
  started_at: string;
  finished_at: string;
}

/** One environment's result of a run; a retried write replaces it. */
export async function upsertTargetResult(db: Db, jobRunId: string, environment: string, values: TargetResultRow): Promise<void> {
  await db
    .insertInto('job_target_results')
    .values({ job_run_id: jobRunId, environment, ...values })
    .onConflict((oc) => oc.columns(['job_run_id', 'environment']).doUpdateSet(values))
    .execute();
}

/** A live (not deleted) job's id, stored definition, whether it is enabled, and its team. */
export async function findLiveJob(db: Db, id: string): Promise<{ id: string; definition: unknown; enabled: boolean; team: string } | undefined> {
  return db.selectFrom('jobs').select(['id', 'definition', 'enabled', 'team']).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

/**
 * Whether a job is still there (`deleted`), enabled, and the last time its row was changed (`changedAt`: a
 * pause, a resume, an edit, as the API wrote it): what a run going asks before each of its targets
 * (activities/jobs.ts, jobRunStopReason). Undefined when the job was never stored.
 */
export async function findJobStanding(db: Db, id: string): Promise<{ deleted: boolean; enabled: boolean; changedAt: string; team: string } | undefined> {
  const row = await db.selectFrom('jobs').select(['deleted_at', 'enabled', 'updated_at', 'team']).where('id', '=', id).executeTakeFirst();
  return row && { deleted: row.deleted_at !== null, enabled: row.enabled, changedAt: new Date(row.updated_at).toISOString(), team: row.team };
}

/** The team of the job a run belongs to (deleted or not); undefined when the run has no row. */
export async function jobRunTeam(db: Db, jobRunId: string): Promise<string | undefined> {
  const row = await db
    .selectFrom('job_runs')
    .innerJoin('jobs', 'jobs.id', 'job_runs.job_id')
    .select('jobs.team')
    .where('job_runs.id', '=', jobRunId)
    .executeTakeFirst();
  return row?.team;
}

/** A job's stored definition (deleted or not); undefined when it was never stored. */
export async function findJobDefinition(db: Db, id: string): Promise<unknown> {
  const row = await db.selectFrom('jobs').select('definition').where('id', '=', id).executeTakeFirst();
  return row?.definition;
}

/**
 * Runs of a job still recorded `running` that started before run `before` (or before now when it has no row),
 * newest first, each with the Temporal run id of the execution it records (`runId`; null only in a row
 * written without one): with `manualOnly`, only runs started by hand. Rows older than `since` are not counted
 * (a run is ended by Temporal within a day, so an older `running` row was left by a run terminated from
 * outside).
 */
export async function runningJobRunsBefore(db: Db, q: { jobId: string; before?: string | undefined; manualOnly: boolean; since: Date; limit: number }): Promise<{ id: string; runId: string | null }[]> {
  let query = db
    .selectFrom('job_runs')
    .select(['id', 'run_id'])
    .where('job_id', '=', q.jobId)
    .where('status', '=', 'running')
    .where('started_at', '>', q.since);
  if (q.manualOnly) query = query.where('trigger', '=', 'manual');
  if (q.before !== undefined) {
    const me = db.selectFrom('job_runs').where('id', '=', q.before);
    query = query.where('id', '!=', q.before).where((eb) =>
      eb.or([
        eb('started_at', '<', me.select('started_at')),
        eb.and([eb('started_at', '=', me.select('started_at')), eb('id', '<', q.before!)]),
      ]),
    );
  }
  const rows = await query.orderBy('started_at', 'desc').limit(q.limit).execute();
  return rows.map((r) => ({ id: r.id, runId: r.run_id }));
}

/**
 * Runs still recorded `running` that started before `before`, oldest first, at most `limit`, each with the
 * Temporal run id of the execution it records (`runId`; null only in a row written without one): what the
 * worker's periodic pass asks Temporal about (src/temporal/ended-job-runs.ts), for runs whose execution ended
 * without recording it.
 */
export async function runningJobRunsStartedBefore(
  db: Db,
  q: { before: Date; limit: number; after?: { startedAt: Date; id: string } | undefined },
): Promise<{ id: string; runId: string | null; jobId: string; startedAt: Date }[]> {
  let query = db.selectFrom('job_runs').select(['id', 'run_id', 'job_id', 'started_at']).where('status', '=', 'running').where('started_at', '<', q.before);
  // Past the last row an earlier pass asked about (in the same order), so that rows still going at the front
  // do not keep the ones behind them from their turn.
  if (q.after) query = query.where((eb) => eb(eb.refTuple('started_at', 'id'), '>', eb.tuple(q.after!.startedAt, q.after!.id)));
  const rows = await query.orderBy('started_at', 'asc').orderBy('id', 'asc').limit(q.limit).execute();
  return rows.map((r) => ({ id: r.id, runId: r.run_id, jobId: r.job_id, startedAt: r.started_at }));
}

/**
 * The target results a run recorded, as a finish record counts them: the count per status, and the first
 * `failures` of those that failed or timed out (by environment), each error cut to its first `errorChars`
 * characters.
 */
export async function recordedTargetOutcomes(
  db: Db,
  jobRunId: string,
  bounds: { failures: number; errorChars: number },
): Promise<{ counts: Record<string, number>; failures: { environment: string; status: string; error: string | null }[] }> {
  const counts = await db
    .selectFrom('job_target_results')
    .select(['status', (eb) => eb.fn.countAll<string>().as('n')])
    .where('job_run_id', '=', jobRunId)
    .groupBy('status')
    .execute();
  const failures = await db
    .selectFrom('job_target_results')
    .select(['environment', 'status', sql<string | null>`left(error, ${bounds.errorChars})`.as('error')])
    .where('job_run_id', '=', jobRunId)
    .where('status', 'in', ['failed', 'timed_out'])
    .orderBy('environment')
    .limit(bounds.failures)
    .execute();
  return { counts: Object.fromEntries(counts.map((c) => [c.status, Number(c.n)])), failures };
}

/**
 * Records the end of a run whose Temporal execution ended without recording it, only while its row still
 * says `running`: a finish the run's own workflow wrote meanwhile is never overwritten. Answers whether it
 * was written.
 */
export async function finishJobRunLeftRunning(db: Db, id: string, f: { status: string; summary: unknown; at: Date }): Promise<boolean> {
  const res = await db
    .updateTable('job_runs')
    .set({ status: f.status, summary: JSON.stringify(f.summary), finished_at: f.at })
    .where('id', '=', id)
    .where('status', '=', 'running')
    .executeTakeFirst();
  return res.numUpdatedRows > 0n;
}

/**
 * How far the database's clock (an audit record's `at`) is ahead of Temporal's (a run's scheduled time), in
 * milliseconds; negative when behind. The catch-up rule reads audit records by Temporal's clock through it
 * (activities/jobs.ts, databaseAheadOfTemporal): an audit record's `at` less this is its time by Temporal's.
 */
export type DatabaseAheadMs = number;

/** The database's clock now (clock_timestamp(): not the transaction's start). */
export async function databaseClock(db: Db): Promise<Date> {
  const { rows } = await sql<{ t: Date }>`select clock_timestamp() as t`.execute(db);
  return new Date(rows[0]!.t);
}

/** Time `at` by Temporal's clock as the database's clock reads it (`aheadMs`: DatabaseAheadMs). */
const onDatabaseClock = (at: Date, aheadMs: DatabaseAheadMs): Date => new Date(at.getTime() + aheadMs);

/**
 * Whether a backfill of job `jobId` asked for through the API (its `job.backfill` audit record, written
 * before the schedule was asked) covers scheduled time `at`: its window holds `at`, and it was asked for at
 * or after `at`, by Temporal's clock like `at` (the record's `at` is the database's: `aheadMs`, how far it is
 * ahead of Temporal's, is taken off). The latest 50 such records are looked at.
 */
export async function backfillRequestedOver(db: Db, jobId: string, at: Date, aheadMs: DatabaseAheadMs): Promise<boolean> {
  const rows = await latestJobAudit(db, jobId, 'job.backfill', onDatabaseClock(at, aheadMs));
  return rows.some((r) => {
    const w = r.after as { start?: unknown; end?: unknown } | null;
    if (typeof w?.start !== 'string' || typeof w.end !== 'string') return false;
    return new Date(w.start).getTime() <= at.getTime() && at.getTime() <= new Date(w.end).getTime();
  });
}

/** The latest 50 audit records `action` of job `jobId` written at or after `since`, the latest first. */
function latestJobAudit(db: Db, jobId: string, action: string, since: Date) {
  return db
    .selectFrom('audit_log')
    .select(['before', 'after'])
    .where('action', '=', action)
    .where('entity_type', '=', 'job')
    .where('entity_id', '=', jobId)
    .where('at', '>=', since)
    .orderBy('at', 'desc')
    .limit(50)
    .execute();
}

/**
 * The schedules job `jobId` had before its edits (the `before` of its `job.update` audit records) written at
 * or after `since` (by Temporal's clock: `aheadMs`, as for backfillRequestedOver), the latest first, at most
 * 50: with its current one, the schedules whose times the runs Temporal started since then are on (a run
 * queued while the worker was down keeps the time of the schedule that started it). As stored: the caller
 * reads the shape.
 */
export async function jobSchedulesReplacedSince(db: Db, jobId: string, since: Date, aheadMs: DatabaseAheadMs): Promise<unknown[]> {
  const rows = await latestJobAudit(db, jobId, 'job.update', onDatabaseClock(since, aheadMs));
  return rows.flatMap((r) => {
    const schedule = (r.before as { schedule?: unknown } | null)?.schedule;
    return schedule === undefined || schedule === null ? [] : [schedule];
  });
}

/**
 * Runs of the job its schedule started for a time before `scheduledAt` and at or after `since` (the
 * schedule's previous time: a run of an older time, backfilled, took none of this one's) that recorded their
 * start after it, and did not skip themselves: runs late past the scheduled time of run `id` (an outage),
 * which did that time's work too. Their start by Temporal's clock (`temporal_started_at`), like the schedule
 * time it is compared with; `started_at` (the database's clock) only for a row written before that column.
 * By their start, at most 20; the caller leaves out those a backfill asked for.
 */
export async function earlierScheduledRunsStartedAfter(db: Db, q: { jobId: string; id: string; scheduledAt: Date; since?: Date | undefined }): Promise<Array<{ id: string; scheduledAt: Date }>> {
  const started = sql<Date>`coalesce(temporal_started_at, started_at)`;
  let query = db
    .selectFrom('job_runs')
    .select(['id', 'scheduled_at'])
    .where('job_id', '=', q.jobId)
    .where('trigger', '=', 'schedule')
    .where('id', '<>', q.id)
    .where('scheduled_at', '<', q.scheduledAt)
    .where(started, '>', q.scheduledAt)
    .where('status', '<>', 'skipped');
  if (q.since) query = query.where('scheduled_at', '>=', q.since);
  const rows = await query.orderBy(started, 'asc').limit(20).execute();
  return rows.flatMap((r) => (r.scheduled_at ? [{ id: r.id, scheduledAt: new Date(r.scheduled_at) }] : []));
}

/**
 * Runs `fn` in a transaction holding job `jobId`'s catch-up lock (a transaction-scoped advisory lock on a
 * hash of its id): the catch-up decisions of one job's runs are taken one at a time, each reading the
 * decisions written before it (activities/jobs.ts, catchUpSuperseded).
 */
export async function withJobCatchUpLock<T>(db: Kysely<Database>, jobId: string, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(async (trx) => {
    await sql`select pg_advisory_xact_lock(${advisoryKey(JSON.stringify(['job_catch_up', jobId]))})`.execute(trx);
    return fn(trx);
  });
}

export type CatchUpDecision = 'run' | 'claimed' | 'skip';

/** The scheduled time a run recorded at its start, and the catch-up rule's decision on it (null: none yet). */
export async function jobRunCatchUpState(db: Db, id: string): Promise<{ scheduledAt: Date | undefined; decision: CatchUpDecision | null } | undefined> {
  const row = await db.selectFrom('job_runs').select(['scheduled_at', 'catch_up_decision']).where('id', '=', id).executeTakeFirst();
  return row && { scheduledAt: row.scheduled_at ? new Date(row.scheduled_at) : undefined, decision: row.catch_up_decision as CatchUpDecision | null };
}

/**
 * Writes run `id`'s catch-up decision (under the job's catch-up lock); a 'run' with `at`, a time by Temporal's
 * clock at or before the decision (the caller's: activities/jobs.ts), never the database's: it is compared
 * with the schedule times Temporal gives runs (earlierRunsDecidedSince).
 */
export async function setJobRunCatchUpDecision(db: Db, id: string, d: { decision: 'run'; at: Date } | { decision: 'claimed' | 'skip' }): Promise<void> {
  await db
    .updateTable('job_runs')
    .set({ catch_up_decision: d.decision, catch_up_decided_at: d.decision === 'run' ? d.at : null })
    .where('id', '=', id)
    .execute();
}

/**
 * Revokes the claims on runs of job `jobId` of a time before `scheduledAt` that have not decided yet (marked
 * 'skip'): the run of `scheduledAt` decided to run and does their work (under the job's catch-up lock, by
 * the run deciding so). Answers the ids revoked.
 */
export async function revokeEarlierClaims(db: Db, q: { jobId: string; scheduledAt: Date }): Promise<string[]> {
  const rows = await db
    .updateTable('job_runs')
    .set({ catch_up_decision: 'skip', catch_up_decided_at: null })
    .where('job_id', '=', q.jobId)
    .where('trigger', '=', 'schedule')
    .where('scheduled_at', '<', q.scheduledAt)
    .where('catch_up_decision', '=', 'claimed')
    .returning('id')
    .execute();
  return rows.map((r) => r.id);
}

/**
 * Runs of the job its schedule started for a time before `scheduledAt` that decided to run at or after
 * `scheduledAt` and did not give up before its targets: such a run did the work of that time. Both times are
 * Temporal's: `scheduledAt` the schedule's, the decision's stamp when Temporal scheduled the attempt that
 * took it (setJobRunCatchUpDecision). At most 20, the latest time first; the caller leaves out those a
 * backfill asked for.
 */
export async function earlierRunsDecidedSince(db: Db, q: { jobId: string; id: string; scheduledAt: Date }): Promise<Array<{ id: string; scheduledAt: Date; decidedAt: Date }>> {
  const rows = await db
    .selectFrom('job_runs')
    .select(['id', 'scheduled_at', 'catch_up_decided_at'])
    .where('job_id', '=', q.jobId)
    .where('trigger', '=', 'schedule')
    .where('id', '<>', q.id)
    .where('scheduled_at', '<', q.scheduledAt)
    .where('catch_up_decision', '=', 'run')
    .where('catch_up_decided_at', '>=', q.scheduledAt)
    .where('status', 'not in', ['skipped', 'cancelled'])
    .where((eb) => eb.or([eb('status', '<>', 'failed'), eb.exists(eb.selectFrom('job_target_results as t').select('t.job_run_id').whereRef('t.job_run_id', '=', 'job_runs.id'))]))
    .orderBy('scheduled_at', 'desc')
    .limit(20)
    .execute();
  return rows.flatMap((r) => (r.scheduled_at && r.catch_up_decided_at ? [{ id: r.id, scheduledAt: new Date(r.scheduled_at), decidedAt: new Date(r.catch_up_decided_at) }] : []));
}

/**
 * Records the start of the run of a later time of the job that Temporal has started and that has not
 * recorded it yet (workflow `id`, execution `runId`), already `claimed`: an earlier run of its catch-up
 * skipped for it. Its own start record then finds the row its execution holds (insertJobRunStart). Answers
 * whether it was written (false: the run recorded its start meanwhile, and was read as such).
 */
export async function insertClaimedJobRun(db: Db, r: { id: string; runId: string; jobId: string; scheduledAt: Date }): Promise<boolean> {
  const res = await db
    .insertInto('job_runs')
    .values({ id: r.id, run_id: r.runId, job_id: r.jobId, trigger: 'schedule', status: 'running', scheduled_at: r.scheduledAt, catch_up_decision: 'claimed' })
    .onConflict((oc) => oc.column('id').doNothing())
    .executeTakeFirst();
  return (res.numInsertedOrUpdatedRows ?? 0n) > 0n;
}

/**
 * Runs of the job its schedule started for a time after `scheduledAt` whose start is recorded and that did
 * not give up before their targets (not skipped, not cancelled, not failed with no target result), with
 * their catch-up decision: `decided` those that will run or ran ('run', or 'claimed': an earlier run skipped
 * for it), else those that decided nothing yet. At most 20, the latest first; the caller leaves out those a
 * backfill asked for.
 */
export async function laterScheduledRuns(db: Db, q: { jobId: string; id: string; scheduledAt: Date; decided: boolean }): Promise<Array<{ id: string; scheduledAt: Date; decision: CatchUpDecision | null }>> {
  const rows = await db
    .selectFrom('job_runs as r')
    .select(['r.id', 'r.scheduled_at', 'r.catch_up_decision'])
    .where('r.job_id', '=', q.jobId)
    .where('r.trigger', '=', 'schedule')
    .where('r.id', '<>', q.id)
    .where('r.scheduled_at', '>', q.scheduledAt)
    .where('r.status', 'not in', ['skipped', 'cancelled'])
    .where((eb) => (q.decided ? eb('r.catch_up_decision', 'in', ['run', 'claimed']) : eb('r.catch_up_decision', 'is', null)))
    .where((eb) => eb.or([eb('r.status', '<>', 'failed'), eb.exists(eb.selectFrom('job_target_results as t').select('t.job_run_id').whereRef('t.job_run_id', '=', 'r.id'))]))
    .orderBy('r.scheduled_at', 'desc')
    .limit(20)
    .execute();
  return rows.flatMap((r) => (r.scheduled_at ? [{ id: r.id, scheduledAt: new Date(r.scheduled_at), decision: r.catch_up_decision as CatchUpDecision | null }] : []));
}

/**
 * Whether an operator asked for a run of job `jobId` by hand ("Run now", its `job.trigger` audit record,
 * written just before Temporal is asked) within a minute before scheduled time `at` (or a few seconds after),
 * both by Temporal's clock: a trigger through the schedule names its run by the time Temporal took it, and
 * the record's `at` is the database's clock, `aheadMs` ahead of Temporal's (taken off: with the clocks
 * minutes apart, a Run now was looked for minutes away from its record). The second signal only
 * (activities/jobs.ts, catchUpSuperseded): a run whose time is off its schedule's is never one of a
 * catch-up, however far its record lies; this one names a Run now landing on one of the schedule's times to
 * the second.
 */
export async function triggerRequestedAt(db: Db, jobId: string, at: Date, aheadMs: DatabaseAheadMs): Promise<boolean> {
  const row = await db
    .selectFrom('audit_log')
    .select('id')
    .where('action', '=', 'job.trigger')
    .where('entity_type', '=', 'job')
    .where('entity_id', '=', jobId)
    .where('at', '>=', onDatabaseClock(new Date(at.getTime() - 60_000), aheadMs))
    .where('at', '<=', onDatabaseClock(new Date(at.getTime() + 5_000), aheadMs))
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Whether a job run of this id is recorded. */
export async function jobRunRowExists(db: Db, id: string): Promise<boolean> {
  return (await db.selectFrom('job_runs').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}
