// Pure helpers over PagerDuty V3 webhook events. Imported from workflow code: no Node built-ins, no
// I/O, no clock. Input is an event already accepted by the tolerant schema in webhook.ts.
import { isPlainObject } from '../domain/objects.js';

/** A V3 webhook event (`body.event`); unknown fields are kept. */
export interface PagerDutyEvent {
  id: string;
  event_type: string;
  resource_type: string;
  occurred_at: string;
  agent?: Record<string, unknown> | null | undefined;
  client?: Record<string, unknown> | null | undefined;
  data: Record<string, unknown>;
  [key: string]: unknown;
}

export interface Reference {
  id: string;
  summary: string;
}

export type IncidentStatus = 'triggered' | 'acknowledged' | 'resolved';

/**
 * What an event tells about its incident. Fields are present only when the event carries them:
 * events about the incident itself (`data.type === 'incident'`) give the full picture (`complete`),
 * events about a sub-resource (note, responder, status update, workflow, ...) give the id and the
 * little their incident reference holds. `assignees` is `[]` when unknown; check `complete`.
 */
export interface IncidentSnapshot {
  id: string;
  complete: boolean;
  number?: number;
  title?: string;
  description?: string;
  status?: string;
  urgency?: string;
  priority?: Reference | null;
  serviceId?: string;
  serviceName?: string;
  escalationPolicyId?: string;
  escalationPolicyName?: string;
  assignees: Reference[];
  htmlUrl?: string;
  createdAt?: string;
  updatedAt?: string;
  resolvedAt?: string;
  incidentKey?: string;
}

export type EventClass = 'incident' | 'ignored';

function str(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function ref(value: unknown): Reference | undefined {
  if (!isPlainObject(value)) return undefined;
  const id = str(value['id']);
  if (!id) return undefined;
  return { id, summary: typeof value['summary'] === 'string' ? value['summary'] : '' };
}

/** `'incident'` for every `incident.*` event on an incident resource (including future types). */
export function classifyEvent(event: Pick<PagerDutyEvent, 'event_type' | 'resource_type'>): EventClass {
  return event.resource_type === 'incident' && event.event_type.startsWith('incident.') ? 'incident' : 'ignored';
}

/**
 * The PagerDuty incident id an event is about. `data` is the incident itself when `data.type` is
 * `incident`; otherwise (incident_note, incident_responder, incident_status_update,
 * incident_conference_bridge, incident_workflow_instance, incident_field_values, incident_task, ...)
 * `data.id` is the sub-resource's own id and the incident is referenced at `data.incident`.
 * Role assignments nest the reference one level deeper. Non-incident events give undefined.
 */
export function incidentIdOf(event: Pick<PagerDutyEvent, 'resource_type' | 'data'>): string | undefined {
  if (event.resource_type !== 'incident') return undefined;
  return incidentIdOfData(event.data);
}

/** As {@link incidentIdOf}, for a bare `event.data` object. */
export function incidentIdOfData(data: unknown): string | undefined {
  if (!isPlainObject(data)) return undefined;
  const type = data['type'];
  if (type === 'incident') return str(data['id']);
  const reference = ref(data['incident']);
  if (reference) return reference.id;
  const assignments = data['incident_role_assignments'];
  if (Array.isArray(assignments)) {
    for (const assignment of assignments) {
      const nested = isPlainObject(assignment) ? ref(assignment['incident']) : undefined;
      if (nested) return nested.id;
    }
  }
  // Tolerate an incident payload that lost its `type` tag, but never take a sub-resource's id.
  if (type === undefined) return str(data['id']);
  return undefined;
}

/** The status an incident has after an event of this type, when the type implies one. */
export function statusFromEventType(eventType: string): IncidentStatus | undefined {
  switch (eventType) {
    case 'incident.triggered':
    case 'incident.reopened':
    case 'incident.unacknowledged':
      return 'triggered';
    case 'incident.acknowledged':
      return 'acknowledged';
    case 'incident.resolved':
      return 'resolved';
    default:
      return undefined;
  }
}

/** The incident as this event describes it; undefined when the event names no incident. */
export function toIncidentSnapshot(event: PagerDutyEvent): IncidentSnapshot | undefined {
  const id = incidentIdOf(event);
  if (!id) return undefined;
  const data = event.data;
  const isIncident = data['type'] === 'incident' || (data['type'] === undefined && str(data['id']) === id);

  if (!isIncident) {
    const snapshot: IncidentSnapshot = { id, complete: false, assignees: [] };
    const reference = isPlainObject(data['incident']) ? data['incident'] : undefined;
    const htmlUrl = reference ? str(reference['html_url']) : undefined;
    if (htmlUrl) snapshot.htmlUrl = htmlUrl;
    // Workflow instances name the service of the incident they run for.
    const service = ref(data['service']);
    if (service) {
      snapshot.serviceId = service.id;
      if (service.summary) snapshot.serviceName = service.summary;
    }
    return snapshot;
  }

  const snapshot: IncidentSnapshot = { id, complete: true, assignees: [] };
  const number = data['number'] ?? data['incident_number'];
  if (typeof number === 'number' && Number.isFinite(number)) snapshot.number = number;
  const title = str(data['title']);
  if (title) snapshot.title = title;
  const description = str(data['description']);
  if (description) snapshot.description = description;
  const status = str(data['status']) ?? statusFromEventType(event.event_type);
  if (status) snapshot.status = status;
  const urgency = str(data['urgency']);
  if (urgency) snapshot.urgency = urgency;
  if ('priority' in data) snapshot.priority = ref(data['priority']) ?? null;
  const service = ref(data['service']);
  if (service) {
    snapshot.serviceId = service.id;
    if (service.summary) snapshot.serviceName = service.summary;
  }
  const policy = ref(data['escalation_policy']);
  if (policy) {
    snapshot.escalationPolicyId = policy.id;
    if (policy.summary) snapshot.escalationPolicyName = policy.summary;
  }
  const assignees = data['assignees'];
  if (Array.isArray(assignees)) {
    snapshot.assignees = assignees.map(ref).filter((a): a is Reference => a !== undefined);
  } else if (Array.isArray(data['assignments'])) {
    // REST-shaped incidents carry `assignments[].assignee` instead.
    snapshot.assignees = data['assignments']
      .map((a: unknown) => (isPlainObject(a) ? ref(a['assignee']) : undefined))
      .filter((a): a is Reference => a !== undefined);
  }
  const htmlUrl = str(data['html_url']);
  if (htmlUrl) snapshot.htmlUrl = htmlUrl;
  const createdAt = str(data['created_at']);
  if (createdAt) snapshot.createdAt = createdAt;
  const updatedAt = str(data['updated_at']) ?? str(event.occurred_at);
  if (updatedAt) snapshot.updatedAt = updatedAt;
  const resolvedAt = str(data['resolved_at']) ?? (event.event_type === 'incident.resolved' ? str(event.occurred_at) : undefined);
  if (resolvedAt) snapshot.resolvedAt = resolvedAt;
  const incidentKey = str(data['incident_key']);
  if (incidentKey) snapshot.incidentKey = incidentKey;
  return snapshot;
}

/** Event types after which alerts are fetched and the environment extracted again. */
export const REMEDIATING_EVENT_TYPES: ReadonlySet<string> = new Set([
  'incident.triggered',
  'incident.reopened',
  'incident.escalated',
  'incident.priority_updated',
  'incident.unacknowledged',
]);
