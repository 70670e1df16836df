// The history retention schedule: one system Temporal Schedule with a fixed id that starts
// `retentionWorkflow` every hour on the main task queue. The worker creates it at start, or updates it to
// the current SELFHEAL_RETENTION_DAYS and task queue; job schedule reconciliation (`job-*`) never touches it.
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, type Client, type ScheduleOptions } from '@temporalio/client';
import type { Logger } from '../logger.js';

/** Names Temporal stores are forever. */
export const RETENTION_SCHEDULE_ID = 'selfheal-history-retention';
export const RETENTION_WORKFLOW_TYPE = 'retentionWorkflow';

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
    workflowId: RETENTION_SCHEDULE_ID,
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
  const handle = client.schedule.getHandle(RETENTION_SCHEDULE_ID);
  try {
    await handle.update((prev) => ({ spec, action: action(o), policies: { ...policies, pauseOnFailure: false }, state: { paused: prev.state.paused, note: note(o) } }));
    logger?.info({ scheduleId: RETENTION_SCHEDULE_ID, retentionDays: o.retentionDays }, 'retention schedule updated');
    return 'updated';
  } catch (err) {
    if (!(err instanceof ScheduleNotFoundError)) throw err;
  }
  try {
    await client.schedule.create({ scheduleId: RETENTION_SCHEDULE_ID, spec, action: action(o), policies, state: { note: note(o) } });
  } catch (err) {
    // Another worker created it at the same moment: make it ours.
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    return ensureRetentionSchedule(client, o, logger);
  }
  logger?.info({ scheduleId: RETENTION_SCHEDULE_ID, retentionDays: o.retentionDays }, 'retention schedule created');
  return 'created';
}
