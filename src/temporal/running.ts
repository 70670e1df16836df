// Which workflows Temporal reports running, asked one by one: our own rows say a run started and has not
// recorded its end, but a run terminated from outside (Temporal's UI, the CLI) or ended by Temporal (a
// timeout) records nothing. Shared by the job overlap check and the incident workflow's carried rule runs.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';

/**
 * Of `ids`, those whose execution is RUNNING, in order: the run `execution` names, else the workflow id's
 * latest run; an id Temporal does not know is not. `first` stops at the first. `execution`: the workflow
 * (and run, when one is named) an id stands for; the id itself otherwise.
 */
export async function runningWorkflows(client: Client, ids: readonly string[], opts: { first?: boolean; execution?: (id: string) => { workflowId: string; runId?: string } } = {}): Promise<string[]> {
  const running: string[] = [];
  for (const id of ids) {
    const { workflowId, runId } = opts.execution?.(id) ?? { workflowId: id };
    try {
      if ((await client.workflow.getHandle(workflowId, runId).describe()).status.name === 'RUNNING') {
        running.push(id);
        if (opts.first) break;
      }
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
