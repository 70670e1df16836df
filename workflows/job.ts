// One run of a scheduled job: resolve its targets, run the script on each (Doctor agent or SSH) with a
// concurrency limit, persist every per-target result, summarise, notify on failure.
// A target that fails, times out or whose agent is offline never stops the others.
import {
  ActivityCancellationType,
  ActivityFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  TimeoutFailure,
  workflowInfo,
} from '@temporalio/workflow';
import { defineSearchAttributeKey, TimeoutType } from '@temporalio/common';
import type { createAgentActivities } from '../activities/agent.js';
import type { createJobActivities, JobRunPlan, JobTarget, TargetOutcome } from '../activities/jobs.js';
import { JOB_OUTPUT_CHARS, JOB_SUMMARY_ERROR_CHARS, JOB_SUMMARY_FAILURES, type JobRunStatus, type JobRunSummary, type JobWorkflowInput, type JobWorkflowResult } from '../src/contracts/jobs.js';
import { agentOutcome, errorText, failureText, headText, tailText } from '../src/domain/agent-result.js';
import { agentAnswers, claimedPickupSeconds, pickupTimedOut, presenceRefused } from './agent-pickup.js';
import { dbLocalOptions, dbOptions, externalApiOptions, scriptOptions } from './options.js';

type JobActivities = ReturnType<typeof createJobActivities>;
type AgentActivities = ReturnType<typeof createAgentActivities>;

const db = proxyActivities<JobActivities>(dbOptions);
const localDb = proxyLocalActivities<JobActivities>(dbLocalOptions);
const notifier = proxyActivities<JobActivities>({ ...externalApiOptions, retry: { ...externalApiOptions.retry, maximumAttempts: 3 } });

export type { JobWorkflowInput, JobWorkflowResult };

const scheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', 'DATETIME');
const scheduledById = defineSearchAttributeKey('TemporalScheduledById', 'KEYWORD');

/** Extra time an activity gets beyond the script's own timeout (connect, output, recording): JOB_TARGET_SLACK_SECONDS of src/domain/jobs.ts, not imported so zod and cron-parser stay out of the workflow bundle. */
const SLACK_SECONDS = 30;

/**
 * Before each target the run asks whether its job was deleted or paused meanwhile, and stops if so (the
 * targets left are recorded skipped, the run `cancelled`). Runs recorded before it issued no such check.
 */
export const STOP_CHECK_PATCH = 'job-stop-when-deleted-or-paused';

/**
 * The check before each target also looks at the target's environment (deleted, moved to another team, its
 * agent queue or VM gone since the run resolved it: that target is recorded skipped, the others go on), and
 * is a local activity, one marker per target instead of an activity's round trip. Runs recorded before it
 * keep STOP_CHECK_PATCH's check.
 */
export const TARGET_CHECK_PATCH = 'job-target-checked-before-start';

/**
 * An agent target waits for its agent on the agent's no-op `agentPresent`, not on the script. A script
 * queued at once waited in the agent's queue for up to agentPickupTimeoutSeconds (an hour at most) and then
 * ran, whatever happened meanwhile: the job paused, or the environment deleted and its name registered
 * again by another team, whose agent then ran this team's script. Once an agent has answered, the target is
 * checked again (TARGET_CHECK_PATCH's check) and only then is the script queued, with a short wait for
 * pickup (AGENT_CLAIMED_PICKUP_SECONDS); an agent too busy to take it within that is waited for again while
 * the target's pickup time lasts. An agent older than `agentPresent` answers "not registered": having
 * polled the task, it is there all the same. Runs recorded before it queue the script at once.
 */
export const AGENT_CLAIM_PATCH = 'job-agent-present-before-script';

/**
 * A run whose job cannot finish within a run's limit as it stands (a selector that grew: resolveJobTargets
 * says `failed`) is recorded failed and its failure notice sent. Recorded `skipped`, no notice, it went
 * on every run with no one told. Runs recorded before it keep the skip.
 */
export const JOB_CANNOT_FINISH_PATCH = 'job-cannot-finish-is-failed';

/**
 * A cancelled run (`overlap: cancel_other`, or cancelled by hand) waits for the script in flight to stop
 * (ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, as rule runs' scripts do): the agent and the SSH
 * executor stop the script's process group once the cancel reaches the heartbeating activity. The target is
 * recorded as it ended (its own result if the script ended first, else `cancelled`), the targets not started
 * are recorded skipped, and the run `cancelled`; every lane is waited for, so no run closes with a script
 * still running (the next run of a cancel_other job would start it again on the same host). Once every
 * target ended, the failure notice and the final write are not interrupted by a cancel. Runs recorded
 * before it reported the cancel at once, the script still running, and recorded nothing for it. The
 * cancellation type is the workflow's own (no command carries it), so a run recorded before it replays
 * unless it was cancelled.
 */
export const JOB_WAITS_FOR_SCRIPT_PATCH = 'job-waits-for-script-v1';

/**
 * A run cancelled before it started a target (`overlap: cancel_other` from the next run, or a cancel from
 * Temporal reaching it while it records its start or resolves its targets) records itself `cancelled`, with
 * a reason. Before, only a cancel inside the targets' part was recorded: one reaching recordJobRunStart or
 * resolveJobTargets cancelled that activity and closed the run at once, and its row (written by the start
 * record, even one cancelled in flight: the activity does not heartbeat, so it runs to its end) stayed
 * `running` forever, in the runs list and the dashboard. The start record is now not interrupted (it is one
 * short write, and the run's id is its answer), and the finish records of a run that starts no target are
 * not either. Runs recorded before it keep their behaviour when they replay: the activity's cancel and no
 * finish record for one cancelled there (test/workflows/histories/job-cancelled-early-*-unpatched.json).
 */
export const JOB_START_CANCEL_PATCH = 'job-cancelled-before-targets-recorded';

export async function jobWorkflow(input: JobWorkflowInput): Promise<JobWorkflowResult> {
  const info = workflowInfo();
  const scheduledAt = info.typedSearchAttributes.get(scheduledStartTime);
  const trigger = info.typedSearchAttributes.get(scheduledById) ? 'schedule' : 'manual';
  // The run's id is its workflow id, unless an earlier execution of that id holds it (a backfill over a time
  // the schedule already ran): then this execution is recorded as a run of its own, under the id answered.
  // Only the inputs of later activities change; an activity of before answered nothing (the workflow id).
  const early = patched(JOB_START_CANCEL_PATCH);
  const start = () => db.recordJobRunStart({ jobRunId: info.workflowId, runId: info.runId, jobId: input.jobId, trigger, scheduledAt: scheduledAt?.toISOString() });
  const recorded = (await (early ? CancellationScope.nonCancellable(start) : start())) as string | undefined;
  const jobRunId = recorded ?? info.workflowId;
  /** A finish record of a run that started no target: under JOB_START_CANCEL_PATCH, a cancel does not interrupt it. */
  const finishUnstarted = (f: { status: JobRunStatus; summary: JobRunSummary }) => (early ? CancellationScope.nonCancellable(() => db.recordJobRunFinish({ jobRunId, ...f })) : db.recordJobRunFinish({ jobRunId, ...f }));

  let resolved: Awaited<ReturnType<typeof db.resolveJobTargets>>;
  try {
    // A cancel reaching the start record (not interrupted) is raised here, as the activity is asked for.
    resolved = await db.resolveJobTargets({ jobId: input.jobId, trigger, jobRunId });
  } catch (err) {
    if (early && isCancellation(err)) {
      const reason = 'the run was cancelled (overlap cancel_other, or from Temporal) before it resolved its targets; no target was started';
      await finishUnstarted({ status: 'cancelled', summary: { total: 0, succeeded: 0, failed: 0, timedOut: 0, skipped: 0, failures: [], reason } });
    }
    throw err;
  }
  if ('skipped' in resolved) {
    const summary: JobRunSummary = { total: 0, succeeded: 0, failed: 0, timedOut: 0, skipped: 0, failures: [], reason: resolved.skipped };
    if (resolved.failed === true && patched(JOB_CANNOT_FINISH_PATCH)) {
      if (resolved.notify === true) {
        try {
          summary.notification = await notifier.notifyJobFailure({ jobId: input.jobId, jobName: resolved.name ?? input.jobId, jobRunId, status: 'failed', summary });
        } catch (err) {
          summary.notification = errorText(`notification failed: ${messageOf(err)}`);
        }
      }
      await finishUnstarted({ status: 'failed', summary });
      return { jobRunId, status: 'failed', summary };
    }
    await finishUnstarted({ status: 'skipped', summary });
    return { jobRunId, status: 'skipped', summary };
  }
  const plan = resolved;
  const waits = patched(JOB_WAITS_FOR_SCRIPT_PATCH);
  const outcomes: TargetOutcome[] = [];
  /** Why the run stopped before its last target (its job deleted or paused meanwhile). */
  let stopped: string | undefined;

  try {
    const queue = [...plan.targets];
    /** Whether target `t` may start now: 'stop' (the run stops; `stopped` says why) or 'skipped' (recorded) if not. */
    const gate = async (t: JobTarget): Promise<'go' | 'stop' | 'skipped'> => {
      if (stopped !== undefined) return 'stop';
      const target = t.problem === undefined ? { environment: t.environment, via: t.via, taskQueue: t.taskQueue } : undefined;
      const check = await localDb.jobTargetCheck({ jobId: plan.jobId, trigger, changedAt: plan.changedAt, target });
      stopped ??= check.stop ?? undefined; // another lane may have found it stopped while this one asked
      if (stopped !== undefined) return 'stop';
      if (check.skip === null) return 'go';
      const at = new Date(Date.now()).toISOString();
      const outcome: TargetOutcome = { jobRunId, environment: t.environment, via: t.via, status: 'skipped', error: check.skip, startedAt: at, finishedAt: at };
      await db.recordTargetResult(outcome);
      outcomes.push(outcome);
      return 'skipped';
    };
    const lane = async (): Promise<void> => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        // Deleting or pausing a job ends its schedule, not the runs already going: each lane asks before
        // every target (who stops, and why a run started by hand on a paused job goes on:
        // activities/jobs.ts, jobRunStopReason). A target already running is not interrupted.
        if (waits && CancellationScope.current().consideredCancelled) {
          queue.unshift(t);
          return;
        }
        let outcome: TargetOutcome | 'stop' | 'skipped';
        try {
          if (patched(TARGET_CHECK_PATCH)) {
            const may = await gate(t);
            outcome =
              may !== 'go'
                ? may
                : t.via === 'agent' && t.problem === undefined && patched(AGENT_CLAIM_PATCH)
                  ? await runWhenAgentPresent(plan, t, jobRunId, () => gate(t), waits)
                  : await runTarget(plan, t, jobRunId, waits);
          } else if (patched(STOP_CHECK_PATCH)) {
            if (stopped === undefined) {
              const why = await db.jobRunStopReason({ jobId: plan.jobId, trigger, changedAt: plan.changedAt });
              stopped ??= why ?? undefined; // another lane may have found it stopped while this one asked
            }
            outcome = stopped !== undefined ? 'stop' : await runTarget(plan, t, jobRunId, waits);
          } else {
            outcome = await runTarget(plan, t, jobRunId, waits);
          }
        } catch (err) {
          // Cancelled before its script was queued (its check, its wait for an agent): not started.
          if (!waits || !isCancellation(err)) throw err;
          queue.unshift(t);
          return;
        }
        if (outcome === 'skipped') continue;
        if (outcome === 'stop') {
          queue.unshift(t);
          return;
        }
        const ended = outcome;
        if (waits) {
          // A cancel never keeps a target that ran from its row.
          await CancellationScope.nonCancellable(() => db.recordTargetResult(ended));
        } else {
          await db.recordTargetResult(ended);
        }
        outcomes.push(ended);
      }
    };
    const lanes = Array.from({ length: Math.min(plan.concurrency, plan.targets.length) }, lane);
    if (waits) {
      // Every lane is waited for, a cancelled one included: another's script may still be stopping.
      const settled = await Promise.allSettled(lanes);
      const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
      if (failed) throw failed.reason;
      if (CancellationScope.current().consideredCancelled) {
        const at = new Date(Date.now()).toISOString();
        const error = 'the job run was cancelled; this target was not started';
        const left = queue.splice(0);
        if (left.length > 0) {
          await CancellationScope.nonCancellable(() => db.recordSkippedTargets({ jobRunId, reason: error, at, targets: left.map((t) => ({ environment: t.environment, via: t.via })) }));
          outcomes.push(...left.map((t): TargetOutcome => ({ jobRunId, environment: t.environment, via: t.via, status: 'skipped', error, startedAt: at, finishedAt: at })));
        }
        throw new CancelledFailure('job run cancelled while its targets ran');
      }
    } else {
      await Promise.all(lanes);
    }
    if (stopped !== undefined && queue.length > 0) {
      const at = new Date(Date.now()).toISOString();
      const error = `${stopped}; this target was not started`;
      const left = queue.splice(0);
      await db.recordSkippedTargets({ jobRunId, reason: error, at, targets: left.map((t) => ({ environment: t.environment, via: t.via })) });
      outcomes.push(...left.map((t): TargetOutcome => ({ jobRunId, environment: t.environment, via: t.via, status: 'skipped', error, startedAt: at, finishedAt: at })));
      stopped = `${stopped}; ${left.length} of ${plan.targets.length} targets were not started (recorded skipped)`;
    }
  } catch (err) {
    if (isCancellation(err)) {
      const summary = summarise(plan, outcomes);
      if (waits) summary.reason = 'the run was cancelled (overlap cancel_other, or from Temporal) while its targets ran; each target that ran was waited for and recorded as it ended';
      await CancellationScope.nonCancellable(() => db.recordJobRunFinish({ jobRunId, status: 'cancelled', summary }));
    }
    throw err;
  }

  const summary = summarise(plan, outcomes);
  if (stopped !== undefined) summary.reason = stopped;
  const failedTargets = summary.failed + summary.timedOut;
  const status: JobRunStatus =
    stopped !== undefined ? 'cancelled' : failedTargets === 0 ? 'succeeded' : summary.succeeded + summary.skipped === 0 ? 'failed' : 'partial';
  const finish = async (): Promise<JobWorkflowResult> => {
    if (failedTargets > 0 && plan.notify) {
      try {
        summary.notification = await notifier.notifyJobFailure({ jobId: plan.jobId, jobName: plan.name, jobRunId, status, summary });
      } catch (err) {
        summary.notification = errorText(`notification failed: ${messageOf(err)}`);
      }
    }
    await db.recordJobRunFinish({ jobRunId, status, summary });
    return { jobRunId, status, summary };
  };
  // Every target ended: a cancel arriving now neither stops the notice nor leaves the row `running`.
  return waits ? CancellationScope.nonCancellable(finish) : finish();
}

/**
 * Runs the script on an agent target once an agent has answered `agentPresent` and the target, checked again
 * by `recheck`, may still start (AGENT_CLAIM_PATCH). The target's pickup time bounds the whole wait.
 */
async function runWhenAgentPresent(
  plan: JobRunPlan,
  t: JobTarget,
  jobRunId: string,
  recheck: () => Promise<'go' | 'stop' | 'skipped'>,
  waits: boolean,
): Promise<TargetOutcome | 'stop' | 'skipped'> {
  const startedAt = new Date(Date.now()).toISOString();
  const deadline = Date.now() + plan.agentPickupTimeoutSeconds * 1000;
  for (;;) {
    const answer = await agentAnswers(t.taskQueue!, deadline, t.team);
    if (answer === 'offline') return { ...offline(plan, t, jobRunId), startedAt };
    if (answer === 'refused') return refused(plan, t, jobRunId, startedAt);
    const gate = await recheck();
    if (gate !== 'go') return gate;
    // Within the target's pickup time, give or take a few seconds (its run limit counts that time once).
    const outcome = await runTarget(plan, t, jobRunId, waits, claimedPickupSeconds(deadline));
    if (outcome !== NOT_PICKED_UP) return outcome;
    if (Date.now() >= deadline) return { ...offline(plan, t, jobRunId), startedAt };
  }
}

/** A target whose agent never picked its task up within the target's pickup time. */
function offline(plan: JobRunPlan, t: JobTarget, jobRunId: string): TargetOutcome {
  const at = new Date(Date.now()).toISOString();
  return {
    jobRunId,
    environment: t.environment,
    via: t.via,
    status: 'failed',
    error: `no Doctor agent picked the task up on ${t.taskQueue} within ${plan.agentPickupTimeoutSeconds} s (agent offline?)`,
    startedAt: at,
    finishedAt: at,
  };
}

/** A target whose agent refused the presence check for the job's team (PRESENCE_REFUSAL_ENDS_RUN_PATCH): failed, no script queued. */
function refused(plan: JobRunPlan, t: JobTarget, jobRunId: string, startedAt: string): TargetOutcome {
  return { jobRunId, environment: t.environment, via: t.via, status: 'failed', error: `${plan.script} was not run: ${presenceRefused(t.taskQueue!)}`, startedAt, finishedAt: new Date(Date.now()).toISOString() };
}

const NOT_PICKED_UP = 'not picked up';

/**
 * `pickupSeconds`: the agent's pickup wait, answered NOT_PICKED_UP when it passes (else the job's, a failed
 * target). `waits` (JOB_WAITS_FOR_SCRIPT_PATCH): cancelled, the run waits for the script to stop and
 * answers the target `cancelled`, or its own result when it ended before the cancel reached it.
 */
async function runTarget(plan: JobRunPlan, t: JobTarget, jobRunId: string, waits: boolean): Promise<TargetOutcome>;
async function runTarget(plan: JobRunPlan, t: JobTarget, jobRunId: string, waits: boolean, pickupSeconds: number): Promise<TargetOutcome | typeof NOT_PICKED_UP>;
async function runTarget(plan: JobRunPlan, t: JobTarget, jobRunId: string, waits: boolean, pickupSeconds?: number): Promise<TargetOutcome | typeof NOT_PICKED_UP> {
  const startedAt = new Date(Date.now()).toISOString();
  const base = { jobRunId, environment: t.environment, via: t.via, startedAt };
  // Kept short before it is passed on (an older agent answers all of its output). The error as a rule
  // run's is kept (errorText): its start, which says what failed, at most ERROR_CHARS characters and
  // ERROR_JSON_BYTES, escape sequences and other control characters out, whatever a failure raised by the
  // agent (or whatever polls its queue) or the VM's host said. It was the end of it, up to 4,000
  // characters: the message's own start (what failed) cut off.
  const done = (o: Omit<TargetOutcome, 'jobRunId' | 'environment' | 'via' | 'startedAt' | 'finishedAt'>): TargetOutcome => ({
    ...base,
    ...o,
    ...(o.outputExcerpt !== undefined ? { outputExcerpt: tailText(o.outputExcerpt, JOB_OUTPUT_CHARS) } : {}),
    ...(o.error !== undefined ? { error: errorText(o.error) } : {}),
    finishedAt: new Date(Date.now()).toISOString(),
  });
  if (t.problem) return done({ status: 'failed', error: t.problem });

  const timeoutSeconds = plan.timeoutSecondsPerTarget;
  const options = {
    ...scriptOptions,
    startToCloseTimeout: `${timeoutSeconds + SLACK_SECONDS} seconds`,
    retry: { ...scriptOptions.retry, maximumAttempts: 1 },
    // Both executors heartbeat while the script runs (the agent every second, SSH every 5 s), so the cancel
    // reaches the script within 80 % of scriptOptions' heartbeat timeout, and stops its process group.
    ...(waits ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}),
  } as const;
  try {
    const result =
      t.via === 'agent'
        ? // The agent's answer is untrusted (it runs in the environment it serves): reduced to the documented shape.
          agentOutcome(
            await proxyActivities<AgentActivities>({
            ...options,
            taskQueue: t.taskQueue!,
            // An offline agent never picks the task up: that target fails, the others go on.
            scheduleToStartTimeout: `${pickupSeconds ?? plan.agentPickupTimeoutSeconds} seconds`,
          }).runAgentScript({
            script: plan.script,
            args: plan.args,
            timeoutSeconds,
            context: { jobId: plan.jobId, jobRunId, environment: t.environment },
            maxOutputChars: JOB_OUTPUT_CHARS,
            ...(t.team !== undefined ? { team: t.team } : {}),
          }),
          )
        : await proxyActivities<JobActivities>(options).runSshTarget({
            jobRunId,
            environment: t.environment,
            script: plan.script,
            args: plan.args,
            timeoutSeconds,
          });
    const status = result.timedOut ? 'timed_out' : result.exitCode === 0 ? 'succeeded' : 'failed';
    return done({ status, exitCode: result.exitCode, outputExcerpt: result.outputExcerpt, error: status === 'succeeded' ? undefined : failureText(result) });
  } catch (err) {
    if (isCancellation(err)) {
      if (!waits) throw err;
      // The activity answered only once it stopped: the script was stopped there, or never started
      // (still waiting for its pickup or its turn). What it printed is not kept.
      return done({ status: 'cancelled', error: `the job run was cancelled: the script was stopped on ${t.environment} before it ended (or had not started yet)` });
    }
    if (pickupTimedOut(err)) return pickupSeconds === undefined ? { ...offline(plan, t, jobRunId), startedAt } : NOT_PICKED_UP;
    const timeout = err instanceof ActivityFailure && err.cause instanceof TimeoutFailure ? err.cause : undefined;
    if (timeout) return done({ status: 'timed_out', error: `activity ${timeout.timeoutType === TimeoutType.HEARTBEAT ? 'stopped heartbeating' : 'timed out'}` });
    return done({ status: 'failed', error: messageOf(err) });
  }
}

function summarise(plan: JobRunPlan, outcomes: TargetOutcome[]): JobRunSummary {
  const count = (s: TargetOutcome['status']) => outcomes.filter((o) => o.status === s).length;
  const failures = outcomes.filter((o) => o.status === 'failed' || o.status === 'timed_out');
  return {
    total: plan.targets.length,
    succeeded: count('succeeded'),
    failed: count('failed'),
    timedOut: count('timed_out'),
    skipped: count('skipped'),
    ...(count('cancelled') > 0 ? { cancelled: count('cancelled') } : {}),
    // Bounded (JOB_SUMMARY_FAILURES, JOB_SUMMARY_ERROR_CHARS): the summary goes to the run's row, the notice
    // and this history; every target's row keeps its own result whole.
    failures: failures.slice(0, JOB_SUMMARY_FAILURES).map((o) => ({ environment: o.environment, status: o.status, error: o.error === undefined ? undefined : headText(o.error, JOB_SUMMARY_ERROR_CHARS) })),
    ...(failures.length > JOB_SUMMARY_FAILURES ? { failuresOmitted: failures.length - JOB_SUMMARY_FAILURES } : {}),
    dryRun: plan.args.includes('--dry-run'),
  };
}

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}
