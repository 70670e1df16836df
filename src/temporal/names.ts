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

/** Link to a workflow in the Temporal Web UI. */
export function workflowUrl(uiUrl: string, namespace: string, workflowId: string, runId?: string): string {
  const base = `${uiUrl}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${base}/${encodeURIComponent(runId)}/history` : base;
}
