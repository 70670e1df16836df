// Each job is one Temporal Schedule (id `job-<jobId>`) whose action starts `jobWorkflow` on the main
// task queue. Schedules are kept in step with the jobs table: by the API on every change, and by
// reconcileSchedules at worker start and then periodically, which also repairs a schedule that a change
// reached while its database commit did not (the API answered 5xx, the schedule had changed).
//
// Several deployments (each with its own database) may share a Temporal namespace: a team's staging and
// production, or a test stack on a shared dev server. Each schedule's memo names the deployment that created
// it (DEPLOYMENT_MEMO_KEY: the id in its database, src/db/repositories/deployment.ts), and a deployment deletes
// only schedules that carry its own id: never another's, never an unmarked one (made before the marker
// existed). A job whose schedule id another deployment already holds is refused, not taken over.
import { createHash, randomBytes } from 'node:crypto';
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  type Client,
  type ScheduleDescription,
  type ScheduleOptions,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { deploymentId } from '../db/repositories/deployment.js';
import { runningJobRunsBefore } from '../db/repositories/job-runs.js';
import { findJob, listJobs, lockJobId, setScheduleFingerprint } from '../db/repositories/jobs.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { heldScheduleReason, JOB_RUN_TIMEOUT_SECONDS, jobDefinitionSchema, overlapToTemporal, parseDuration, scheduleSpecOf, type JobDefinition, type OverlapPolicy } from '../domain/jobs.js';
import type { Logger } from '../logger.js';
import { closeEndedJobRuns, type JobFailureNotice } from './ended-job-runs.js';
import { jobRunExecutionStatus } from './job-run-execution.js';
import { DEPLOYMENT_MEMO_KEY, jobRunExecution, jobScheduleId, searchAttributes } from './names.js';
import { temporalUnreachable } from './running.js';

export const JOB_WORKFLOW_TYPE = 'jobWorkflow';
/** Workflow ids of a job's runs: `jobrun-<jobId>-<scheduled time>` (Temporal appends the time). */
export const jobRunWorkflowIdPrefix = (jobId: string): string => `jobrun-${jobId}`;

/**
 * The workflow id of the run a job's schedule starts for its time `at`: Temporal appends the nominal time,
 * UTC to the second in RFC 3339, to the action's workflow id.
 */
export const scheduledJobRunWorkflowId = (jobId: string, at: Date): string => `${jobRunWorkflowIdPrefix(jobId)}-${at.toISOString().replace(/\.\d{3}Z$/, 'Z')}`;

/**
 * The execution of the run the job's schedule started for time `at`, when Temporal has it and it is still
 * going (it has its work before it); undefined when Temporal never started one (the schedule paused over
 * that time, or the time outside its catch-up window) or it already closed.
 */
export async function scheduledJobRunGoing(client: Client, jobId: string, at: Date): Promise<{ workflowId: string; runId: string } | undefined> {
  const workflowId = scheduledJobRunWorkflowId(jobId, at);
  try {
    const d = await client.workflow.getHandle(workflowId).describe();
    return d.status.name === 'RUNNING' ? { workflowId, runId: d.runId } : undefined;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return undefined;
    throw err;
  }
}
const SCHEDULE_PREFIX = jobScheduleId('');

export interface ScheduleTarget {
  /** The main worker's task queue, where jobWorkflow runs. */
  taskQueue: string;
  /** This deployment's id (src/db/repositories/deployment.ts), written into each schedule's memo. */
  deploymentId: string;
}

/** The schedule id a job needs belongs to another deployment sharing the Temporal namespace. */
export class ScheduleOwnedElsewhereError extends Error {
  constructor(readonly scheduleId: string) {
    super(`schedule ${scheduleId} belongs to another Self-healing deployment sharing this Temporal namespace; give the job another id`);
    this.name = 'ScheduleOwnedElsewhereError';
  }
}

/** Who created a schedule, from its memo: this deployment, another one, or nobody said (made before the marker). */
export function scheduleOwner(memo: Record<string, unknown> | undefined, ours: string): 'ours' | 'other' | 'unmarked' {
  const owner = memo?.[DEPLOYMENT_MEMO_KEY];
  if (typeof owner !== 'string' || owner === '') return 'unmarked';
  return owner === ours ? 'ours' : 'other';
}


/** The action memo key holding scheduleDigest: the server compiles a cron spec, so a spec read back cannot be compared. */
export const SCHEDULE_DIGEST_MEMO_KEY = 'scheduleDigest';
/** One run should never last longer than a day; a stuck run must not block the schedule forever. */
const RUN_TIMEOUT_MS = JOB_RUN_TIMEOUT_SECONDS * 1000;

function action(job: JobDefinition, target: ScheduleTarget): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow' as const,
    workflowType: JOB_WORKFLOW_TYPE,
    workflowId: jobRunWorkflowIdPrefix(job.id),
    taskQueue: target.taskQueue,
    args: [{ jobId: job.id }],
    memo: { jobId: job.id, jobName: job.name, [SCHEDULE_DIGEST_MEMO_KEY]: scheduleDigest(job) },
    typedSearchAttributes: [{ key: searchAttributes.jobId, value: job.id }],
    workflowRunTimeout: RUN_TIMEOUT_MS,
  };
}

/** A digest of what the job asks of its schedule (spec, policies, run timeout, name), to tell a schedule that drifted. */
export function scheduleDigest(job: JobDefinition): string {
  // The catch-up window as the job gives it (text): the digest of a schedule written before it went to
  // Temporal in milliseconds stays the same.
  const wanted = JSON.stringify([job.name, spec(job), { ...policies(job), catchupWindow: job.schedule.catchupWindow }, RUN_TIMEOUT_MS]);
  return createHash('sha256').update(wanted).digest('hex').slice(0, 32);
}

function spec(job: JobDefinition) {
  const s = scheduleSpecOf(job.schedule);
  return {
    ...(s.intervals ? { intervals: s.intervals } : {}),
    ...(s.cronExpressions ? { cronExpressions: s.cronExpressions } : {}),
    timezone: s.timezone,
  };
}

function policies(job: JobDefinition) {
  // In milliseconds, as the interval: the SDK's own duration parser takes one unit only ("90m", not "1h30m").
  return { overlap: overlapToTemporal[job.schedule.overlap as OverlapPolicy], catchupWindow: parseDuration(job.schedule.catchupWindow)! };
}

/** Paused or running, and why, as the job wants its schedule: paused when disabled, or held (heldScheduleReason). */
function wantedState(job: JobDefinition): { paused: boolean; note: string } {
  const held = heldScheduleReason(job.schedule);
  if (held) return { paused: true, note: held };
  return job.enabled ? { paused: false, note: `job ${job.id}` } : { paused: true, note: 'disabled' };
}

export function jobScheduleOptions(job: JobDefinition, target: ScheduleTarget): ScheduleOptions {
  return {
    scheduleId: jobScheduleId(job.id),
    spec: spec(job),
    action: action(job, target),
    policies: policies(job),
    // The memo is set at creation only (Temporal cannot change it later): the deployment marker is here.
    memo: { jobId: job.id, jobName: job.name, [DEPLOYMENT_MEMO_KEY]: target.deploymentId },
    typedSearchAttributes: [{ key: searchAttributes.jobId, value: job.id }],
    state: wantedState(job),
  };
}

/**
 * A digest of what a schedule does, as Temporal describes it: its spec (cron already compiled into
 * calendars by the server), its overlap and catch-up policies, and the workflow its action starts, where,
 * with what and for how long. Its paused state is not in it (wantedState decides that). Taken right after
 * each of our writes and stored with the job, it tells an edit made elsewhere (the Temporal UI keeps the
 * action's memo, and so our digest of the job) from our own last write.
 */
export function scheduleFingerprint(d: ScheduleDescription): string {
  const a = d.action;
  const action = a.type === 'startWorkflow' ? [a.workflowType, a.taskQueue, a.args, a.workflowRunTimeout, a.workflowExecutionTimeout, a.workflowTaskTimeout] : [a.type];
  const described = JSON.stringify([d.spec, d.policies.overlap, d.policies.catchupWindow, action]);
  return createHash('sha256').update(described).digest('hex').slice(0, 32);
}

/** The fingerprint of the job's schedule as Temporal describes it now. */
const fingerprintNow = async (client: Client, jobId: string): Promise<string> => scheduleFingerprint(await client.schedule.getHandle(jobScheduleId(jobId)).describe());

/**
 * Create the job's schedule; if one already exists (left over by this deployment, or made before the
 * marker), update it to match instead. One that another deployment created is refused. Answers the
 * schedule's fingerprint as written, for the job's row.
 */
export async function createJobSchedule(client: Client, job: JobDefinition, target: ScheduleTarget): Promise<string> {
  try {
    await client.schedule.create(jobScheduleOptions(job, target));
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return updateJobSchedule(client, job, target);
  }
  return fingerprintNow(client, job.id);
}

/**
 * Update the job's schedule to match its definition (`enabled` decides paused); create it when missing.
 * A schedule another deployment created is left as it is (ScheduleOwnedElsewhereError). Answers the
 * schedule's fingerprint as written, for the job's row.
 */
export async function updateJobSchedule(client: Client, job: JobDefinition, target: ScheduleTarget): Promise<string> {
  const scheduleId = jobScheduleId(job.id);
  try {
    await client.schedule.getHandle(scheduleId).update((prev) => {
      if (scheduleOwner(prev.memo, target.deploymentId) === 'other') throw new ScheduleOwnedElsewhereError(scheduleId);
      return {
        spec: spec(job),
        action: action(job, target),
        policies: { ...policies(job), pauseOnFailure: prev.policies.pauseOnFailure },
        state: wantedState(job),
      };
    });
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    await client.schedule.create(jobScheduleOptions(job, target));
  }
  return fingerprintNow(client, job.id);
}

/**
 * Delete the job's schedule; a schedule already gone is fine. One that another deployment created is left
 * alone (answers false): it only shares the id.
 */
export async function deleteJobSchedule(client: Client, jobId: string, ours: string): Promise<boolean> {
  const handle = client.schedule.getHandle(jobScheduleId(jobId));
  try {
    if (scheduleOwner((await handle.describe()).memo, ours) === 'other') return false;
    await handle.delete();
    return true;
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
    return true;
  }
}

export async function pauseJobSchedule(client: Client, jobId: string, note = 'paused through the API'): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).pause(note);
}

export async function resumeJobSchedule(client: Client, jobId: string, note = 'resumed through the API'): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).unpause(note);
}

/**
 * Start one run now under `overlap`, the job's policy: skip drops it while a run of the schedule goes,
 * buffer_one starts it once that run ends, cancel_other cancels that run first, allow_all starts it beside.
 * The policy must be given: with none the SDK sends ALLOW_ALL, and Temporal then neither holds the run to
 * the job's policy nor counts it among the schedule's running workflows.
 */
export async function triggerJobSchedule(client: Client, jobId: string, overlap: OverlapPolicy): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).trigger(overlapToTemporal[overlap]);
}

/** The workflow id of a run started by hand at `at` (startManualJobRun): named before it starts, so the audit entry can name it. */
export function manualJobRunWorkflowId(jobId: string, at: Date): string {
  return `${jobRunWorkflowIdPrefix(jobId)}-manual-${at.toISOString()}-${randomBytes(4).toString('hex')}`;
}

/**
 * Run a paused job once now, outside its schedule. The schedule's own trigger would start a run the
 * worker skips (a run its schedule starts while the job is paused is drift, activities/jobs.ts), so the
 * run is started here, as the schedule's action would, without TemporalScheduledById: a manual run.
 * An enabled allow_all job's trigger starts its run here too: the schedule would name it by the second,
 * and of two triggers in one second drop the second without a word.
 * Its id ends in a random part: named by the millisecond alone, two runs asked for in one millisecond
 * had one id, and Temporal refused the second as already started (a 503 "Temporal is unavailable").
 * Whether the second may run beside the first is the overlap policy's to say (resolveJobTargets).
 */
export async function startManualJobRun(client: Client, job: JobDefinition, target: ScheduleTarget, at: Date, workflowId = manualJobRunWorkflowId(job.id, at)): Promise<string> {
  await client.workflow.start(JOB_WORKFLOW_TYPE, {
    taskQueue: target.taskQueue,
    workflowId,
    args: [{ jobId: job.id }],
    memo: { jobId: job.id, jobName: job.name },
    typedSearchAttributes: [{ key: searchAttributes.jobId, value: job.id }],
    workflowRunTimeout: RUN_TIMEOUT_MS,
  });
  return workflowId;
}

/** Take the actions the schedule would have taken between start and end. */
export async function backfillJobSchedule(client: Client, jobId: string, start: Date, end: Date, overlap?: OverlapPolicy): Promise<void> {
  await client.schedule.getHandle(jobScheduleId(jobId)).backfill({ start, end, ...(overlap ? { overlap: overlapToTemporal[overlap] } : {}) });
}

export interface JobScheduleState {
  paused: boolean;
  note: string | null;
  nextRunTimes: string[];
  recentRuns: { scheduledAt: string; takenAt: string; workflowId: string }[];
  runningWorkflowIds: string[];
  actionsTaken: number;
  skippedOverlap: number;
  missedCatchupWindow: number;
}

export function scheduleState(d: ScheduleDescription): JobScheduleState {
  return {
    paused: d.state.paused,
    note: d.state.note ?? null,
    nextRunTimes: d.info.nextActionTimes.map((t) => t.toISOString()),
    recentRuns: d.info.recentActions.map((a) => ({
      scheduledAt: a.scheduledAt.toISOString(),
      takenAt: a.takenAt.toISOString(),
      workflowId: a.action.workflow.workflowId,
    })),
    runningWorkflowIds: d.info.runningActions.map((a) => a.workflow.workflowId),
    actionsTaken: d.info.numActionsTaken,
    skippedOverlap: d.info.numActionsSkippedOverlap,
    missedCatchupWindow: d.info.numActionsMissedCatchupWindow,
  };
}

/** The schedule's state, or null when it does not exist. */
export async function describeJobSchedule(client: Client, jobId: string): Promise<JobScheduleState | null> {
  try {
    return scheduleState(await client.schedule.getHandle(jobScheduleId(jobId)).describe());
  } catch (err) {
    if (err instanceof ScheduleNotFoundError) return null;
    throw err;
  }
}

/**
 * A run of the job still going that started before run `before` (the one asking; now when absent): with
 * `manualOnly`, only a run started by hand (the schedule knows its own runs, not those). A row left `running`
 * by a run terminated from outside (Temporal's UI, the CLI) or ended by Temporal (its run timeout) does not
 * count: Temporal is asked about each (`client` is called only then), about the execution the row recorded
 * (its stored run id), not the latest of its workflow id. Before, it was asked about the latest: a backfill
 * over the time of a terminated run starts a new execution of the same workflow id (recorded
 * `<workflow id>@<run id>`, insertJobRunStart), which found the terminated run's row, was told that
 * workflow id's latest execution, itself, was running, and skipped itself.
 */
export async function jobRunInProgress(client: () => Client, db: Kysely<Database>, q: { jobId: string; before?: string | undefined; manualOnly: boolean }): Promise<string | undefined> {
  const since = new Date(Date.now() - RUN_TIMEOUT_MS - 60_000);
  const rows = await runningJobRunsBefore(db, { ...q, since, limit: 5 });
  if (rows.length === 0) return undefined;
  const temporal = client();
  for (const row of rows) if ((await jobRunExecutionStatus(temporal, db, row)).status === 'RUNNING') return row.id;
  return undefined;
}

/**
 * The job's runs in progress, by workflow id, as Temporal says of each (describe, read from its history,
 * not its list), at most `limit`: the trigger's cap (MAX_TRIGGER_RUNS_IN_PROGRESS). Asked about: the
 * runs `recent` names first (those the API started lately: Temporal's list of running workflows lags a
 * start), then its list of the job's running workflows (SelfhealJobId: the schedule's runs and those started
 * by hand alike), then the runs the jobs tables record as going (as jobRunInProgress reads them). A workflow
 * ended is not counted, nor one not found, unless its trigger is `pending` (asked for so lately that its
 * start may still be on its way to Temporal). `db`: the caller's transaction, when it holds one (a
 * second connection could wait for the pool forever: the embedded database's pool has one).
 */
export async function jobRunsRunning(client: Client, db: Kysely<Database>, q: { jobId: string; recent: readonly { runId: string; pending: boolean }[]; limit: number }): Promise<string[]> {
  const running: string[] = [];
  const asked = new Set<string>();
  const ask = async (workflowId: string, pending = false): Promise<boolean> => {
    if (asked.has(workflowId)) return running.length < q.limit;
    asked.add(workflowId);
    try {
      if ((await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING') running.push(workflowId);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
      if (pending) running.push(workflowId);
    }
    return running.length < q.limit;
  };
  for (const r of q.recent) if (!(await ask(r.runId, r.pending))) return running;
  const query = `SelfhealJobId = '${q.jobId.replace(/['\\]/g, '')}' AND WorkflowType = '${JOB_WORKFLOW_TYPE}' AND ExecutionStatus = 'Running'`;
  for await (const w of client.workflow.list({ query, pageSize: 100 })) if (!(await ask(w.workflowId))) return running;
  const rows = await runningJobRunsBefore(db, { jobId: q.jobId, manualOnly: false, since: new Date(Date.now() - RUN_TIMEOUT_MS - 60_000), limit: 50 });
  for (const row of rows) if (!(await ask(jobRunExecution(row.id).workflowId))) return running;
  return running;
}

/**
 * What of the schedule disagrees with the job, in words; empty when they agree. `fingerprint`: the job's
 * stored fingerprint of our last write of the schedule (null when none was taken: nothing to compare).
 */
export function scheduleDrift(existing: ScheduleDescription, job: JobDefinition, target: ScheduleTarget, fingerprint: string | null = null): string[] {
  const drift: string[] = [];
  const wanted = wantedState(job);
  if (existing.state.paused !== wanted.paused) {
    drift.push(existing.state.paused ? 'paused while the job is enabled' : job.enabled ? 'running while its interval is below the minimum' : 'running while the job is paused');
  }
  if (existing.action.taskQueue !== target.taskQueue) drift.push(`starts runs on task queue ${existing.action.taskQueue}, not ${target.taskQueue}`);
  if (existing.action.memo?.[SCHEDULE_DIGEST_MEMO_KEY] !== scheduleDigest(job)) drift.push('spec or policies differ from the job');
  else if (fingerprint !== null && scheduleFingerprint(existing) !== fingerprint) drift.push('spec, policies or action edited outside Self-healing (in the Temporal UI?)');
  return drift;
}

export interface ReconcileResult {
  /** Live jobs whose missing schedule was created. */
  created: string[];
  /**
   * Live jobs whose schedule had drifted from the job (paused state, spec, policies, task queue) and was
   * updated; a job without a stored fingerprint has its schedule written once, and is here only when that
   * write changed it.
   */
  updated: string[];
  /** Orphaned schedules (no live job) this deployment created, deleted. */
  deleted: string[];
  /** Live jobs whose stored definition is invalid (no schedule created). */
  invalid: string[];
  /** Orphaned `job-*` schedules left alone: another deployment's, or unmarked (made before the marker). */
  keptUnowned: string[];
  /** Live jobs whose schedule id is held by another deployment's schedule. */
  conflicts: string[];
  /** Live jobs whose schedule is held paused: stored with an interval under the minimum (heldScheduleReason). */
  held: string[];
  /** Jobs (live, or orphaned schedules) whose turn failed with an error other than Temporal being unreachable; the others still had theirs. */
  failed: string[];
}

/**
 * One job's turn in the reconcile: an error stays that job's (logged, in `failed`), and the rest of the
 * pass goes on (found in review: one schedule Temporal refused for good stopped every later job's repair
 * and every orphan's deletion, at each pass). Temporal unreachable ends the pass, as before.
 */
async function ownTurn(jobId: string, result: ReconcileResult, log: Logger, turn: () => Promise<void>): Promise<void> {
  try {
    await turn();
  } catch (err) {
    if (temporalUnreachable(err)) throw err;
    result.failed.push(jobId);
    log.error({ jobId, scheduleId: jobScheduleId(jobId), err: { message: (err as Error).message } }, 'job schedule not reconciled; the other jobs were');
  }
}

/**
 * At worker start and then periodically: every live job gets its schedule (created when missing, paused
 * when the job is disabled), an existing schedule that disagrees with its job (paused while the job is
 * enabled or the reverse, another spec or policy, another task queue, an edit since our last write) is
 * updated to match the job, one whose job has no stored fingerprint (saved before they were kept) is
 * written from the job once, and every `job-*` schedule this deployment created whose job is gone is
 * deleted. Schedules of other deployments in the namespace are never changed; unmarked ones are never
 * deleted. Each change is logged.
 */
export async function reconcileSchedules(client: Client, db: Kysely<Database>, logger: Logger, target: { taskQueue: string }): Promise<ReconcileResult> {
  const log = logger.child({ component: 'schedules' });
  const ours = await deploymentId(db);
  const scheduleTarget: ScheduleTarget = { taskQueue: target.taskQueue, deploymentId: ours };
  const rows = await listJobs(db);
  const live = new Set(rows.map((r) => r.id));
  const result: ReconcileResult = { created: [], updated: [], deleted: [], invalid: [], keptUnowned: [], conflicts: [], held: [], failed: [] };

  // Each job under its lock, read again there: the API changes a job and its schedule under the same
  // lock, so a schedule is never written from a row read before such a change (a pause, resume, edit or
  // delete landing between the listing above and this job's turn).
  for (const listed of rows) {
    await ownTurn(listed.id, result, log, () => inTransaction(db, async (trx) => {
      await lockJobId(trx, listed.id);
      const row = await findJob(trx, listed.id);
      if (!row) return; // deleted meanwhile: its schedule went with it, or the pass below removes it
      const scheduleId = jobScheduleId(row.id);
      let existing: ScheduleDescription | undefined;
      try {
        existing = await client.schedule.getHandle(scheduleId).describe();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
      if (existing && scheduleOwner(existing.memo, ours) === 'other') {
        result.conflicts.push(row.id);
        log.error({ jobId: row.id, scheduleId }, 'job schedule id is held by another deployment sharing this Temporal namespace; the job does not run here');
        return;
      }
      const parsed = jobDefinitionSchema.safeParse(row.definition);
      if (!parsed.success) {
        result.invalid.push(row.id);
        log.error({ jobId: row.id, scheduleId, issues: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) }, 'job definition invalid; schedule not created or updated');
        return;
      }
      const job = { ...parsed.data, id: row.id, enabled: row.enabled } as JobDefinition;
      const held = heldScheduleReason(job.schedule);
      if (held) result.held.push(row.id);
      if (!existing) {
        await setScheduleFingerprint(trx, row.id, await createJobSchedule(client, job, scheduleTarget));
        result.created.push(row.id);
        log.info({ jobId: row.id, scheduleId }, 'created missing job schedule');
        return;
      }
      const drift = scheduleDrift(existing, job, scheduleTarget, row.schedule_fingerprint);
      if (drift.length === 0 && row.schedule_fingerprint !== null) return;
      // No fingerprint (saved before they were kept): nothing tells a hand edit from our own last write, so
      // the schedule is written from the job once, as a drift is repaired (paused as the job says), and that
      // write's fingerprint kept. Taking the schedule as it stood kept an edit made before the upgrade for good.
      const fingerprint = await updateJobSchedule(client, job, scheduleTarget);
      await setScheduleFingerprint(trx, row.id, fingerprint);
      if (drift.length === 0) {
        if (fingerprint === scheduleFingerprint(existing)) return; // it was the job's schedule already
        drift.push('spec, policies or action differ from the job (edited outside Self-healing before fingerprints were kept)');
      }
      result.updated.push(row.id);
      log.warn({ jobId: row.id, scheduleId, drift }, 'job schedule disagreed with its job; updated to match the job');
      if (held && !existing.state.paused) log.error({ jobId: row.id, scheduleId, reason: held }, 'job schedule paused: its interval is below the minimum');
    }));
  }

  for await (const s of client.schedule.list()) {
    if (!s.scheduleId.startsWith(SCHEDULE_PREFIX)) continue;
    const jobId = s.scheduleId.slice(SCHEDULE_PREFIX.length);
    if (live.has(jobId)) continue;
    // Under the job's lock, and only if no live job holds the id now: one created since the listing
    // (its schedule is made before its row commits) keeps its schedule.
    await ownTurn(jobId, result, log, () => inTransaction(db, async (trx) => {
      await lockJobId(trx, jobId);
      if (await findJob(trx, jobId)) return;
      // The listing is eventually consistent: the memo that decides is the one describe reads now.
      let owner: ReturnType<typeof scheduleOwner>;
      try {
        owner = scheduleOwner((await client.schedule.getHandle(s.scheduleId).describe()).memo, ours);
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return;
        throw err;
      }
      if (owner !== 'ours') {
        result.keptUnowned.push(jobId);
        if (owner === 'unmarked') log.info({ jobId, scheduleId: s.scheduleId }, 'job schedule without a live job left alone: it names no deployment (made before deployment markers, or not by Self-healing)');
        return;
      }
      if (await deleteJobSchedule(client, jobId, ours)) {
        result.deleted.push(jobId);
        log.info({ jobId, scheduleId: s.scheduleId }, 'deleted orphaned job schedule');
      }
    }));
  }
  return result;
}

/**
 * Reconcile now, then every `everySeconds` until stopped; one reconcile at a time, and a failed one is
 * logged and tried again at the next tick (jobs keep their current schedules meanwhile). Each pass then
 * records the runs whose Temporal execution ended without recording it (closeEndedJobRuns), on its own: a
 * schedule reconcile that failed does not keep it from its turn, nor the reverse. `notify` sends the failure
 * notice of a run that pass records failed (the worker gives it: src/worker.ts keepJobSchedulesReconciled).
 */
export function keepSchedulesReconciled(
  client: Client,
  db: Kysely<Database>,
  logger: Logger,
  target: { taskQueue: string },
  everySeconds: number,
  opts: { notify?: JobFailureNotice | undefined } = {},
): { first: Promise<void>; stop: () => Promise<void> } {
  /** The reconcile going on, if any: a tick meanwhile joins it rather than starting another. */
  let running: Promise<void> | undefined;
  /** Where the next pass over runs left `running` goes on (closeEndedJobRuns' `next`). */
  let after: { startedAt: Date; id: string } | undefined;
  const once = (): Promise<void> =>
    (running ??= reconcileSchedules(client, db, logger, target)
      .then(
        () => undefined,
        (err: unknown) => logger.error({ err: { message: (err as Error).message } }, 'job schedule reconcile failed; jobs keep their current schedules until the next one'),
      )
      .then(() => closeEndedJobRuns(client, db, logger, { after, notify: opts.notify }))
      .then(
        (r) => {
          after = r.next;
        },
        (err: unknown) => logger.error({ err: { message: (err as Error).message } }, 'job runs left running not checked with Temporal; tried again at the next reconcile'),
      )
      .finally(() => {
        running = undefined;
      }));
  const first = once();
  const timer = setInterval(() => void once(), everySeconds * 1000);
  timer.unref();
  return {
    first,
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}
