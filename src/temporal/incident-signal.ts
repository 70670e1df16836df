// How an incident's workflow is handed one event: signalWithStart with its id, revision and search
// attributes. The webhook does it for every delivery; the worker's reconcile of lost resolves
// (activities/reconcile.ts) for a resolve PagerDuty never delivered.
import { WorkflowIdReusePolicy, type Client } from '@temporalio/client';
import { INCIDENT_WORKFLOW_REVISION, SIGNALS, WORKFLOW_TYPES, type IncidentEventMessage } from '../contracts/index.js';
import type { PagerDutyEvent } from '../pagerduty/webhook.js';
import { withTimeout } from '../timeout.js';
import { incidentWorkflowId, searchAttributes } from './names.js';

export async function signalIncident(
  client: Client,
  taskQueue: string,
  incidentId: string,
  msg: IncidentEventMessage,
  serviceId?: string,
): Promise<void> {
  await withTimeout(
    client.workflow.signalWithStart(WORKFLOW_TYPES.incident, {
      workflowId: incidentWorkflowId(incidentId),
      taskQueue,
      args: [{ incidentId, revision: INCIDENT_WORKFLOW_REVISION }],
      signal: SIGNALS.incidentEvent,
      signalArgs: [msg],
      ...incidentStartOptions(incidentId, serviceId),
    }),
    4000,
  );
}

/**
 * What the incident workflow is signalled for one event: the event as received, and when. A delivery
 * names its webhook; the resolves Self-healing hands over itself (reconcile, mark resolved) do not.
 */
export function incidentEventMessage(event: PagerDutyEvent, webhookId?: string, receivedAt = new Date()): IncidentEventMessage {
  return { eventId: event.id, webhookId, eventType: event.event_type, occurredAt: event.occurred_at, receivedAt: receivedAt.toISOString(), event };
}

/** How an incident's workflow is started, beside its id, type and signal (the bench sends the same). */
export function incidentStartOptions(incidentId: string, serviceId?: string) {
  return {
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    // Searchable in the Temporal UI from the first delivery on, storms included. No memo: it held the
    // same two values, and every byte of the start is server work on the webhook's answer path.
    typedSearchAttributes: [
      { key: searchAttributes.incidentId, value: incidentId },
      ...(serviceId ? [{ key: searchAttributes.service, value: serviceId }] : []),
    ],
  };
}

export function serviceIdOf(event: { data: Record<string, unknown> }): string | undefined {
  const data = event.data;
  const svc = (data['service'] ?? (data['incident'] as Record<string, unknown> | undefined)?.['service']) as { id?: unknown } | undefined;
  return typeof svc?.id === 'string' ? svc.id : undefined;
}
