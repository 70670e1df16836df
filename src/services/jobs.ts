// Scheduled jobs: the definition in Postgres and its Temporal Schedule kept in step. A change is one
// transaction whose last step is the Schedule call: when Temporal refuses, the row rolls back, so no job
// exists without its schedule. Temporal errors become 400 (an invalid schedule) or 503 (unavailable), in
// our own fixed words: Temporal's text (hosts, addresses, namespaces) is logged, never answered.
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database, JobRow } from '../db/database.js';
import type { Logger } from '../logger.js';
import { recentTriggerRunIds, writeAudit } from '../db/repositories/audit.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { deploymentId } from '../db/repositories/deployment.js';
import { registeredEnvironmentsHeld } from '../db/repositories/teams.js';
import { countEnvironmentsForTargets } from '../db/repositories/environment-settings.js';
import { deleteJob, findJob, findJobClash, findJobRun, firstFreeJobId, insertJob, lockJobId, tryLockJobId, listJobPage, listJobRunsPage, listJobRunTargets, setScheduleFingerprint, updateJob } from '../db/repositories/jobs.js';
import { decodeCursor, encodeCursor, LIST_PAGE_BYTES } from './list-pages.js';
import { runningJobRunsBefore } from '../db/repositories/job-runs.js';
import { countScheduledTimes, heldScheduleReason, JOB_RUN_TIMEOUT_SECONDS, MAX_BACKFILL_COUNT_STEPS, MAX_BACKFILL_RUNS, MAX_JOB_RUN_TARGETS, MAX_TRIGGER_RUNS_IN_PROGRESS, jobSaveProblems, runTargetCountProblem, slugify, type JobDefinition, type OverlapPolicy } from '../domain/jobs.js';
import { recipientRefused, refusals, type EmailRecipientPolicy } from '../domain/destination-lists.js';
import { secretRefOutsidePolicy, type SecretRefPolicy } from '../domain/secret-refs.js';
import { jobScheduleId } from '../temporal/names.js';
import {
  backfillJobSchedule,
  createJobSchedule,
  deleteJobSchedule,
  describeJobSchedule,
  jobRunInProgress,
  jobRunsRunning,
  manualJobRunWorkflowId,
  pauseJobSchedule,
  resumeJobSchedule,
  ScheduleOwnedElsewhereError,
  startManualJobRun,
  triggerJobSchedule,
  updateJobSchedule,
  type ScheduleTarget,
} from '../temporal/schedules.js';
import type { Actor } from './actor.js';
import { ConflictError, errorForLog, isUniqueViolation, NotFoundError, ServiceError, UnavailableError, UnprocessableError, ValidationError } from './errors.js';
import { canRead, requireStillInTeam, requireTeam, teamForChange, teamForCreate, visibleTeams } from './team-access.js';

export interface JobServiceDeps {
  db: Kysely<Database>;
  temporal: Client;
  /** Where job runs start. */
  taskQueue: string;
  secrets: SecretRefPolicy;
  /** NOTIFY_EMAIL_ALLOW; undefined → any recipient. */
  emailAllow?: EmailRecipientPolicy | undefined;
  logger: Logger;
}

type JobBody = Omit<JobDefinition, 'id'> & { id?: string | undefined };

/** The first names of a list a problem names (a job may list 500 environments): the rest counted. */
function someNames(names: readonly string[], shown = 10): string {
  return names.length <= shown ? names.join(', ') : `${names.slice(0, shown).join(', ')} and ${names.length - shown} more`;
}

/**
 * A job may target only environments of its own team (400 naming targets.environments otherwise), and a
 * selector or `all` may match no more environments now than one run may hold (422 naming targets, with the
 * count and the bound): its runs would all fail (activities/jobs.ts refuses to begin them).
 */
async function targetsInTeam(db: Kysely<Database>, team: string, job: JobDefinition): Promise<void> {
  if (!('environments' in job.targets)) {
    // A selector matches only the team's own environments (activities/jobs.ts). The list's own bound is the schema's.
    const matched = await countEnvironmentsForTargets(db, team, job.targets);
    const problem = runTargetCountProblem(matched);
    if (problem) throw new UnprocessableError(`targets: ${problem}`, [{ path: 'targets', message: problem }], { matched, maxTargets: MAX_JOB_RUN_TARGETS });
    return;
  }
  // Held until the save commits, so a concurrent delete of a named environment either waits and then
  // refuses (the job names it) or ends first and the name is refused here as not registered.
  const registered = await registeredEnvironmentsHeld(db, job.targets.environments);
  const known = new Set(registered.map((e) => e.name));
  const missing = job.targets.environments.filter((name) => !known.has(name));
  if (missing.length > 0) {
    throw new ValidationError(`targets.environments: ${someNames(missing)} ${missing.length === 1 ? 'is' : 'are'} not registered`, [
      { path: 'targets.environments', message: `${someNames(missing)} ${missing.length === 1 ? 'is' : 'are'} not registered in team ${team}` },
    ]);
  }
  const outside = registered.filter((e) => e.team !== team);
  if (outside.length > 0) {
    throw new ValidationError(`a job of team ${team} may target only that team's environments`, [
      { path: 'targets.environments', message: `${someNames(outside.map((e) => e.name))} belong${outside.length === 1 ? 's' : ''} to another team` },
    ]);
  }
}

const GRPC_INVALID_ARGUMENT = 3;
/** A request never waits on an unreachable Temporal longer than this before answering 503. */
const TEMPORAL_DEADLINE_MS = 10_000;

const UNCHANGED = 'nothing was changed';
const NO_RUN = 'no run was started';
/**
 * How long after a trigger's start Temporal's list of running workflows may not show the run yet (its
 * visibility store is written after the start, Elasticsearch refreshes about each second): the runs the
 * audit entries of this long name are asked about one by one (jobRunsRunning).
 */
const TRIGGER_VISIBILITY_LAG_MS = 5 * 60_000;
/**
 * How long after its audit entry a trigger's run counts as in progress though Temporal does not know it
 * yet: the entry is dated at its transaction's start, before the count (at most TEMPORAL_DEADLINE_MS), and the
 * start, asked for right after the commit, is bounded by TEMPORAL_DEADLINE_MS too. A start
 * that failed holds its place this long, then no more.
 */
const TRIGGER_START_PENDING_MS = 3 * TEMPORAL_DEADLINE_MS;

/** How many of this process's triggers of one job may wait for the one counting (oneTriggerAtATime). */
const MAX_TRIGGERS_WAITING = 8;

/**
 * The runs of a job recorded as going (at most 50; a run ends within a day): each stops before its next
 * target once the job is deleted or paused (workflows/job.ts), and the audit of that change names them.
 * Read from the runs table only, Temporal not asked: a run terminated from outside may be listed.
 */
async function runsGoing(db: Kysely<Database>, jobId: string): Promise<string[]> {
  return (await runningJobRunsBefore(db, { jobId, manualOnly: false, since: new Date(Date.now() - JOB_RUN_TIMEOUT_SECONDS * 1000 - 60_000), limit: 50 })).map((r) => r.id);
}

/**
 * A page of GET /api/jobs/{id}/runs ends at 4 MiB (one run at least). Each run lists its first 50 target
 * results (those not succeeded first), with the last 500 characters of the output and the first 500 of the
 * error; `targetsTotal` counts them all, and GET /api/jobs/{id}/runs/{runId}/targets pages them whole. Before,
 * every result of every run was sent, each with up to 4,000 characters of output and of error: 78 MiB for
 * 20 runs of a 500-target job, some 780 MB for a page of 200, built in the API's memory for any reader.
 */
export const JOB_RUNS_PAGE_BYTES = 4 * 1024 * 1024;
export const JOB_RUN_LIST_TARGETS = { perRun: 50, excerptChars: 500 } as const;
/** A page of a run's target results, whole, ends at 4 MiB (one at least; each is at most about 8,000 characters). */
export const JOB_TARGETS_PAGE_BYTES = 4 * 1024 * 1024;

/** What a job's `scheduleState` says when Temporal cannot be asked; why is in the log. */
export const SCHEDULE_STATE_UNAVAILABLE = 'schedule state unavailable: Temporal did not answer';

/**
 * Temporal errors: an invalid schedule is the caller's problem (400), and so is a time zone Temporal does
 * not know; any other TypeError or RangeError is ours (the SDK refusing what we built: 500, not an outage);
 * anything else means Temporal is unavailable (503). The answer is ours and fixed; Temporal's own error goes
 * along as the cause, which the API logs with the request id (src/api/app.ts) and never sends.
 */
/** Whether Temporal refused a schedule for its time zone (see temporalError). */
function unknownTimeZone(err: unknown): boolean {
  if (err instanceof TypeError) return /^unknown time zone /.test(err.message);
  const cause = (err as { cause?: { code?: number; message?: unknown } } | undefined)?.cause;
  return cause?.code === GRPC_INVALID_ARGUMENT && typeof cause.message === 'string' && /^(3 INVALID_ARGUMENT: )?Invalid schedule spec: unknown time zone /.test(cause.message);
}

function temporalError(err: unknown, outcome: string): unknown {
  if (err instanceof ServiceError) return err;
  if (err instanceof ScheduleOwnedElsewhereError) return new ConflictError(err.message);
  // A zone Node's Intl knows and Go's zone database does not ("gmt", "US/Pacific-New") is the caller's to
  // fix: 400 naming it, not 500. Temporal says so in Go's words, which reach us as a plain TypeError through
  // the grpc-js client and as a ServiceError whose cause is the INVALID_ARGUMENT through the native one
  // (lazyTemporalClient, the API's).
  if (unknownTimeZone(err)) {
    const message = "Temporal's time zone database does not know this zone: use its canonical IANA name, such as \"Europe/Paris\" or \"UTC\"";
    return new ValidationError(`invalid request body: schedule.timezone: ${message}`, [{ path: 'schedule.timezone', message }], {}, err);
  }
  if (err instanceof TypeError || err instanceof RangeError) return err;
  const e = err as { code?: number; cause?: { code?: number } };
  if (e.code === GRPC_INVALID_ARGUMENT || e.cause?.code === GRPC_INVALID_ARGUMENT) {
    return new ValidationError(
      'Temporal refused the schedule as invalid',
      [{ path: 'schedule', message: 'Temporal refused this schedule: check interval or cron, and timezone' }],
      {},
      err,
    );
  }
  return new UnavailableError(`Temporal is unavailable; ${outcome}`, err);
}

/**
 * A save whose name another request took between the clash check and the write (the lock is the job's id,
 * not its name): the unique index refuses the row, and that is the 409 of a name taken, not a 500. Nothing
 * was written, in Postgres or in Temporal (the schedule call comes after the row).
 */
async function nameRaced<T>(name: string, save: () => Promise<T>): Promise<T> {
  try {
    return await save();
  } catch (err) {
    if (isUniqueViolation(err, 'jobs_name_live_idx')) throw new ConflictError(`a job named "${name}" already exists`, { errors: [{ path: 'name', message: 'already used by another job' }] });
    throw err;
  }
}

export function definitionOf(row: JobRow): JobDefinition {
  return { ...(row.definition as JobDefinition), id: row.id, enabled: row.enabled };
}


/**
 * 409's words when another live job holds the name (names are unique across teams). Its id is named only
 * to an actor who may read it: another team's editor learns the name is taken, not which job holds it.
 */
function nameTakenMessage(actor: Actor, name: string, clash: { id: string; team: string }): string {
  return canRead(actor, clash.team) ? `a job named "${name}" already exists (${clash.id})` : `a job named "${name}" already exists in a team you cannot read`;
}

export function jobService(deps: JobServiceDeps) {
  const { db, temporal } = deps;
  /** `outcome` says what the caller is left with when Temporal fails ("nothing was changed"). */
  const temporalCall = async <T>(outcome: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await temporal.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, fn);
    } catch (err) {
      throw temporalError(err, outcome);
    }
  };
  /**
   * This process's triggers of one job, one at a time and in order, waiting in memory (not on the lock with
   * a pooled connection): two triggers at once (a double click, two people) both count and start, the
   * second after the first's count. At most MAX_TRIGGERS_WAITING wait; past them, and across API
   * processes (the job's lock is taken without waiting), a trigger is answered 409, retryable.
   */
  const triggersWaiting = new Map<string, { tail: Promise<void>; waiting: number }>();
  const oneTriggerAtATime = async <T>(jobId: string, work: () => Promise<T>): Promise<T> => {
    const queue = triggersWaiting.get(jobId) ?? { tail: Promise.resolve(), waiting: 0 };
    if (queue.waiting >= MAX_TRIGGERS_WAITING) {
      throw new ConflictError(`job ${jobId} has ${MAX_TRIGGERS_WAITING} triggers waiting already: no run was started; retry in a moment`, { retryable: true });
    }
    queue.waiting += 1;
    triggersWaiting.set(jobId, queue);
    const before = queue.tail;
    let done!: () => void;
    queue.tail = new Promise<void>((resolve) => (done = resolve));
    try {
      await before;
      return await work();
    } finally {
      done();
      queue.waiting -= 1;
      if (queue.waiting === 0) triggersWaiting.delete(jobId);
    }
  };
  /** Where job runs start, and the deployment marker each schedule carries. */
  const target = async (): Promise<ScheduleTarget> => ({ taskQueue: deps.taskQueue, deploymentId: await deploymentId(db) });
  const mustFind = async (d: Kysely<Database>, id: string, forUpdate = false) => {
    const row = await findJob(d, id, { forUpdate });
    if (!row) throw new NotFoundError(`job ${id} is not known`);
    return row;
  };
  /** The job, when `actor` holds `role` in its team (a reader of another team gets the 404 of an unknown id; a writer, 403). */
  const mustAccess = async (d: Kysely<Database>, actor: Actor, role: 'viewer' | 'editor', id: string, forUpdate = false) => {
    const row = await mustFind(d, id, forUpdate);
    requireTeam(actor, role, row.team, `job ${id}`);
    return row;
  };
  /**
   * A job whose run could outlast a run's hard limit (Temporal would end it midway), that runs more often
   * than once a minute, or whose time zone is not written as the zone database does (Temporal reads it so)
   * is refused (400 naming the field): jobSaveProblems, which `selfheal apply` checks too.
   */
  const checkSave = (job: Omit<JobBody, 'enabled'>) => {
    const [problem] = jobSaveProblems(job);
    if (problem) throw new ValidationError(`invalid request body: ${problem.path}: ${problem.message}`, [problem]);
  };
  /** A job's Slack webhook reference must lie inside the operator's secret policy, its email recipients on NOTIFY_EMAIL_ALLOW (400 naming each otherwise). */
  const checkOperatorPolicy = (job: Omit<JobBody, 'enabled'>) => {
    const ref = job.notifyOnFailure?.slack?.webhookUrlRef;
    const reason = ref === undefined ? undefined : secretRefOutsidePolicy(ref, deps.secrets);
    if (reason) throw new ValidationError(`invalid request body: notifyOnFailure.slack.webhookUrlRef: ${reason}`, [{ path: 'notifyOnFailure.slack.webhookUrlRef', message: reason }]);
    const refused = refusals((job.notifyOnFailure?.email ?? []).map((address, i) => ({ path: `notifyOnFailure.email.${i}`, address })), (r) => recipientRefused(r.address, deps.emailAllow));
    if (refused.length > 0) throw new ValidationError(`invalid request body: ${refused[0]!.path}: ${refused[0]!.message}`, refused);
  };
  /**
   * Runs a schedule operation; a schedule missing in Temporal is recreated from the job first. `locked`:
   * the caller's transaction, which holds the job's lock, and `row` is the job as it stands. Otherwise the
   * job is read again under its lock: a trigger or backfill that read the job before a DELETE committed
   * found its schedule gone and recreated it from that stale row, bringing a deleted job's schedule back.
   */
  const onSchedule = (row: JobRow, outcome: string, op: () => Promise<void>, locked?: Kysely<Database>) =>
    temporalCall(outcome, async () => {
      try {
        await op();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
        const to = await target();
        if (locked) await setScheduleFingerprint(locked, row.id, await createJobSchedule(temporal, definitionOf(row), to));
        else {
          await inTransaction(db, async (trx) => {
            await lockJobId(trx, row.id);
            await setScheduleFingerprint(trx, row.id, await createJobSchedule(temporal, definitionOf(await mustFind(trx, row.id, true)), to));
          });
        }
        await op();
      }
    });
  /**
   * What Temporal says about a job's schedule; unreachable is reported (a fixed text), not thrown, and
   * Temporal's error is logged on `log` (the request's logger).
   */
  const describe = async (id: string, log: Logger = deps.logger) => {
    try {
      return { state: await temporal.withDeadline(Date.now() + 5000, () => describeJobSchedule(temporal, id)) };
    } catch (err) {
      log.warn({ jobId: id, err: errorForLog(err) }, 'job schedule state unavailable');
      return { error: SCHEDULE_STATE_UNAVAILABLE };
    }
  };

  return {
    /**
     * A page of the live jobs of the teams `actor` may read, by id, after the cursor (the nextCursor of the
     * previous page): `limit` at most, and no more than LIST_PAGE_BYTES of definitions (one at least).
     */
    async list(actor: Actor, page: { limit: number; cursor?: string | undefined }) {
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, 1)[0];
      const { rows, last } = await listJobPage(db, visibleTeams(actor), { after, limit: page.limit, maxBytes: LIST_PAGE_BYTES });
      return { rows, nextCursor: last && encodeCursor([last]) };
    },
    describe,
    get: (actor: Actor, id: string) => mustAccess(db, actor, 'viewer', id),

    async create(actor: Actor, input: JobBody): Promise<JobRow> {
      const { team: requested, ...body } = input;
      checkOperatorPolicy(body);
      checkSave(body);
      const slug = body.id ?? slugify(body.name);
      if (!slug) throw new ValidationError('give the job an id', [{ path: 'id', message: 'required when the name has no letters or digits' }]);
      const team = await teamForCreate(db, actor, requested, `job ${slug}`);
      const to = await target(); // read before the transaction: it may use a connection of its own
      return nameRaced(body.name, () => inTransaction(db, async (trx) => {
        // An id made from the name skips those of deleted jobs (`name-2`, …); an id given is taken as given.
        const id = body.id ?? (await firstFreeJobId(trx, slug));
        await lockJobId(trx, id);
        const job: JobDefinition = { ...body, id };
        const clash = await findJobClash(trx, { id, name: job.name });
        if (clash) {
          throw new ConflictError(
            clash.id !== id
              ? nameTakenMessage(actor, job.name, clash)
              : clash.deleted
                ? `job id ${id} belonged to a deleted job; ids are never reused (its runs keep it): give this job another id`
                : `job ${id} already exists`,
          );
        }
        await targetsInTeam(trx, team, job);
        const inserted = await insertJob(trx, { id, name: job.name, definition: job, enabled: job.enabled, scheduleId: jobScheduleId(id), team });
        await writeAudit(trx, { actor: actor.name, action: 'job.create', entityType: 'job', entityId: id, after: job, team });
        // Last: if Temporal refuses, the transaction rolls back and no job exists without its schedule.
        await setScheduleFingerprint(trx, id, await temporalCall(UNCHANGED, () => createJobSchedule(temporal, job, to)));
        return inserted;
      }));
    },

    /**
     * Replace a job; `enabled` left out keeps it paused or running as it stands (read under its lock).
     * `ifTeam`: the team the caller read it in; 409 when it is in another now (requireStillInTeam).
     */
    async update(actor: Actor, id: string, input: Omit<JobBody, 'enabled'> & { enabled?: boolean | undefined }, ifTeam?: string): Promise<JobRow> {
      const { team: requested, enabled, ...body } = input;
      checkOperatorPolicy(body);
      checkSave(body);
      if (body.id !== undefined && body.id !== id) throw new ValidationError('a job id cannot change', [{ path: 'id', message: `must be "${id}" (the id in the path) or left out` }]);
      const to = await target();
      return nameRaced(body.name, () => inTransaction(db, async (trx) => {
        await lockJobId(trx, id);
        const before = await mustFind(trx, id, true);
        requireStillInTeam(actor, before.team, ifTeam, `job ${id}`);
        const job: JobDefinition = { ...body, id, enabled: enabled ?? before.enabled };
        const team = await teamForChange(trx, actor, before.team, requested, `job ${id}`);
        await targetsInTeam(trx, team, job);
        const clash = await findJobClash(trx, { name: job.name, exceptId: id });
        if (clash) throw new ConflictError(nameTakenMessage(actor, job.name, clash));
        const updated = await updateJob(trx, id, { name: job.name, definition: job, enabled: job.enabled, team });
        await writeAudit(trx, { actor: actor.name, action: 'job.update', entityType: 'job', entityId: id, before: { ...definitionOf(before), team: before.team }, after: { ...job, team }, team });
        await setScheduleFingerprint(trx, id, await temporalCall(UNCHANGED, () => updateJobSchedule(temporal, job, to)));
        return updated;
      }));
    },

    /** `ifTeam`: as for update. */
    async remove(actor: Actor, id: string, ifTeam?: string): Promise<void> {
      const ours = await deploymentId(db);
      await inTransaction(db, async (trx) => {
        await lockJobId(trx, id);
        requireStillInTeam(actor, (await mustFind(trx, id, true)).team, ifTeam, `job ${id}`);
        await mustAccess(trx, actor, 'editor', id, true);
        const before = await deleteJob(trx, id);
        if (!before) throw new NotFoundError(`job ${id} is not known`);
        // Deleting the schedule does not end the runs it started: they stop before their next target.
        const going = await runsGoing(trx, id);
        await writeAudit(trx, { actor: actor.name, action: 'job.delete', entityType: 'job', entityId: id, before: definitionOf(before), after: { runsStopAtNextTarget: going }, team: before.team });
        await temporalCall(UNCHANGED, () => deleteJobSchedule(temporal, id, ours));
      });
    },

    /** Pauses (false) or resumes (true) a job and its schedule. */
    async setEnabled(actor: Actor, id: string, enabled: boolean): Promise<JobRow> {
      return inTransaction(db, async (trx) => {
        await lockJobId(trx, id);
        const before = await mustAccess(trx, actor, 'editor', id, true);
        const held = enabled ? heldScheduleReason(definitionOf(before).schedule) : undefined;
        if (held) throw new ConflictError(`job ${id} was not resumed: its schedule is ${held}`);
        const updated = await updateJob(trx, id, { definition: { ...definitionOf(before), enabled }, enabled });
        // Pausing the schedule does not end the runs going: they stop before their next target (a run started
        // by hand on the paused job too: this pause came after it began; activities/jobs.ts, jobRunStopReason).
        const after = enabled ? { enabled } : { enabled, runsStopAtNextTarget: await runsGoing(trx, id) };
        await writeAudit(trx, { actor: actor.name, action: enabled ? 'job.resume' : 'job.pause', entityType: 'job', entityId: id, before: { enabled: before.enabled }, after, team: before.team });
        const note = `${enabled ? 'resumed' : 'paused'} by ${actor.name}`;
        await onSchedule(updated, UNCHANGED, () => (enabled ? resumeJobSchedule(temporal, id, note) : pauseJobSchedule(temporal, id, note)), trx);
        return updated;
      });
    },

    /**
     * Starts a run now. `runId`: the run's workflow id when this call started it itself (a paused job's, or an allow_all one's);
     * through the schedule, Temporal names it, so `triggeredAt` (to the second, as the run's scheduled time
     * is) lets a caller find it among the runs.
     */
    async trigger(actor: Actor, id: string): Promise<{ row: JobRow; runId: string | null; triggeredAt: Date }> {
      const row = await mustAccess(db, actor, 'editor', id);
      // A paused job's run is started here by hand: its schedule's trigger would start a run the worker
      // skips as drift. Only this path starts one, so the run going, if any, is in the jobs table.
      // A held schedule (heldScheduleReason) is paused too: its own trigger would start a run that is skipped.
      const paused = !row.enabled || heldScheduleReason(definitionOf(row).schedule) !== undefined;
      // Temporal drops a trigger that the skip policy refuses, without a word: say so instead of "triggered".
      // A run started by hand is not the schedule's: Temporal's policy does not see it, the worker's check
      // does (activities/jobs.ts, resolveJobTargets), and so does this one.
      if (definitionOf(row).schedule.overlap === 'skip') {
        const running =
          (paused ? undefined : (await temporalCall(NO_RUN, () => describeJobSchedule(temporal, row.id)))?.runningWorkflowIds[0]) ??
          (await temporalCall(NO_RUN, () => jobRunInProgress(() => temporal, db, { jobId: row.id, manualOnly: !paused })));
        if (running) throw new ConflictError(`job ${id} has a run in progress (${running}) and its overlap policy is skip: no run was started; wait for it to finish, or pause the job: the run then starts no further target and ends once its current one is done`);
      }
      const triggeredAt = new Date(Math.floor(Date.now() / 1000) * 1000);
      let runId: string | null = null;
      // An allow_all job's run is started here by hand too: Temporal names a run of the schedule by the
      // second, so of two triggers in one second the second was refused as already started and dropped
      // by the schedule without a word, both answered 202. Temporal neither holds an allow_all start to a
      // policy nor tracks it, so nothing is lost by starting it outside; its id ends in a random part.
      const byHand = paused || definitionOf(row).schedule.overlap === 'allow_all';
      if (byHand) {
        const to = await target();
        // The blast-radius guard (MAX_TRIGGER_RUNS_IN_PROGRESS): the job's runs in progress, its schedule's and
        // those started by hand, are counted in Temporal under the job's lock (held by this transaction; job
        // edits take it too), and the run's audit entry, naming it, is committed with that count. This
        // process's triggers of the job wait their turn in memory (oneTriggerAtATime); one that still finds
        // the lock held (another API process's, or an edit's) is refused at once (409, retry) rather than
        // queued on it: triggers waiting on the lock would each hold a pooled connection, starving every
        // other request, and a pause (what the cap's answer advises) would queue behind them. Of two triggers at the cap's last place,
        // the second comes after the first's commit and counts its run: found at Temporal, or still pending
        // (its entry younger than TRIGGER_START_PENDING_MS, the start on its way). Everything in the
        // transaction goes through it: a second connection taken while it holds one could wait for the pool
        // for good (the embedded database's pool has one connection).
        const workflowId = await oneTriggerAtATime(row.id, () => inTransaction(db, async (trx) => {
          if (!(await tryLockJobId(trx, row.id))) {
            throw new ConflictError(`job ${id} is being triggered or changed by another request right now: no run was started; retry in a moment`, { retryable: true });
          }
          // The job as it stands under the lock: deleted, moved or edited since it was read, nothing is started.
          const current = await mustAccess(trx, actor, 'editor', id);
          if (current.updated_at.getTime() !== row.updated_at.getTime()) {
            throw new ConflictError(`job ${id} was changed while this trigger was handled: no run was started; trigger it again`, { retryable: true });
          }
          const recent = await recentTriggerRunIds(trx, row.id, { withinMs: TRIGGER_VISIBILITY_LAG_MS, pendingMs: TRIGGER_START_PENDING_MS, limit: MAX_TRIGGER_RUNS_IN_PROGRESS * 4 });
          const going = await temporalCall(NO_RUN, () => jobRunsRunning(temporal, trx, { jobId: row.id, recent, limit: MAX_TRIGGER_RUNS_IN_PROGRESS }));
          if (going.length >= MAX_TRIGGER_RUNS_IN_PROGRESS) {
            // Refused before the audit entry: a trigger that starts nothing leaves none, as a skip policy's 409 does.
            throw new ConflictError(
              `job ${id} has at most ${MAX_TRIGGER_RUNS_IN_PROGRESS} runs in progress at once by trigger, and ${going.length} are (${going.join(', ')}): no run was started; wait for one to finish, or pause the job: its runs then start no further target`,
              { maxRunsInProgress: MAX_TRIGGER_RUNS_IN_PROGRESS, runsInProgress: going },
            );
          }
          const named = manualJobRunWorkflowId(row.id, new Date());
          // The audit entry is committed before Temporal is asked: a run never starts unrecorded. Before, it
          // was written after Temporal's answer, and a database failure in between left a run that no entry
          // named (and a 5xx a client retried into a second run). An entry whose request then fails (or
          // whose answer is lost, the run started after all) stays: it records that a run was asked for,
          // and names it.
          await writeAudit(trx, { actor: actor.name, action: 'job.trigger', entityType: 'job', entityId: row.id, after: { paused, runId: named }, team: row.team });
          return named;
        }));
        // Temporal's answer can be lost after the start landed: the caller is told the run may be going, by name.
        const unanswered = `run ${workflowId} may have started (Temporal did not answer; the job.trigger audit entry names it, and it counts toward the cap for at most ${TRIGGER_START_PENDING_MS / 1000} s from that entry): look for it before triggering again`;
        runId = await temporalCall(unanswered, () => startManualJobRun(temporal, definitionOf(row), to, new Date(), workflowId));
        return { row, runId, triggeredAt };
      }
      await writeAudit(db, { actor: actor.name, action: 'job.trigger', entityType: 'job', entityId: row.id, after: { paused }, team: row.team });
      // Under the job's overlap policy, given with the trigger: given none, the SDK sends ALLOW_ALL, which
      // Temporal neither holds to the policy nor tracks as running, so the check above saw nothing and the
      // schedule's next firing or a second trigger ran the script again beside the first.
      await onSchedule(row, NO_RUN, () => triggerJobSchedule(temporal, row.id, definitionOf(row).schedule.overlap as OverlapPolicy));
      return { row, runId, triggeredAt };
    },

    async backfill(actor: Actor, id: string, body: { start: string; end: string; overlap?: OverlapPolicy | undefined }): Promise<JobRow> {
      const row = await mustAccess(db, actor, 'editor', id);
      if (!row.enabled) throw new ConflictError(`job ${id} is paused: the runs its schedule starts are skipped while it is, so nothing was backfilled; resume it first`);
      const held = heldScheduleReason(definitionOf(row).schedule);
      if (held) throw new ConflictError(`job ${id}: nothing was backfilled, its schedule is ${held}`);
      const start = new Date(body.start);
      const end = new Date(body.end);
      if (start >= end) throw new ValidationError('start must be before end', [{ path: 'end', message: 'must be after start' }]);
      const counted = countScheduledTimes(definitionOf(row).schedule, start, end);
      if (counted.stoppedAt) {
        // The count is bounded in steps (MAX_BACKFILL_COUNT_STEPS): it runs on the API's event loop.
        throw new ValidationError(`the window is too wide to count its scheduled runs; nothing was backfilled`, [
          {
            path: 'end',
            message: `counting the scheduled runs of this window takes more than ${MAX_BACKFILL_COUNT_STEPS} steps of the cron (its day-of-month and day-of-week fields rarely meet): an end at or before ${counted.stoppedAt.toISOString()} fits (${counted.runs} scheduled run(s) from start to there); backfill in several steps`,
          },
        ]);
      }
      if (counted.runs > MAX_BACKFILL_RUNS) {
        throw new ValidationError(`the window holds more than ${MAX_BACKFILL_RUNS} scheduled runs; nothing was backfilled`, [
          { path: 'end', message: `a backfill covers at most ${MAX_BACKFILL_RUNS} scheduled runs (each starts the script on every target): move end closer to start, or backfill in several steps` },
        ]);
      }
      // As for a trigger: recorded, and kept, before Temporal starts anything.
      await writeAudit(db, { actor: actor.name, action: 'job.backfill', entityType: 'job', entityId: row.id, after: body, team: row.team });
      await onSchedule(row, 'nothing was backfilled', () => backfillJobSchedule(temporal, row.id, start, end, body.overlap));
      return row;
    },

    /**
     * A page of a job's runs, newest first, with the first of each run's target results (JOB_RUN_LIST_TARGETS)
     * and the schedule's counters: bounded in bytes (JOB_RUNS_PAGE_BYTES), `nextCursor` leading on.
     */
    async runs(actor: Actor, id: string, page: { limit: number; cursor?: string | undefined }, log: Logger = deps.logger) {
      const row = await mustAccess(db, actor, 'viewer', id);
      const { runs, targets, more } = await listJobRunsPage(db, row.id, { before: page.cursor, limit: page.limit, maxBytes: JOB_RUNS_PAGE_BYTES, targets: JOB_RUN_LIST_TARGETS });
      const byRun = new Map<string, typeof targets>();
      for (const t of targets) byRun.set(t.job_run_id, [...(byRun.get(t.job_run_id) ?? []), t]);
      return { job: row, runs: runs.map((r) => ({ ...r, targets: byRun.get(r.id) ?? [] })), nextCursor: more ? runs.at(-1)!.id : null, schedule: await describe(row.id, log) };
    },

    /** A page of one run's target results, whole, by environment: bounded in bytes (JOB_TARGETS_PAGE_BYTES). */
    async runTargets(actor: Actor, id: string, runId: string, page: { limit: number; cursor?: string | undefined }) {
      const row = await mustAccess(db, actor, 'viewer', id);
      const run = await findJobRun(db, row.id, runId);
      if (!run) throw new NotFoundError(`job ${id} has no run ${runId}`);
      const { targets, more } = await listJobRunTargets(db, run.id, { after: page.cursor, limit: page.limit, maxBytes: JOB_TARGETS_PAGE_BYTES });
      return { job: row, run, targets, nextCursor: more ? targets.at(-1)!.environment : null };
    },
  };
}

export type JobService = ReturnType<typeof jobService>;
