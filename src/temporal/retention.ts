// The history retention schedule: one system Temporal Schedule per deployment that starts
// `retentionWorkflow` every hour on the deployment's main task queue, where its worker purges its own
// database. The worker creates it at start, or updates it to the current SELFHEAL_RETENTION_DAYS; job
// schedule reconciliation (`job-*`) never touches it. Deployments sharing a Temporal namespace have
// their own task queues, so the id carries the task queue (the default one keeps the original id): one
// fixed id would be taken over by whichever worker started last, and the other database never purged.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleDescription, type ScheduleOptions } from '@temporalio/client';
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../logger.js';

/** Names Temporal stores are forever. */
export const RETENTION_SCHEDULE_ID = 'selfheal-history-retention';
export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';
const DEFAULT_TASK_QUEUE = 'selfheal';

/** The retention schedule (and its runs' workflow id) of the deployment polling `taskQueue`. */
export function retentionScheduleId(taskQueue: string): string {
  return taskQueue === DEFAULT_TASK_QUEUE ? RETENTION_SCHEDULE_ID : `${RETENTION_SCHEDULE_ID}-${taskQueue}`;
}

export interface RetentionScheduleOptions {
  taskQueue: string;
  retentionDays: number;
  /** Rows per table per batch, and batches per run (the next run goes on). */
  batchSize?: number;
  maxBatches?: number;
}

const HOUR_MS = 3_600_000;

function action(o: RetentionScheduleOptions): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow' as const,
    workflowType: RETENTION_WORKFLOW_TYPE,
    workflowId: retentionScheduleId(o.taskQueue),
    taskQueue: o.taskQueue,
    args: [{ retentionDays: o.retentionDays, batchSize: o.batchSize ?? 5000, maxBatches: o.maxBatches ?? 200 }],
    workflowRunTimeout: HOUR_MS,
  };
}

const spec = { intervals: [{ every: HOUR_MS }] };
const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: HOUR_MS };
const note = (o: RetentionScheduleOptions) => `purges incident history older than ${o.retentionDays} days (SELFHEAL_RETENTION_DAYS)`;

/**
 * Creates the retention schedule, or brings it in line with the configuration; says which. A schedule
 * already in line is left alone ('unchanged'): every worker start calls this, and Temporal's update is a
 * whole-schedule write from a read (the SDK sends no conflict token), so an operator's pause landing
 * between that read and the write would be undone. Skipping the write when nothing changed keeps an
 * operator's pause and its note through any number of restarts; a changed configuration keeps both too
 * (the pause is carried over, and a paused schedule's note is the operator's reason, kept), and the
 * narrow race of a pause sent during that one write stays (the README says so).
 */
export async function ensureRetentionSchedule(client: Client, o: RetentionScheduleOptions, logger?: Logger): Promise<'created' | 'updated' | 'unchanged'> {
  const scheduleId = retentionScheduleId(o.taskQueue);
  const handle = client.schedule.getHandle(scheduleId);
  try {
    const current = await handle.describe();
    if (inLine(current, o)) return 'unchanged';
    await handle.update((prev) => ({
      spec,
      action: action(o),
      policies: { ...policies, pauseOnFailure: false },
      state: { paused: prev.state.paused, note: prev.state.paused ? prev.state.note : note(o) },
    }));
    logger?.info({ scheduleId, retentionDays: o.retentionDays }, 'retention schedule updated');
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  try {
    await client.schedule.create({ scheduleId, spec, action: action(o), policies, state: { note: note(o) } });
  } catch (err) {
    // Another worker created it at the same moment: make it ours.
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return ensureRetentionSchedule(client, o, logger);
  }
  logger?.info({ scheduleId, retentionDays: o.retentionDays }, 'retention schedule created');
  return 'created';
}

/** Whether a described schedule already runs what `o` configures, every hour, with our policies. */
function inLine(d: ScheduleDescription, o: RetentionScheduleOptions): boolean {
  const want = action(o);
  if (d.action.type !== 'startWorkflow' || want.type !== 'startWorkflow') return false;
  return (
    d.action.workflowType === want.workflowType &&
    d.action.workflowId === want.workflowId &&
    d.action.taskQueue === want.taskQueue &&
    d.action.workflowRunTimeout === HOUR_MS &&
    isDeepStrictEqual(d.action.args, want.args) &&
    isDeepStrictEqual(d.spec.intervals?.map((i) => [i.every, i.offset ?? 0]), [[HOUR_MS, 0]]) &&
    !d.spec.calendars?.length &&
    d.policies.overlap === policies.overlap &&
    d.policies.catchupWindow === HOUR_MS &&
    d.policies.pauseOnFailure === false
  );
}
