// Which workflows Temporal reports running, asked one by one: our own rows say a run started and has not
// recorded its end, but a run terminated from outside (Temporal's UI, the CLI) or ended by Temporal (a
// timeout) records nothing. Used for the incident workflow's carried rule runs.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

/**
 * Of the workflow ids `ids`, those whose latest execution is RUNNING, in order; an id Temporal does not know
 * is not. (A job run's row is asked about through src/temporal/job-run-execution.ts.)
 */
export async function runningWorkflows(client: Client, ids: readonly string[]): Promise<string[]> {
  const running: string[] = [];
  for (const id of ids) {
    try {
      if ((await client.workflow.getHandle(id).describe()).status.name === 'RUNNING') running.push(id);
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }
  return running;
}

/** gRPC UNAVAILABLE or DEADLINE_EXCEEDED: Temporal cannot be reached, so no other job's turn would do better. */
export function temporalUnreachable(err: unknown): boolean {
  const e = err as { code?: number; cause?: { code?: number } } | null;
  const code = e?.code ?? e?.cause?.code;
  return code === 14 || code === 4;
}
