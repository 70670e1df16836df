// A job run records its own start and end (activities/jobs.ts), but an execution Temporal ends from outside
// records nothing: terminated from the Temporal UI or CLI, ended by its 24 h run timeout, replaced by a reset,
// or its history gone after the namespace's retention. Its row said `running` for ever (the runs list, the
// CLI, the dashboard), while the overlap check already asked Temporal and no longer counted it. The worker's
// periodic job-schedule reconcile (keepSchedulesReconciled) now also asks Temporal about the oldest rows left
// `running`, and records those whose execution is closed, or unknown, as ended, saying what Temporal says.
// A run it records `failed` sends its job's failure notice, as a run failing on its own does (before, it sent
// none: a run terminated or timed out ended without a word to whoever the job tells).
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { JOB_SUMMARY_ERROR_CHARS, JOB_SUMMARY_FAILURES, type JobRunStatus, type JobRunSummary, type TargetStatus } from '../contracts/jobs.js';
import type { Database } from '../db/database.js';
import { findJobDefinition, finishJobRun, finishJobRunLeftRunning, recordedTargetOutcomes, runningJobRunsStartedBefore } from '../db/repositories/job-runs.js';
import type { JobDefinition } from '../domain/jobs.js';
import type { Logger } from '../logger.js';
import { jobRunExecutionStatus } from './job-run-execution.js';
import { temporalUnreachable } from './running.js';

/** A run started this recently is not asked about: its workflow may not have reached Temporal's view of it yet, and it costs a pass at most. */
export const ENDED_JOB_RUN_GRACE_MS = 2 * 60_000;
/** Rows asked about per pass, oldest first: one describe each; the rest wait for the next pass. */
export const ENDED_JOB_RUNS_PER_PASS = 100;

const AFTER = 'before it recorded its end; targets without a result did not run';

/**
 * What a closed execution's status says of the run, in words (the run's `reason`), and the status its row
 * gets; undefined for an execution still going (RUNNING) or a status not known here, whose row is left.
 */
export function endedRunOutcome(temporalStatus: string | undefined): { status: JobRunStatus; reason: string } | undefined {
  switch (temporalStatus) {
    case 'TERMINATED':
      return { status: 'failed', reason: `the run's workflow was terminated in Temporal (by hand from its UI or CLI, or by a reset that replaced it) ${AFTER}` };
    case 'TIMED_OUT':
      return { status: 'failed', reason: `the run's workflow timed out in Temporal (its 24 h run timeout) ${AFTER}` };
    case 'FAILED':
      return { status: 'failed', reason: `the run's workflow failed in Temporal ${AFTER}` };
    case 'CANCELLED':
      return { status: 'cancelled', reason: `the run's workflow was cancelled in Temporal ${AFTER}` };
    case 'COMPLETED':
      return { status: 'failed', reason: `the run's workflow completed in Temporal without recording its end; targets without a result did not run` };
    case 'CONTINUED_AS_NEW':
      return { status: 'failed', reason: `the run's workflow continued as new in Temporal ${AFTER}` };
    case 'NOT_FOUND':
      return { status: 'failed', reason: `Temporal no longer knows the run's workflow (its history removed after the namespace's retention, or never there) and the run did not record its end; targets without a result did not run` };
    default:
      return undefined;
  }
}

/**
 * Sends a job run's failure notice on the channels its job names (`notifyOnFailure`), as the job workflow's
 * notice activity does (activities/jobs.ts notifyJobFailure: each channel once per run, keyed by the run's
 * id); answers what it did, in words, and throws when a channel failed.
 */
export type JobFailureNotice = (input: { jobId: string; jobName: string; jobRunId: string; status: JobRunStatus; summary: JobRunSummary }) => Promise<string>;

export interface EndedJobRunsResult {
  /** Runs recorded ended by this pass. */
  closed: string[];
  /** Runs recorded ended by this pass whose job's failure notice it sent (or tried to: the run's summary says how it went). */
  notified: string[];
  /** Runs whose execution could not be asked about (an answer other than a status or not found); tried again next pass. */
  failed: string[];
  /**
   * Where the next pass goes on: after the last row this one asked about when it asked about `limit` rows
   * (more may follow), else from the oldest again. Without it, `limit` runs still going at the front of the
   * oldest were asked about on every pass, and runs ended behind them never.
   */
  next?: { startedAt: Date; id: string } | undefined;
}

/**
 * Asks Temporal about the execution of each run recorded `running` that started more than `graceMs` ago
 * (the oldest `limit`), and records as ended those whose execution is closed or unknown to Temporal: `failed`
 * (`cancelled` for a cancelled execution), finished when the execution closed (now when Temporal does not
 * say), with a summary counting the target results the run recorded and a `reason` naming what Temporal
 * says. A row the run's own workflow finished meanwhile is not written (finishJobRunLeftRunning). Temporal
 * unreachable ends the pass with its error, every row left as it is; another error leaves that row only.
 *
 * With `notify`, a run recorded `failed` whose job asks for failure notices sends its notice, as a run that
 * fails on its own does, and its summary's `notification` says how that went (a cancelled run sends none, as
 * a run cancelled on its own sends none). The row's update from `running` is the claim: of two passes (two
 * worker replicas) asking about the same row, only the one whose update took it sends the notice. One attempt
 * per channel; a notice the run's workflow already sent (it was ended after) is not sent again, the channel
 * keyed by the run (side_effects).
 */
export async function closeEndedJobRuns(
  client: Client,
  db: Kysely<Database>,
  logger: Logger,
  opts: { graceMs?: number; limit?: number; after?: { startedAt: Date; id: string } | undefined; notify?: JobFailureNotice | undefined } = {},
): Promise<EndedJobRunsResult> {
  const log = logger.child({ component: 'job-runs' });
  const limit = opts.limit ?? ENDED_JOB_RUNS_PER_PASS;
  const rows = await runningJobRunsStartedBefore(db, { before: new Date(Date.now() - (opts.graceMs ?? ENDED_JOB_RUN_GRACE_MS)), limit, after: opts.after });
  const last = rows.at(-1);
  const result: EndedJobRunsResult = { closed: [], notified: [], failed: [], next: rows.length === limit && last ? { startedAt: last.startedAt, id: last.id } : undefined };
  for (const row of rows) {
    // The execution the row recorded (job_runs.run_id), as the overlap check asks (jobRunInProgress), or the
    // one a reset past its start record carries it on in (jobRunExecutionStatus).
    let status: string;
    let closedAt: Date | undefined;
    try {
      ({ status, closedAt } = await jobRunExecutionStatus(client, db, row));
    } catch (err) {
      if (temporalUnreachable(err)) throw err;
      result.failed.push(row.id);
      log.error({ jobRunId: row.id, err: { message: (err as Error).message } }, 'job run left running: Temporal did not say whether its execution ended; asked again next pass');
      continue;
    }
    const outcome = endedRunOutcome(status);
    if (!outcome) continue;
    const recorded = await recordedTargetOutcomes(db, row.id, { failures: JOB_SUMMARY_FAILURES, errorChars: JOB_SUMMARY_ERROR_CHARS });
    const count = (s: TargetStatus) => recorded.counts[s] ?? 0;
    const failedCount = count('failed') + count('timed_out');
    // `total` counts the targets that recorded a result: how many the run meant to reach is not kept anywhere
    // its workflow did not get to say.
    const summary: JobRunSummary = {
      total: Object.values(recorded.counts).reduce((a, b) => a + b, 0),
      succeeded: count('succeeded'),
      failed: count('failed'),
      timedOut: count('timed_out'),
      skipped: count('skipped'),
      ...(count('cancelled') > 0 ? { cancelled: count('cancelled') } : {}),
      failures: recorded.failures.map((f) => ({ environment: f.environment, status: f.status as TargetStatus, error: f.error ?? undefined })),
      ...(failedCount > recorded.failures.length ? { failuresOmitted: failedCount - recorded.failures.length } : {}),
      reason: outcome.reason,
    };
    const at = closedAt ?? new Date();
    if (!(await finishJobRunLeftRunning(db, row.id, { status: outcome.status, summary, at }))) continue;
    result.closed.push(row.id);
    log.warn({ jobRunId: row.id, temporalStatus: status, status: outcome.status }, 'job run ended in Temporal without recording its end; recorded ended');
    if (outcome.status === 'failed' && opts.notify && (await sendFailureNotice(db, log, opts.notify, { ...row, status: outcome.status, summary, at }))) result.notified.push(row.id);
  }
  return result;
}

/**
 * The failure notice of a run this pass recorded failed (its row taken from `running` by this pass), when its
 * job asks for one; its summary's `notification` then says how it went. Answers whether it was tried. Never
 * throws: the run is recorded ended whatever happens to its notice.
 */
async function sendFailureNotice(
  db: Kysely<Database>,
  log: Logger,
  notify: JobFailureNotice,
  run: { id: string; jobId: string; status: JobRunStatus; summary: JobRunSummary; at: Date },
): Promise<boolean> {
  let tried = false;
  try {
    const job = (await findJobDefinition(db, run.jobId)) as Partial<JobDefinition> | undefined;
    if (!job?.notifyOnFailure?.slack && !job?.notifyOnFailure?.email) return false;
    tried = true;
    let notification: string;
    try {
      notification = await notify({ jobId: run.jobId, jobName: job.name ?? run.jobId, jobRunId: run.id, status: run.status, summary: run.summary });
    } catch (err) {
      notification = `notification failed: ${(err as Error).message}`;
      log.error({ jobRunId: run.id, err: { message: (err as Error).message } }, 'failure notice of a job run ended in Temporal not sent');
    }
    await finishJobRun(db, run.id, { status: run.status, summary: { ...run.summary, notification }, at: run.at });
  } catch (err) {
    log.error({ jobRunId: run.id, err: { message: (err as Error).message } }, 'failure notice of a job run ended in Temporal: its job not read, or how it went not recorded');
  }
  return tried;
}
