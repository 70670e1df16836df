// Whether the execution a job run's row records still goes, as Temporal says: asked by the job overlap check
// (schedules.ts jobRunInProgress) and by the worker's pass over runs left `running` (ended-job-runs.ts).
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { jobRunRowExists } from '../db/repositories/job-runs.js';
import { jobRunExecution } from './names.js';

/**
 * What Temporal says of the execution job run `row` records (its stored run id, `job_runs.run_id`; else the
 * one its id names, else the workflow id's latest): `RUNNING`; `NOT_FOUND`; or the status it closed with
 * (`TERMINATED`, `TIMED_OUT`, …) and when.
 *
 * A reset closes an execution and starts another under the same workflow id, which replays the history up to
 * the workflow task it was reset to. Reset past the run's start record, the new execution replays that
 * record's answer and goes on writing the same row, whose stored run id still names the execution the reset
 * closed; reset to its first workflow task, it records its start again and gets a row of its own
 * (`<workflow id>@<its run id>`, insertJobRunStart). So a row whose own execution is closed still goes while
 * the workflow id's latest execution is RUNNING and has no row of its own. Before, such a run was recorded
 * failed by the worker's pass while it went on, and did not hold its job's overlap policy.
 */
export async function jobRunExecutionStatus(client: Client, db: Kysely<Database>, row: { id: string; runId: string | null }): Promise<{ status: string; closedAt?: Date | undefined }> {
  const { workflowId, runId: named } = jobRunExecution(row.id);
  const runId = row.runId ?? named;
  let own;
  try {
    own = await client.workflow.getHandle(workflowId, runId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { status: 'NOT_FOUND' };
    throw err;
  }
  if (own.status.name === 'RUNNING') return { status: 'RUNNING' };
  if (runId !== undefined) {
    try {
      const latest = await client.workflow.getHandle(workflowId).describe();
      if (latest.runId !== own.runId && latest.status.name === 'RUNNING' && !(await jobRunRowExists(db, `${workflowId}@${latest.runId}`))) return { status: 'RUNNING' };
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return { status: own.status.name, closedAt: own.closeTime };
}
