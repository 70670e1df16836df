import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { findIncident, findIncidentForUpdate, insertEventOnce, withoutNul } from '../src/db/queries/incidents.js';
import { extractEnvironment, type ExtractorsConfig } from '../src/domain/extract.js';
import { incidentIdOf, statusFromEventType, toIncidentSnapshot, type PagerDutyEvent } from '../src/pagerduty/parse.js';
import { incidentWorkflowId } from '../src/temporal/names.js';
import type { Logger } from '../src/logger.js';
import type { IncidentEventMessage } from '../src/contracts/incident.js';
import { toFailure } from './actions.js';
import type { RecordEventResult } from './types.js';

export interface IncidentActivityDeps {
  db: Kysely<Database>;
  logger: Logger;
  extractors: ExtractorsConfig;
  /** Present when PAGERDUTY_API_TOKEN is set. */
  pagerduty?: { listIncidentAlerts(incidentId: string): Promise<unknown[]> } | undefined;
}

const MAX_STORED_ALERTS = 50;

export function createIncidentActivities(deps: IncidentActivityDeps) {
  const { db } = deps;

  /** Persist the raw event (once, keyed by PagerDuty event id) and upsert the incident it describes. */
  async function recordIncidentEvent(msg: IncidentEventMessage): Promise<RecordEventResult> {
    const event = withoutNul(msg.event) as PagerDutyEvent;
    const incidentId = incidentIdOf(event);
    if (!incidentId) throw new Error(`event ${msg.eventId} names no incident`);
    return db.transaction().execute(async (trx) => {
      const inserted = await insertEventOnce(trx, {
        eventId: msg.eventId,
        webhookId: msg.webhookId,
        incidentId,
        eventType: msg.eventType,
        resourceType: String(event.resource_type ?? 'incident'),
        occurredAt: msg.occurredAt,
        disposition: 'accepted',
        payload: { event },
      });
      const existing = await findIncidentForUpdate(trx, incidentId);
      if (!inserted) {
        return { duplicate: true, stale: false, incidentStatus: existing?.status ?? 'triggered', serviceId: existing?.service_id ?? undefined };
      }
      const snap = toIncidentSnapshot(event);
      const occurredAt = msg.occurredAt ? new Date(msg.occurredAt) : new Date(msg.receivedAt);
      const stale = existing?.last_event_at ? occurredAt.getTime() < existing.last_event_at.getTime() : false;
      const eventStatus = (snap?.complete ? snap.status : undefined) ?? statusFromEventType(msg.eventType);

      // Descriptive fields: take what this event carries unless it is older than what we hold.
      const pick = <T>(fresh: T | undefined, old: T | null | undefined): T | null =>
        stale ? (old ?? fresh ?? null) : (fresh ?? old ?? null);
      const status = stale ? (existing?.status ?? eventStatus ?? 'triggered') : (eventStatus ?? existing?.status ?? 'triggered');
      const row = {
        number: pick(snap?.number, existing?.number),
        title: pick(snap?.title, existing?.title),
        description: pick(snap?.description, existing?.description),
        status,
        urgency: pick(snap?.urgency, existing?.urgency),
        priority: snap?.priority !== undefined && !stale ? (snap.priority?.summary ?? null) : (existing?.priority ?? null),
        service_id: pick(snap?.serviceId, existing?.service_id),
        service_name: pick(snap?.serviceName, existing?.service_name),
        escalation_policy_id: pick(snap?.escalationPolicyId, existing?.escalation_policy_id),
        escalation_policy_name: pick(snap?.escalationPolicyName, existing?.escalation_policy_name),
        assignees: JSON.stringify(snap?.complete && !stale ? snap.assignees : (existing?.assignees ?? snap?.assignees ?? [])),
        html_url: pick(snap?.htmlUrl, existing?.html_url),
        incident_key: pick(snap?.incidentKey, existing?.incident_key),
        pd_created_at: pick(snap?.createdAt, existing?.pd_created_at?.toISOString()),
        resolved_at: status === 'resolved' ? (stale ? existing?.resolved_at : (snap?.resolvedAt ?? occurredAt.toISOString())) ?? null : null,
        last_event_at: stale ? existing!.last_event_at : occurredAt,
        updated_at: new Date(),
      };
      if (existing) {
        await trx.updateTable('incidents').set(row).where('id', '=', incidentId).execute();
      } else {
        await trx.insertInto('incidents').values({ id: incidentId, workflow_id: incidentWorkflowId(incidentId), environment: '{}', ...row }).execute();
      }
      return { duplicate: false, stale, incidentStatus: status, serviceId: row.service_id ?? undefined };
    });
  }

  /** V3 webhooks carry no alert details: fetch them from the REST API when a token is configured. */
  async function enrichIncident(input: { incidentId: string }): Promise<{ alerts: number | null }> {
    if (!deps.pagerduty) return { alerts: null };
    let alerts: unknown[];
    try {
      alerts = await deps.pagerduty.listIncidentAlerts(input.incidentId);
    } catch (err) {
      // A 4xx (token without access, incident gone) will not change on a retry; the workflow goes on without.
      throw toFailure(err);
    }
    await db
      .updateTable('incidents')
      .set({ alerts: JSON.stringify(alerts.slice(0, MAX_STORED_ALERTS)), updated_at: new Date() })
      .where('id', '=', input.incidentId)
      .execute();
    return { alerts: alerts.length };
  }

  /** Run the configured extractors over title, description and alert details; store and return the result. */
  async function extractIncidentEnvironment(input: { incidentId: string }): Promise<Record<string, unknown>> {
    const incident = await findIncident(db, input.incidentId);
    if (!incident) throw new Error(`incident ${input.incidentId} not stored`);
    const environment = extractEnvironment(
      { title: incident.title, description: incident.description, serviceId: incident.service_id, alerts: incident.alerts ?? [] },
      deps.extractors,
    );
    await db
      .updateTable('incidents')
      .set({ environment: JSON.stringify(environment), updated_at: new Date() })
      .where('id', '=', input.incidentId)
      .execute();
    return environment;
  }

  return { recordIncidentEvent, enrichIncident, extractIncidentEnvironment };
}
