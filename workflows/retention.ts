// The history purge, started every hour by the schedule `selfheal-history-retention` (src/temporal/retention.ts):
// bounded batches until nothing older than the retention is left, at most `maxBatches` per run (the next run
// goes on), so its history stays short.
import { proxyActivities } from '@temporalio/workflow';
import type { createRetentionActivities, PurgeBatchResult } from '../activities/retention.js';
import { dbOptions } from './options.js';

const { purgeHistoryBatch } = proxyActivities<ReturnType<typeof createRetentionActivities>>({ ...dbOptions, startToCloseTimeout: '2 minutes' });

export interface RetentionWorkflowInput {
  retentionDays: number;
  batchSize?: number;
  maxBatches?: number;
}

export interface RetentionWorkflowResult {
  batches: number;
  deleted: PurgeBatchResult['deleted'];
  /** Stopped at maxBatches with more to delete. */
  more: boolean;
}

export async function retentionWorkflow(input: RetentionWorkflowInput): Promise<RetentionWorkflowResult> {
  const batchSize = input.batchSize ?? 5000;
  const maxBatches = input.maxBatches ?? 200;
  const deleted = { actionRuns: 0, matches: 0, events: 0, parkedEvents: 0, incidents: 0, remediations: 0, alerts: 0, approvalLinks: 0, jobRuns: 0, sideEffects: 0, pagerDutyWrites: 0, leases: 0, backtests: 0 };
  // A batch from a worker of an earlier release has no count for the newer tables (`?? 0`).
  let batches = 0;
  let more = true;
  while (more && batches < maxBatches) {
    const r = await purgeHistoryBatch({ retentionDays: input.retentionDays, batchSize });
    batches += 1;
    more = r.more;
    for (const k of Object.keys(deleted) as (keyof typeof deleted)[]) deleted[k] += r.deleted[k] ?? 0;
  }
  return { batches, deleted, more };
}
