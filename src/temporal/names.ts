// Names Temporal stores are forever (STYLE.md habit 5): never rename these once shipped.
import { defineSearchAttributeKey } from '@temporalio/common';

export { DEFAULT_TASK_QUEUE, agentTaskQueue, incidentWorkflowId, jobScheduleId, ruleRunWorkflowId } from '../contracts/names.js';

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
