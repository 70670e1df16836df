// The incident as each event left it, replayed from the stored events in order: the same fold the
// pipeline's persist step makes over the incidents row (activities/incidents.ts recordIncidentEvent: take
// what an event carries unless it is older than what is held; an older event is "stale" and is not
// matched), then extraction after the events that fetch alerts (REMEDIATING_EVENT_TYPES), with the alerts
// as last stored. Pure.
import { extractEnvironment, type ExtractorsConfig } from '../extract.js';
import type { IncidentFacts } from '../rules/incident-context.js';
import { REMEDIATING_EVENT_TYPES, statusFromEventType, toIncidentSnapshot, type PagerDutyEvent } from '../../pagerduty/parse.js';
import type { HistoryEvent, StoredIncident } from './types.js';

/** What Self-healing writes at the start of its own PagerDuty notes (activities/action-runs.ts); such notes are never matched. */
export const NOTE_MARKER = '[self-healing]';

export interface ReplayedIncident {
  facts: IncidentFacts;
  /**
   * The `occurred_at` of the newest event applied that carried the incident's data or status (received
   * time when it had none): notes and other sub-resource events do not move it (the incidents row's
   * `snapshot_at`).
   */
  lastEventAt: number | null;
  /** What the last extraction read (title, description, service, alerts), to skip an identical one. */
  extractedFrom?: string;
}

export interface ReplayStep {
  incident: ReplayedIncident;
  /** Older than what the incident held: recorded, not matched. */
  stale: boolean;
  /** A note Self-healing wrote itself: not matched. */
  ownNote: boolean;
  event: Record<string, unknown>;
}

/**
 * The service an event names (`data.service.id`, as toIncidentSnapshot reads it: an incident's, or a
 * workflow instance's); undefined when it names none (a note, a responder): then the event is on the
 * service its incident held.
 */
export function namedService(event: Record<string, unknown>): string | undefined {
  const data = event.data;
  if (typeof data !== 'object' || data === null) return undefined;
  const service = (data as { service?: unknown }).service;
  if (typeof service !== 'object' || service === null) return undefined;
  const id = (service as { id?: unknown }).id;
  return typeof id === 'string' && id !== '' ? id : undefined;
}

function fromStored(s: StoredIncident): IncidentFacts {
  return {
    id: s.id,
    number: s.number,
    title: s.title,
    description: s.description,
    status: s.status,
    urgency: s.urgency,
    priority: s.priority,
    service_id: s.serviceId,
    service_name: s.serviceName,
    escalation_policy_id: s.escalationPolicyId,
    escalation_policy_name: s.escalationPolicyName,
    assignees: s.assignees,
    html_url: s.htmlUrl,
    incident_key: s.incidentKey,
    environment: s.environment,
    alerts: null,
  };
}

function isOwnNote(event: Record<string, unknown>): boolean {
  if (event.event_type !== 'incident.annotated') return false;
  const content = (event.data as { content?: unknown } | undefined)?.content;
  return typeof content === 'string' && content.startsWith(NOTE_MARKER);
}

/**
 * Applies one event to the incident as held before it (`previous`; undefined when the replay has not seen
 * the incident yet: then the stored row stands in for what the event does not carry, with its status
 * taken from the event).
 */
export function replayEvent(previous: ReplayedIncident | undefined, ev: HistoryEvent, extractors: ExtractorsConfig): ReplayStep {
  const event = ev.event ?? {};
  const snap = typeof event.data === 'object' && event.data !== null ? toIncidentSnapshot({ id: ev.eventId, resource_type: 'incident', occurred_at: '', ...event } as PagerDutyEvent) : undefined;
  const occurredAt = (ev.occurredAt ?? ev.receivedAt).getTime();
  const stale = previous?.lastEventAt !== null && previous?.lastEventAt !== undefined ? occurredAt < previous.lastEventAt : false;
  const old: IncidentFacts = previous?.facts ?? { ...fromStored(ev.incident), status: '' };
  const eventStatus = (snap?.complete ? snap.status : undefined) ?? statusFromEventType(ev.eventType);
  const asOf = !stale && (snap?.complete === true || eventStatus !== undefined) ? occurredAt : (previous?.lastEventAt ?? null);
  const pick = <T>(fresh: T | undefined, held: T | null | undefined): T | null => (stale ? (held ?? fresh ?? null) : (fresh ?? held ?? null));
  const heldStatus = old.status || undefined;
  const status = stale ? (heldStatus ?? eventStatus ?? 'triggered') : (eventStatus ?? heldStatus ?? 'triggered');

  const facts: IncidentFacts = {
    id: ev.incidentId,
    number: pick(snap?.number, old.number),
    title: pick(snap?.title, old.title),
    description: pick(snap?.description, old.description),
    status,
    urgency: pick(snap?.urgency, old.urgency),
    priority: snap?.priority !== undefined && !stale ? (snap.priority?.summary ?? null) : old.priority,
    service_id: pick(snap?.serviceId, old.service_id),
    service_name: pick(snap?.serviceName, old.service_name),
    escalation_policy_id: pick(snap?.escalationPolicyId, old.escalation_policy_id),
    escalation_policy_name: pick(snap?.escalationPolicyName, old.escalation_policy_name),
    assignees: snap?.complete && !stale ? snap.assignees : old.assignees,
    html_url: pick(snap?.htmlUrl, old.html_url),
    incident_key: pick(snap?.incidentKey, old.incident_key),
    environment: old.environment,
    alerts: ev.incident.alerts ?? old.alerts,
  };
  if (!stale && REMEDIATING_EVENT_TYPES.has(ev.eventType)) {
    // Extraction is a function of these inputs: an incident whose title, description, service and alerts
    // are what they were at its last extraction keeps what that one found.
    const alerts = ev.incident.alerts ?? [];
    const key = `${facts.title ?? ''}\u0000${facts.description ?? ''}\u0000${facts.service_id ?? ''}\u0000${alerts.length === 0 ? '' : JSON.stringify(alerts)}`;
    if (previous?.extractedFrom === key) {
      facts.environment = previous.facts.environment;
    } else {
      facts.environment = extractEnvironment({ title: facts.title, description: facts.description, serviceId: facts.service_id, alerts }, extractors) as unknown as Record<string, unknown>;
    }
    return { incident: { facts, lastEventAt: asOf, extractedFrom: key }, stale, ownNote: isOwnNote(event), event };
  }
  return {
    incident: { facts, lastEventAt: asOf, ...(previous?.extractedFrom !== undefined ? { extractedFrom: previous.extractedFrom } : {}) },
    stale,
    ownNote: isOwnNote(event),
    event,
  };
}
