// Names Temporal stores are forever: running histories and schedules refer to them, so never rename these once shipped.
import { defineSearchAttributeKey } from '@temporalio/common';

export { DEFAULT_TASK_QUEUE, agentTaskQueue, incidentWorkflowId, jobScheduleId, ruleRunWorkflowId } from '../contracts/names.js';
/** Memo key on each job schedule naming the deployment (database) that created it (src/temporal/schedules.ts). */
export const DEPLOYMENT_MEMO_KEY = 'selfhealDeploymentId';

export const searchAttributes = {
  incidentId: defineSearchAttributeKey('SelfhealIncidentId', 'KEYWORD'),
  service: defineSearchAttributeKey('SelfhealService', 'KEYWORD'),
  environment: defineSearchAttributeKey('SelfhealEnvironment', 'KEYWORD'),
  ruleIds: defineSearchAttributeKey('SelfhealRuleIds', 'KEYWORD_LIST'),
  jobId: defineSearchAttributeKey('SelfhealJobId', 'KEYWORD'),
} as const;

/**
 * The Temporal execution a job run is: its id is the run's workflow id, or `<workflow id>@<run id>` for an
 * execution that reused the workflow id of an earlier, closed one (insertJobRunStart). Workflow ids of
 * job runs hold no `@`.
 */
export function jobRunExecution(jobRunId: string): { workflowId: string; runId?: string } {
  const at = jobRunId.indexOf('@');
  return at === -1 ? { workflowId: jobRunId } : { workflowId: jobRunId.slice(0, at), runId: jobRunId.slice(at + 1) };
}

/** Link to a workflow in the Temporal Web UI. */
export function workflowUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
