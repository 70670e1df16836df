// Activities of the scheduled-job workflow: resolve targets, record runs and per-target results, run a
// script over SSH on an environment's management VM, notify on failure (each channel once per run, through
// side_effects: a retried notice never sends a second message).
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { optionalTsToDate } from '@temporalio/common/lib/time.js';
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { environmentsForTargets } from '../src/db/repositories/environment-settings.js';
import {
  backfillRequestedOver,
  databaseClock,
  type DatabaseAheadMs,
  earlierScheduledRunsStartedAfter,
  findJobDefinition,
  findJobStanding,
  earlierRunsDecidedSince,
  findLiveJob,
  finishJobRun,
  insertClaimedJobRun,
  insertJobRunStart,
  jobRunCatchUpState,
  jobRunTeam,
  jobSchedulesReplacedSince,
  laterScheduledRuns,
  revokeEarlierClaims,
  setJobRunCatchUpDecision,
  triggerRequestedAt,
  upsertTargetResult,
  withJobCatchUpLock,
} from '../src/db/repositories/job-runs.js';
import { whilePostgresUnavailable } from '../src/db/unavailable.js';
import { heldScheduleReason, jobDefinitionSchema, jobRunStopReasonOf, jobScriptArgs, offEverySchedulesGrid, previousScheduledTime, runTargetCountProblem, runTimeoutProblem, type JobDefinition } from '../src/domain/jobs.js';
import { resolveUserSecretRef } from '../src/executors/secrets.js';
import type { Logger } from '../src/logger.js';
import { JOB_OUTPUT_CHARS, type JobRunStatus, type JobRunSummary, type TargetStatus } from '../src/contracts/jobs.js';
import { errorText, recordableExitCode, tailText } from '../src/domain/agent-result.js';
import { slackEscape } from '../src/domain/template.js';
import { saasRetryPauses } from '../src/domain/retry-pause.js';
import { agentTaskQueue } from '../src/contracts/names.js';
import { jobRunInProgress, scheduledJobRunGoing } from '../src/temporal/schedules.js';
import { toFailure, type Integrations } from './actions.js';
import { remoteScriptPath, runOnManagementVm, type ScriptActionResult } from './script-result.js';
import { sendEmailInRounds } from './email-rounds.js';
import { afterAskedPause, createSideEffects, usesRetryPauses, type SideEffectSpec } from './side-effects.js';

export interface JobActivityDeps {
  db: Kysely<Database>;
  logger: Logger;
  integrations?: Integrations | undefined;
  env?: NodeJS.ProcessEnv;
  /** The Temporal client asked whether an earlier run still goes (default: the worker's, in the activity's context). */
  temporal?: () => Client;
  /**
   * When Temporal scheduled the current attempt of the activity asking, by Temporal's clock: what a run's
   * start record (recordJobRunStart: job_runs.temporal_started_at) and a catch-up decision to run are
   * stamped with, and the time up to which a run asks Temporal for later runs started (catchUpSuperseded).
   * Default: the activity's info (`currentAttemptScheduledTimestampMs`, set by the Temporal server). Tests
   * outside an activity give it.
   */
  attemptScheduledAt?: () => Date;
  /**
   * Temporal's clock when it handed the current attempt of the activity asking to this worker (its pending
   * activity's `lastStartedTime`): the moment the activity began, to which the catch-up rule adds the time
   * the activity has taken since by this host's monotonic clock (performance.now()) before it reads the
   * database's, to read the `job.trigger`, `job.backfill` and `job.update` audit records (stamped by the
   * database) by Temporal's clock (databaseAheadOfTemporal). Default: asked of Temporal (at most
   * DESCRIBE_DEADLINE_MS; else the attempt's scheduled time); when a test gives `attemptScheduledAt`, that,
   * read when the rule asks.
   */
  temporalClock?: () => Promise<Date>;
}

export type { JobRunStatus, JobRunSummary, TargetStatus };

export interface JobTarget {
  environment: string;
  via: 'agent' | 'ssh';
  /** The agent's task queue (via agent). */
  taskQueue?: string | undefined;
  /** The job's team (via agent), which the agent checks (SELFHEAL_AGENT_TEAMS). Absent in older plans. */
  team?: string | undefined;
  /** Set when the target cannot run at all (unknown environment, no management VM). */
  problem?: string | undefined;
}

/**
 * A run that starts no target: `skipped` says why. `failed`: the job cannot run as it stands (its matched
 * environments are more than a run may hold, or could not finish within a run's limit), so the run is recorded failed and, with `notify`,
 * its failure notice sent; without it the skip is harmless (paused, an overlap, nothing matched).
 */
export interface JobRunNotStarted {
  skipped: string;
  failed?: boolean;
  name?: string;
  notify?: boolean;
}

export interface JobRunPlan {
  jobId: string;
  name: string;
  via: 'agent' | 'ssh';
  script: string;
  args: string[];
  timeoutSecondsPerTarget: number;
  agentPickupTimeoutSeconds: number;
  concurrency: number;
  notify: boolean;
  targets: JobTarget[];
  /**
   * When the job's row was last changed, as read when the run resolved its targets: a pause after it shows
   * as a later change (jobRunStopReason). Absent in the plans of runs resolved before it was kept.
   */
  changedAt?: string | undefined;
}

export interface TargetOutcome {
  jobRunId: string;
  environment: string;
  via: 'agent' | 'ssh';
  status: TargetStatus;
  exitCode?: number | null | undefined;
  outputExcerpt?: string | undefined;
  error?: string | undefined;
  startedAt: string;
  finishedAt: string;
}

/** Stored excerpt size: the end of the output (scripts print their RESULT line last). */
export const STORED_OUTPUT_CHARS = JOB_OUTPUT_CHARS;

function tail(given: string | undefined, max = STORED_OUTPUT_CHARS): string | null {
  return given === undefined ? null : tailText(given, max); // Postgres text cannot hold NUL
}

/** How many of the latest times of its schedule a run of a catch-up asks Temporal about (startedLaterRun). */
const LATER_TIMES_ASKED = 5;
/** How long before a run's time a schedule edit may have been saved yet still have started it (catchUpSuperseded). */
const SCHEDULE_EDIT_MARGIN_MS = 3_600_000;

/** Failure types the notice activity is not retried on (workflows/job.ts: externalApiOptions). */
const FINAL_TYPES = new Set(['NonRetryableError', 'ValidationError', 'SecretResolutionError']);

/** Whether Temporal would retry the activity after `err`. */
function retryable(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return !err.nonRetryable && !FINAL_TYPES.has(err.type ?? '');
  return !(err instanceof Error && FINAL_TYPES.has(err.name));
}

/** How long the catch-up rule waits for Temporal to describe the deciding run's workflow (attemptStartedAt). */
export const DESCRIBE_DEADLINE_MS = 3_000;

/**
 * Temporal's reading of a moment (`at`) and this host's monotonic clock (performance.now()) at that moment
 * (`mark`): the catch-up rule adds the time passed since by the latter before comparing with the database's.
 */
interface TemporalReading {
  at: Date;
  mark: number;
}

/**
 * When Temporal handed the current attempt of the activity calling to its worker, by Temporal's clock: its
 * pending activity's `lastStartedTime` in its workflow's description (moments before the activity began,
 * where the time the attempt was scheduled may lie minutes back: the worker's activity slots all taken).
 * `scheduled` (that time) when Temporal gives none, or gives no answer within `deadlineMs` (logged: the
 * offset then counts the attempt's wait for a worker as the database's clock ahead).
 */
export async function attemptStartedAt(
  ctx: { info: Pick<Context['info'], 'workflowExecution' | 'activityId' | 'attempt'>; client: Pick<Client, 'workflow' | 'withDeadline'> },
  scheduled: () => Date,
  logger: Logger,
  deadlineMs = DESCRIBE_DEADLINE_MS,
): Promise<{ at: Date; source: 'describe' | 'scheduled' }> {
  const { info, client } = ctx;
  const execution = info.workflowExecution;
  if (!execution) return { at: scheduled(), source: 'scheduled' };
  let timer: NodeJS.Timeout | undefined;
  try {
    const d = await Promise.race([
      client.withDeadline(Date.now() + deadlineMs, () => client.workflow.getHandle(execution.workflowId, execution.runId).describe()),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
      }),
    ]);
    const mine = d.raw.pendingActivities?.find((a) => a.activityId === info.activityId && a.attempt === info.attempt);
    const at = optionalTsToDate(mine?.lastStartedTime);
    if (at) return { at, source: 'describe' };
    logger.warn({ workflowId: execution.workflowId }, "catch-up rule: Temporal's description of the run has no start for this attempt; the database's clock is measured against the attempt's scheduled time");
  } catch (err) {
    logger.warn({ workflowId: execution.workflowId, err: err instanceof Error ? err.message : String(err) }, "catch-up rule: Temporal did not describe the run; the database's clock is measured against the attempt's scheduled time");
  } finally {
    clearTimeout(timer);
  }
  return { at: scheduled(), source: 'scheduled' };
}

export function createJobActivities(deps: JobActivityDeps) {
  const env = deps.env ?? process.env;
  const { db } = deps;
  const effects = createSideEffects({ db, logger: deps.logger });
  /** Temporal's time of the attempt asking (JobActivityDeps.attemptScheduledAt): the catch-up rule's only clock. */
  const temporalNow = deps.attemptScheduledAt ?? (() => new Date(Context.current().info.currentAttemptScheduledTimestampMs));
  /** Temporal's reading of the moment the activity began (`entered`, performance.now() then), or of now in tests. */
  const temporalReading = async (entered: number): Promise<TemporalReading> => {
    if (deps.temporalClock) return { at: await deps.temporalClock(), mark: entered };
    if (deps.attemptScheduledAt) return { at: temporalNow(), mark: performance.now() };
    const r = await attemptStartedAt(Context.current(), temporalNow, deps.logger);
    deps.logger.debug({ source: r.source }, "catch-up rule: Temporal's clock read");
    return { at: r.at, mark: entered };
  };

  /**
   * How far the database's clock is ahead of Temporal's (negative: behind), in milliseconds. Temporal's
   * reading is of the moment the activity began (temporalReading); the time the activity took since (its
   * reads, its round trips to Temporal, the describe itself), by this host's monotonic clock, is added to it
   * before it is compared with the database's clock read through `on` (the catch-up lock's transaction: a
   * pool of one connection has no other). Left over: the moments between Temporal handing the attempt over
   * and the activity beginning, and half the database's round trip. The audit records the catch-up rule
   * reads (a Run now's, a backfill's, a schedule edit's) are stamped by the database's clock and compared
   * with times Temporal gave runs: read by Temporal's clock through this, as the rest of the rule is (with
   * the two clocks minutes apart, a Run now landing on one of its schedule's times was taken for a run of a
   * catch-up and skipped, and a backfill's run for a time just passed too).
   */
  async function databaseAheadOfTemporal(on: Kysely<Database>, entered: number): Promise<DatabaseAheadMs> {
    const temporal = await temporalReading(entered);
    const before = performance.now();
    const database = await databaseClock(on);
    // The database read its clock somewhere within the round trip: its middle.
    const elapsed = (before + performance.now()) / 2 - temporal.mark;
    return database.getTime() - (temporal.at.getTime() + elapsed);
  }

  /**
   * Answers the run's id: `jobRunId`, or its own when another execution of that workflow id holds it
   * (insertJobRunStart). The start is stamped by Temporal's clock too (temporal_started_at): the buffer_one
   * catch-up rule compares it with a later run's schedule time.
   */
  async function recordJobRunStart(input: { jobRunId: string; runId: string; jobId: string; trigger: string; scheduledAt?: string | undefined }): Promise<string> {
    return insertJobRunStart(db, { id: input.jobRunId, runId: input.runId, jobId: input.jobId, trigger: input.trigger, scheduledAt: input.scheduledAt ?? null, temporalStartedAt: temporalNow() });
  }

  /**
   * `trigger` 'schedule': a run its schedule started while the job is paused is skipped (the schedule drifted).
   * Unless the job's overlap policy is allow_all, a run that finds an earlier one of the job still going is
   * skipped: a scheduled run finding one started by hand (which the schedule does not know of), a run started
   * by hand finding any (two asked for at once, or the schedule's while the job was paused).
   */
  async function resolveJobTargets(input: { jobId: string; trigger?: string; jobRunId?: string }): Promise<JobRunPlan | JobRunNotStarted> {
    // When the activity began: Temporal's reading of it (the attempt handed to this worker) is compared with
    // the database's clock read later, the time between measured here (catchUpSuperseded).
    const entered = performance.now();
    // Read first: a pause landing between the two reads then shows as a change since, and stops the run.
    const standing = await findJobStanding(db, input.jobId);
    const row = await findLiveJob(db, input.jobId);
    if (!row) return { skipped: `job ${input.jobId} no longer exists` };
    if (input.trigger === 'schedule' && !row.enabled) return { skipped: `job ${input.jobId} is paused; its schedule should not have started this run` };
    const parsed = jobDefinitionSchema.safeParse(row.definition);
    if (!parsed.success) throw ApplicationFailure.nonRetryable(`stored definition of job ${input.jobId} is not valid: ${parsed.error.message}`, 'ValidationError');
    const job = { ...parsed.data, id: row.id } as JobDefinition;
    // A job stored before the minimum interval: its schedule is held paused, and a run it starts anyway
    // (the schedule not reconciled yet) does nothing. Runs asked for by hand still run.
    const held = input.trigger === 'schedule' ? heldScheduleReason(job.schedule) : undefined;
    if (held) return { skipped: `job ${input.jobId} is ${held}` };
    if (input.trigger === 'schedule' && (job.schedule.overlap === 'allow_all' || job.schedule.overlap === 'buffer_one') && input.jobRunId !== undefined) {
      const superseded = await catchUpSuperseded(job, input.jobRunId, entered);
      if (superseded) return { skipped: superseded };
    }
    if (job.schedule.overlap !== 'allow_all') {
      const temporal = deps.temporal ?? (() => Context.current().client);
      const going = await jobRunInProgress(temporal, db, { jobId: job.id, before: input.jobRunId, manualOnly: input.trigger === 'schedule' });
      if (going) return { skipped: `run ${going} of job ${job.id}${input.trigger === 'schedule' ? ', started by hand,' : ''} is still in progress and the job's overlap policy is ${job.schedule.overlap}: this run did not start` };
    }

    const t = job.targets;
    // A job reaches only its own team's environments (issue 24): another team's is "not registered" here.
    const rows = await environmentsForTargets(db, row.team, t);
    const byName = new Map(rows.map((r) => [r.name, r]));
    const names = 'environments' in t ? [...new Set(t.environments)] : rows.map((r) => r.name);
    // A selector or `all` that grew past what one run may hold (MAX_JOB_RUN_TARGETS) is not begun: Temporal
    // would end the run once its history passed its limits, midway, the rest of its targets never run, its
    // row left `running` and no notice sent. It is the job's failure, recorded and notified as below.
    const tooMany = runTargetCountProblem(names.length);
    if (tooMany) return { skipped: `job ${job.id} did not start: ${tooMany}`, failed: true, name: job.name, notify: Boolean(job.notifyOnFailure?.slack || job.notifyOnFailure?.email) };

    const targets: JobTarget[] = names.map((name) => {
      const e = byName.get(name);
      if (!e) return { environment: name, via: job.via, problem: `environment ${name} is not registered in team ${row.team}` };
      if (job.via === 'ssh') {
        return e.ssh ? { environment: name, via: 'ssh' } : { environment: name, via: 'ssh', problem: `environment ${name} has no management VM (ssh) configured` };
      }
      return { environment: name, via: 'agent', taskQueue: e.agent_task_queue ?? agentTaskQueue(name), team: row.team };
    });
    // A selector nobody matches (a label mistyped, a team without environments) checks nothing: say so on
    // every run rather than report it succeeded.
    if (targets.length === 0) return { skipped: `no environment of team ${row.team} matches the job's targets (${'all' in t ? 'all' : `selector ${JSON.stringify('selector' in t ? t.selector : {})}`})` };
    // A save checked one target of a selector or `all` against the run's 24 h limit; the run knows how many
    // it matched. One that cannot finish in time is not begun: Temporal would end it midway, its remaining
    // targets never run and no failure notice sent, the run left "running" in our table.
    // It is the job's failure, not a harmless skip: with `failed` the run is recorded failed and its failure
    // notice sent (JOB_CANNOT_FINISH_PATCH); `skipped` stays for a workflow of before, which records it so.
    const tooLong = 'environments' in t ? undefined : runTimeoutProblem(job, targets.filter((x) => !x.problem).length);
    if (tooLong) return { skipped: `job ${job.id} did not start: ${tooLong}`, failed: true, name: job.name, notify: Boolean(job.notifyOnFailure?.slack || job.notifyOnFailure?.email) };
    return {
      jobId: job.id,
      name: job.name,
      via: job.via,
      script: job.script,
      args: jobScriptArgs(job),
      timeoutSecondsPerTarget: job.timeoutSecondsPerTarget,
      agentPickupTimeoutSeconds: job.agentPickupTimeoutSeconds,
      concurrency: job.concurrency,
      notify: Boolean(job.notifyOnFailure?.slack || job.notifyOnFailure?.email),
      targets,
      changedAt: standing?.changedAt,
    };
  }

  /**
   * Why a scheduled run starts nothing when it is one run too many of a catch-up after an outage (the worker
   * down over several due times, whose workflows Temporal started and held on the task queue; or Temporal
   * itself down, the missed times within `catchupWindow` each taken when it is back). Undefined when it goes on.
   *
   * Each run of the job decides in turn, under the job's catch-up lock (withJobCatchUpLock), and writes its
   * decision on its row (`catch_up_decision`) in the transaction that read the others' (ordered and atomic:
   * two runs never decide on the same reading).
   * - allow_all: Temporal starts a run for every time missed, all at once, in no order. A run skips when a
   *   run of a later time of the schedule will run: one that decided 'run', or was 'claimed' (an earlier
   *   run skipped for it). Else, when a later run has recorded its start without deciding yet, or Temporal
   *   has started the run of a later time of the schedule (up to the latest time passed) that has not
   *   recorded its start yet, it claims the latest such run (which then runs when it comes, whatever run of
   *   a still later time has not decided) and skips. It skips too when a run of an earlier time decided to
   *   run at or after its time (by Temporal's clock: the decision is stamped with when Temporal scheduled the
   *   activity attempt that took it, never the database's clock): that run did this time's work (Temporal itself
   *   down starts the runs of the times missed one after another, and one may decide before the next one
   *   starts). Else it runs, and revokes the claims on earlier runs not decided yet (they skip when they
   *   come). So of one catch-up exactly one run runs (the latest time's when Temporal started them
   *   together), whatever order they come in, and a run skips only for a run sure to run or that ran; a run
   *   merely late (a worker lagging behind) whose successor Temporal did not start (the schedule paused,
   *   the time outside the catch-up window) or has not decided to run runs.
   * - buffer_one: Temporal takes the first time missed and buffers the next (the rest are skipped as
   *   overlapping), which starts once the first ended. A run for whose time an earlier-scheduled run of the
   *   schedule, of its previous time or later, started only after it (late past it, and not skipped) is
   *   skipped: that run did this time's work. Its start by Temporal's clock (recordJobRunStart's stamp), like
   *   this run's time: the database's clock (`started_at`) ahead of Temporal's made an on-time run look late. A backfilled run of an older time (yesterday's) did not.
   * skip takes one time missed and cancel_other the latest (the run it cancels stops before any target) on
   * their own. A run whose time is not one of its schedule's, nor of the schedules the job had before edits
   * since (a run queued under the old schedule over an edit is one of a catch-up), is never one of a
   * catch-up: Temporal names a run an operator asked for through the schedule ("Run now",
   * trigger-immediately) by the time it was asked for, to the second (the TemporalScheduledStartTime it
   * gives the run holds no milliseconds: measured on the dev server). Its `job.trigger` audit record near
   * the run's time says so too, for a Run now landing on one of the schedule's times to the second. A run a backfill asked for through the API (its window holds the
   * run's time) keeps its meaning and runs, whatever the times past. Those audit records are stamped by the
   * database's clock, and read by Temporal's (databaseAheadOfTemporal), as every other time here.
   */
  async function catchUpSuperseded(job: JobDefinition, jobRunId: string, entered: number): Promise<string | undefined> {
    const state = await jobRunCatchUpState(db, jobRunId);
    const scheduledAt = state?.scheduledAt;
    if (!scheduledAt) return undefined;
    const allowAll = job.schedule.overlap === 'allow_all';
    // The stamp of a decision to run, by Temporal's clock like the schedule times it is compared with
    // (earlierRunsDecidedSince): when Temporal scheduled this attempt, at or before the decision.
    const decidedAt = temporalNow();
    // Asked of Temporal before the lock (a round trip not held under it): the run of a later time it started
    // that has not recorded its start yet. Only when a later time has passed by Temporal's clock (at
    // `decidedAt`), and this run decided nothing.
    const successor = allowAll && state.decision === null ? await startedLaterRun(job, scheduledAt, decidedAt) : undefined;
    return withJobCatchUpLock(db, job.id, async (trx) => {
      // The audit records below are read by Temporal's clock too: the offset is measured (a round trip to
      // Temporal) only when one is to be compared, once.
      let measured: Promise<DatabaseAheadMs> | undefined;
      const ahead = () => (measured ??= databaseAheadOfTemporal(trx, entered));
      const mine = (await jobRunCatchUpState(trx, jobRunId))?.decision ?? null;
      // Asked only of a run about to skip: one off its schedule's times (a Run now), or a backfill's. Its
      // schedule's times: the current one's and those of the schedules it had before edits since a while
      // before this run's time (an hour's margin for an edit reaching Temporal late), whose runs may be
      // queued still (the worker down over an edit).
      const offGrid = async () =>
        offEverySchedulesGrid([job.schedule, ...(await jobSchedulesReplacedSince(trx, job.id, new Date(scheduledAt.getTime() - SCHEDULE_EDIT_MARGIN_MS), await ahead()))], scheduledAt);
      const exempt = async () => (await offGrid()) || (await backfillRequestedOver(trx, job.id, scheduledAt, await ahead())) || (await triggerRequestedAt(trx, job.id, scheduledAt, await ahead()));
      if (!allowAll) {
        const since = previousScheduledTime(job.schedule, scheduledAt);
        for (const earlier of await earlierScheduledRunsStartedAfter(trx, { jobId: job.id, id: jobRunId, scheduledAt, since })) {
          if (await backfillRequestedOver(trx, job.id, earlier.scheduledAt, await ahead())) continue;
          if (await exempt()) break;
          await setJobRunCatchUpDecision(trx, jobRunId, { decision: 'skip' });
          return `run ${earlier.id} of job ${job.id}, scheduled before this run's time (${scheduledAt.toISOString()}), started only after it (a catch-up after an outage) and did its work: with overlap buffer_one, one run takes the times missed; this run did not start`;
        }
        await setJobRunCatchUpDecision(trx, jobRunId, { decision: 'run', at: decidedAt });
        return undefined;
      }
      const run = async () => {
        if (mine === 'run') return undefined;
        await setJobRunCatchUpDecision(trx, jobRunId, { decision: 'run', at: decidedAt });
        // It does the work of earlier times claimed and not decided yet: each skips when it comes.
        await revokeEarlierClaims(trx, { jobId: job.id, scheduledAt });
        return undefined;
      };
      const skipFor = async (later: { id: string; scheduledAt: Date }, how: string) => {
        await setJobRunCatchUpDecision(trx, jobRunId, { decision: 'skip' });
        return `a later scheduled time of job ${job.id} (${later.scheduledAt.toISOString()}) had passed too, and its run ${later.id} ${how}, when this run of ${scheduledAt.toISOString()} started (a catch-up after an outage): with overlap allow_all, only the run of the latest time missed runs; this run did not start`;
      };
      // A run that decided to run keeps to it when its answer is asked again (a retried activity).
      if (mine === 'run') return run();
      // A run of an earlier time that decided to run at or after this run's time did this time's work
      // (Temporal itself down: it starts the runs of the times missed one after another, and one may decide
      // before the next one starts). Both by Temporal's clock: the database's or a worker's may be minutes
      // apart from it. The stamp is when Temporal scheduled the attempt that decided, at or before the
      // decision: a run counted here surely decided after this run's time came; one whose attempt was
      // scheduled before it but that decided after is not counted, and this run runs too (a run too many,
      // never a time without its run).
      for (const earlier of await earlierRunsDecidedSince(trx, { jobId: job.id, id: jobRunId, scheduledAt })) {
        if (await backfillRequestedOver(trx, job.id, earlier.scheduledAt, await ahead())) continue;
        if (await exempt()) return run();
        await setJobRunCatchUpDecision(trx, jobRunId, { decision: 'skip' });
        return `run ${earlier.id} of job ${job.id}, of an earlier scheduled time (${earlier.scheduledAt.toISOString()}), decided to run at ${earlier.decidedAt.toISOString()}, after this run's time (${scheduledAt.toISOString()}), and did its work (a catch-up after an outage): with overlap allow_all, one run takes the times missed; this run did not start`;
      }
      /** The later runs (none a backfill asked for) that decided to run (`decided`), or that decided nothing yet. */
      const later = async (decided: boolean) => {
        const out: Array<{ id: string; scheduledAt: Date }> = [];
        for (const r of await laterScheduledRuns(trx, { jobId: job.id, id: jobRunId, scheduledAt, decided })) if (!(await backfillRequestedOver(trx, job.id, r.scheduledAt, await ahead()))) out.push(r);
        return out;
      };
      const [runs] = await later(true);
      if (runs) return (await exempt()) ? run() : skipFor(runs, 'runs');
      // Claimed: an earlier run skipped for this one, which runs whatever later run has not decided yet.
      if (mine === 'claimed') return run();
      const [undecided] = await later(false);
      if (undecided || successor) {
        if (await exempt()) return run();
        // The latest of them: Temporal's when it has a later time than any recorded.
        if (undecided && !(successor && successor.at > undecided.scheduledAt)) {
          await setJobRunCatchUpDecision(trx, undecided.id, { decision: 'claimed' });
          return skipFor(undecided, 'had recorded its start and runs');
        }
        if (successor) {
          if (await insertClaimedJobRun(trx, { id: successor.workflowId, runId: successor.runId, jobId: job.id, scheduledAt: successor.at })) {
            return skipFor({ id: successor.workflowId, scheduledAt: successor.at }, 'was started by the schedule and runs');
          }
          // It recorded its start meanwhile (its decision waits for this lock): claimed as it stands.
          const [recorded] = await later(false);
          if (recorded) {
            await setJobRunCatchUpDecision(trx, recorded.id, { decision: 'claimed' });
            return skipFor(recorded, 'had recorded its start and runs');
          }
        }
      }
      return run();
    });
  }

  /**
   * The run of a later time of the job's schedule than `scheduledAt`, up to the latest time passed at `now`
   * (Temporal's clock: a worker's clock ahead of it asked about times Temporal had not reached, and missed
   * the later run it had started; one behind, about fewer times), that Temporal started and is still going:
   * the latest of the last few such times (a paused schedule started none for the times since). Undefined
   * when no later time passed, or Temporal has none of them.
   */
  async function startedLaterRun(job: JobDefinition, scheduledAt: Date, now: Date): Promise<{ workflowId: string; runId: string; at: Date } | undefined> {
    let at = previousScheduledTime(job.schedule, new Date(now.getTime() + 1));
    const temporal = deps.temporal ?? (() => Context.current().client);
    for (let i = 0; i < LATER_TIMES_ASKED && at !== undefined && at > scheduledAt; i++, at = previousScheduledTime(job.schedule, at)) {
      const going = await scheduledJobRunGoing(temporal(), job.id, at);
      if (going) return { ...going, at };
    }
    return undefined;
  }

  /**
   * Why a run going must start no further target, or null when it may go on; asked before each target
   * (workflows/job.ts). Deleting a job or pausing it ends only its schedule in Temporal, not the runs that
   * schedule started: without this, a run went on starting its script on every remaining target.
   *
   * - The job deleted: the run stops, whoever started it.
   * - The job paused after the run began (POST pause, or saved with `enabled: false`): the run stops.
   *   `changedAt` is when the job's row was last changed as the run read it at its start; a paused job
   *   changed since was paused (again) during the run.
   * - The job paused before the run began and not changed since: the run goes on. That is a run started by
   *   hand on a paused job (POST trigger starts it on purpose, and resolveJobTargets lets a manual run of a
   *   paused job run while it skips a scheduled one): its job's pause was there when it was asked for, so it
   *   does not stop it. Pausing the job again during that run stops it like any other.
   * A plan without `changedAt` (a run resolved before it was kept): a scheduled run stops once the job is
   * paused (it began enabled: resolveJobTargets skips it otherwise); a run by hand only once it is deleted.
   */
  async function jobRunStopReason(input: { jobId: string; trigger: string; changedAt?: string | undefined }): Promise<string | null> {
    return jobRunStopReasonOf(input, await findJobStanding(db, input.jobId));
  }

  /**
   * Asked before each target by runs of patch `job-target-checked-before-start` (workflows/job.ts), as one
   * local activity: `stop` as jobRunStopReason says, else `skip` when the target's environment changed since
   * the run resolved it. A run goes on for up to a day; meanwhile its team may delete an environment (one a
   * selector or `all` matched: only jobs naming it block the delete), an admin may move it to another team,
   * or its name may come back under another team with another agent or VM. The script then goes nowhere it
   * was not meant to: the target is recorded skipped with why, the others go on.
   */
  async function jobTargetCheck(input: {
    jobId: string;
    trigger: string;
    changedAt?: string | undefined;
    target?: { environment: string; via: 'agent' | 'ssh'; taskQueue?: string | undefined } | undefined;
  }): Promise<{ stop: string | null; skip: string | null }> {
    // One read of the job's row answers both: whether the run stops, and the team the target must be in.
    const standing = await findJobStanding(db, input.jobId);
    const stop = jobRunStopReasonOf(input, standing);
    if (stop !== null || !input.target) return { stop, skip: null };
    const t = input.target;
    const team = standing?.team;
    const [e] = team === undefined ? [] : await environmentsForTargets(db, team, { environments: [t.environment] });
    const notStarted = 'after this run began; this target was not started';
    if (!e) return { stop: null, skip: `environment ${t.environment} was deleted, or moved out of team ${team ?? '(unknown)'}, ${notStarted}` };
    if (t.via === 'ssh') return { stop: null, skip: e.ssh ? null : `environment ${t.environment} lost its management VM (ssh) ${notStarted}` };
    const queue = e.agent_task_queue ?? agentTaskQueue(e.name);
    return { stop: null, skip: queue === t.taskQueue ? null : `environment ${t.environment}'s Doctor agent task queue changed from ${t.taskQueue ?? '(none)'} to ${queue} ${notStarted}` };
  }

  /** The targets a stopped run never started, each recorded `skipped` with why (one call for them all). */
  async function recordSkippedTargets(input: { jobRunId: string; reason: string; at: string; targets: { environment: string; via: 'agent' | 'ssh' }[] }): Promise<void> {
    for (const t of input.targets) {
      await recordTargetResult({ jobRunId: input.jobRunId, environment: t.environment, via: t.via, status: 'skipped', error: input.reason, startedAt: input.at, finishedAt: input.at });
    }
  }

  /**
   * Stored bounded whatever the workflow passes (a run of before kept an error's end, up to 4,000
   * characters): the error as errorText keeps it, an exit code Postgres's `integer` holds or null.
   */
  async function recordTargetResult(r: TargetOutcome): Promise<void> {
    const values = {
      status: r.status,
      via: r.via,
      exit_code: recordableExitCode(r.exitCode),
      output_excerpt: tail(r.outputExcerpt),
      error: r.error === undefined ? null : errorText(r.error),
      started_at: r.startedAt,
      finished_at: r.finishedAt,
    };
    await upsertTargetResult(db, r.jobRunId, r.environment, values);
  }

  async function recordJobRunFinish(input: { jobRunId: string; status: JobRunStatus; summary: JobRunSummary }): Promise<void> {
    await finishJobRun(db, input.jobRunId, { status: input.status, summary: input.summary, at: new Date() });
  }

  async function runSshTarget(input: { jobRunId: string; environment: string; script: string; args: string[]; timeoutSeconds: number }): Promise<ScriptActionResult> {
    // Read before anything runs: a Postgres blip waits rather than spending the target's one attempt. Only
    // the job's own team's environment of that name: one deleted and registered again by another team
    // during the run is not this job's VM.
    const ssh = await whilePostgresUnavailable(async () => {
      const team = await jobRunTeam(db, input.jobRunId);
      return team === undefined ? undefined : (await environmentsForTargets(db, team, { environments: [input.environment] }))[0]?.ssh;
    });
    if (!ssh) throw ApplicationFailure.nonRetryable(`environment ${input.environment} has no management VM (ssh) configured in the job's team`, 'ValidationError');
    try {
      const r = await runOnManagementVm(ssh, [remoteScriptPath(input.script, env), ...input.args], input.timeoutSeconds * 1000, env);
      // Only the end of the output enters the job's history (one result per target).
      return { ...r, outputExcerpt: tailText(r.outputExcerpt, STORED_OUTPUT_CHARS) };
    } catch (err) {
      throw toFailure(err);
    }
  }

  async function notifyJobFailure(input: { jobId: string; jobName: string; jobRunId: string; status: JobRunStatus; summary: JobRunSummary; runUrl?: string | undefined }): Promise<string> {
    const notify = ((await findJobDefinition(db, input.jobId)) as Partial<JobDefinition> | undefined)?.notifyOnFailure;
    const log = deps.logger.child({ jobId: input.jobId, jobRunId: input.jobRunId });
    if (!notify?.slack && !notify?.email) return 'no notification configured';
    // `esc` is applied to every value: a target's error is what its agent or script said (a compromised
    // agent writes it), and Slack would read `<!channel>` or `<https://x|label>` in it as a mention or a
    // link. The email takes the values as they are (plain text).
    const textWith = (esc: (value: string) => string) => {
      const lines = input.summary.failures.slice(0, 20).map((f) => `- ${esc(f.environment)}: ${esc(f.status)}${f.error ? ` (${esc(f.error.slice(0, 200))})` : ''}`);
      // A run that started no target (it could not finish in time) says why instead of counting targets; one
      // that did and has a reason (ended in Temporal before it recorded its end, stopped) says it after them.
      const failed = input.summary.failed + input.summary.timedOut;
      const reason = input.summary.reason;
      const outcome = input.summary.total === 0 && reason ? `: ${esc(reason)}` : `, ${failed} of ${input.summary.total} targets failed.${reason ? ` ${esc(reason)}` : ''}`;
      // The summary lists the first failures only (JOB_SUMMARY_FAILURES); the notice names the count of the rest.
      const more = failed - lines.length;
      return [
        `Job "${esc(input.jobName)}" (${esc(input.jobId)}) run ${esc(input.jobRunId)}: ${esc(input.status)}${outcome}`,
        ...lines,
        ...(lines.length > 0 && more > 0 ? [`- and ${more} more failed target${more === 1 ? '' : 's'}: see the run's targets`] : []),
        ...(input.runUrl ? [esc(input.runUrl)] : []),
      ].join('\n');
    };
    const text = textWith((v) => v);
    if (!deps.integrations) {
      log.warn({ summary: input.summary }, 'job failed; notifications are not configured on this worker');
      return 'notifications not configured on this worker; logged';
    }
    const integrations = deps.integrations;
    // Run under the SaaS preset's retry policy (workflows/job.ts: externalApiOptions, 3 attempts).
    usesRetryPauses(saasRetryPauses());
    // Each channel is one side effect keyed by the run (activities/side-effects.ts): a retry of this
    // activity (the other channel failed, an answer was lost, the worker died after sending) reads what
    // was sent instead of sending it again. Neither a Slack incoming webhook nor SMTP can be asked whether
    // an unanswered message arrived, so such a message is never sent again (at most once).
    const once = (channel: 'slack', perform: SideEffectSpec['perform']) =>
      effects.run({ key: `${input.jobRunId}:notice:${channel}`, kind: `job.notify.${channel}`, onUncertain: 'refuse', perform });
    const channels: { name: string; send: () => Promise<unknown> }[] = [];
    if (notify.slack) {
      const ref = notify.slack.webhookUrlRef;
      channels.push({
        name: 'slack',
        send: async () => {
          const webhookUrl = await resolveUserSecretRef(ref, env);
          return once('slack', async (ctx) => {
            await integrations.slack({ webhookUrl, text: textWith(slackEscape), setting: `the secret ${ref} (the job's notify.slack.webhookUrlRef)`, signal: ctx.signal });
            return {};
          });
        },
      });
    }
    if (notify.email) {
      const to = notify.email;
      const subject = `[selfheal] job ${input.jobName}: ${input.status}`;
      channels.push({
        name: 'email',
        send: () => sendEmailInRounds({ effects, integrations, key: `${input.jobRunId}:notice:email`, kind: 'job.notify.email', to, subject, text }),
      });
    }
    // Every channel is tried on every attempt, side by side within the attempt's one budget (one failing
    // never keeps the other from being sent); those already sent answer from their record.
    const settled = await Promise.allSettled(channels.map((c) => c.send()));
    const sent = channels.filter((_, i) => settled[i]!.status === 'fulfilled').map((c) => c.name);
    const failures = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as unknown] : []));
    if (failures.length > 0) {
      if (sent.length > 0) log.warn({ sent, failures: failures.length }, 'job failure notice sent on some channels only');
      // Retried while a channel may still get through; the channels sent are not sent again. A Slack 429's
      // Retry-After puts the next attempt off (afterAskedPause), as for an action's message.
      throw afterAskedPause(failures.find(retryable) ?? failures[0]);
    }
    return `notified via ${sent.join(', ')}`;
  }

  return { recordJobRunStart, resolveJobTargets, jobRunStopReason, jobTargetCheck, recordTargetResult, recordSkippedTargets, recordJobRunFinish, runSshTarget, notifyJobFailure };
}
