// Signals, queries and shared shapes of the incident workflow. Names are forever: histories refer to them.
import { defineQuery, defineSignal } from '@temporalio/workflow';

export interface IncidentEventMessage {
  /** PagerDuty event.id (unique per delivery content; redeliveries repeat it). */
  eventId: string;
  webhookId?: string | undefined;
  eventType: string;
  occurredAt?: string | undefined;
  receivedAt: string;
  /** The `event` object of the V3 envelope, as received. */
  event: Record<string, unknown>;
}

/**
 * The incident workflow's code revision, passed in its input when the webhook starts a run. A run that
 * carries it takes today's steps without asking `patched()` (no patch markers, no TemporalChangeVersion
 * search-attribute updates per incident); a run without it was started before revisions and replays
 * with the patch checks it recorded. Raise it only together with a new path for the older revision.
 */
export const INCIDENT_WORKFLOW_REVISION = 2;

export interface ApprovalDecision {
  actionRunId: string;
  decision: 'approve' | 'reject';
  actor: string;
  comment?: string | undefined;
}

export interface IncidentWorkflowState {
  incidentId: string;
  status: string;
  eventsSeen: number;
  pendingEvents: number;
  runningRules: string[];
  awaitingApproval: string[];
}

export const incidentEventSignal = defineSignal<[IncidentEventMessage]>('incidentEvent');
export const approvalSignal = defineSignal<[ApprovalDecision]>('approval');
export const incidentStateQuery = defineQuery<IncidentWorkflowState>('state');
