// The history retention schedule: one system Temporal Schedule per deployment that starts
// `retentionWorkflow` every hour on the deployment's main task queue, where its worker purges its own
// database. The worker creates it at start, or updates it to the current SELFHEAL_RETENTION_DAYS; job
// schedule reconciliation (`job-*`) never touches it. Deployments sharing a Temporal namespace have
// their own task queues, so the id carries the task queue (the default one keeps the original id): one
// fixed id would be taken over by whichever worker started last, and the other database never purged.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
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

function action(o: RetentionScheduleOptions): ScheduleOptions['action'] {
  return {
    type: 'startWorkflow' as const,
    workflowType: RETENTION_WORKFLOW_TYPE,
    workflowId: retentionScheduleId(o.taskQueue),
    taskQueue: o.taskQueue,
    args: [{ retentionDays: o.retentionDays, batchSize: o.batchSize ?? 5000, maxBatches: o.maxBatches ?? 200 }],
    workflowRunTimeout: '1 hour',
  };
}

const spec = { intervals: [{ every: '1 hour' }] };
const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: '1 hour' };
const note = (o: RetentionScheduleOptions) => `purges incident history older than ${o.retentionDays} days (SELFHEAL_RETENTION_DAYS)`;

/** Creates the retention schedule, or brings it in line with the configuration; says which. */
export async function ensureRetentionSchedule(client: Client, o: RetentionScheduleOptions, logger?: Logger): Promise<'created' | 'updated'> {
  const scheduleId = retentionScheduleId(o.taskQueue);
  const handle = client.schedule.getHandle(scheduleId);
  try {
    await handle.update((prev) => ({ spec, action: action(o), policies: { ...policies, pauseOnFailure: false }, state: { paused: prev.state.paused, note: note(o) } }));
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
