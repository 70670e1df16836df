import type { Kysely } from 'kysely';
import type { Database, Incident } from '../src/db/database.js';
import {
  findEventTaker,
  findIncident,
  findIncidentForUpdate,
  insertEventOnce,
  insertIncident,
  isTimestamp,
  jsonbRefusal,
  noteEvent,
  storable,
  updateIncident,
  withoutNul,
} from '../src/db/repositories/incidents.js';
import { inTransaction } from '../src/db/repositories/transactions.js';
import { extractEnvironment, type ExtractorsConfig } from '../src/domain/extract.js';
import { capAlerts, withoutOmittedMarker } from '../src/domain/stored-alerts.js';
import { incidentIdOf, statusFromEventType, toIncidentSnapshot, type PagerDutyEvent } from '../src/pagerduty/parse.js';
import { incidentWorkflowId } from '../src/contracts/names.js';
import type { Logger } from '../src/logger.js';
import type { IncidentEventMessage } from '../src/contracts/incident.js';
import { toFailure } from './actions.js';
import { isReconciledResolveId } from './reconcile.js';
import type { RecordEventResult } from './types.js';

export interface IncidentActivityDeps {
  db: Kysely<Database>;
  logger: Logger;
  extractors: ExtractorsConfig;
  /** Present when PAGERDUTY_API_TOKEN is set. */
  pagerduty?: { listIncidentAlerts(incidentId: string, options?: { max?: number }): Promise<unknown[]> } | undefined;
}

const MAX_STORED_ALERTS = 50;

/** Why a resolve of an incident already resolved starts no rule (recorded on the event, shown on the incident's page). */
export const RESOLVED_AGAIN = 'the incident was resolved already: a resolve of a resolved incident changes nothing and starts no rule';

/** The status of an incident no event taken has told (see docs/guarantees.md, "An incident first known from a note"). */
export const INCIDENT_STATUS_UNKNOWN = 'unknown';

/** The incident steps triage runs, and the activities registered from them. */
export function createIncidentSteps(deps: IncidentActivityDeps) {
  const { db } = deps;

  /**
   * Persist the raw event (once, keyed by PagerDuty event id) and upsert the incident it describes.
   * `takenBy` names the workflow run taking the event: a stored event taken by another run (or by none) is
   * a duplicate delivery, while one taken by this very run is its own retry (a retried local activity, a
   * replayed task) and goes on. An event that cannot be stored as it is (a timestamp that is not one, JSON
   * that jsonb refuses) is stored as rejected, with the reason, and changes nothing else.
   */
  async function recordIncidentEvent(msg: IncidentEventMessage, takenBy?: string): Promise<RecordEventResult> {
    return (await recordEvent(msg, takenBy)).recorded;
  }

  /** {@link recordIncidentEvent}, with the incident row as it now stands and the event as stored (triage goes on from them). */
  async function recordEvent(msg: IncidentEventMessage, takenBy?: string): Promise<Recorded> {
    const event = withoutNul(msg.event) as PagerDutyEvent;
    const incidentId = incidentIdOf(event);
    const refusal =
      (!incidentId ? 'the event names no incident' : undefined) ??
      (msg.occurredAt !== undefined && !isTimestamp(msg.occurredAt) ? `occurred_at ${JSON.stringify(msg.occurredAt.slice(0, 64))} is not an ISO 8601 timestamp` : undefined) ??
      jsonbRefusal(event, 'event');
    if (refusal || !incidentId) return { recorded: await reject(msg, incidentId, refusal ?? 'the event names no incident', takenBy) };
    try {
      return await record(msg, event, incidentId, takenBy);
    } catch (err) {
      // A value Postgres refuses (SQLSTATE class 22, data exception) will be refused on every retry: reject
      // the event instead of blocking the incident's later events behind it.
      const code = (err as { code?: unknown }).code;
      if (typeof code === 'string' && code.startsWith('22')) return { recorded: await reject(msg, incidentId, `Postgres refused the event: ${(err as Error).message.split('\n')[0]}`, takenBy) };
      throw err;
    }
  }

  async function reject(msg: IncidentEventMessage, incidentId: string | undefined, reason: string, takenBy: string | undefined): Promise<RecordEventResult> {
    deps.logger.warn({ incidentId, eventId: msg.eventId, reason }, 'event rejected');
    const inserted = await insertEventOnce(db, {
      eventId: storable(msg.eventId),
      webhookId: msg.webhookId === undefined ? undefined : storable(msg.webhookId),
      incidentId: incidentId === undefined ? null : storable(incidentId),
      eventType: storable(msg.eventType),
      resourceType: storable(String(msg.event.resource_type ?? 'incident')),
      occurredAt: undefined,
      disposition: 'rejected',
      payload: storable({ event: msg.event, occurred_at: msg.occurredAt }),
      takenBy,
      rejectReason: reason,
    });
    const existing = incidentId ? await findIncident(db, incidentId) : undefined;
    const taker = inserted ? undefined : await findEventTaker(db, storable(msg.eventId));
    const duplicate = !inserted && (taker?.takenBy === null || taker?.takenBy !== takenBy);
    return { duplicate, stale: false, incidentStatus: existing?.status ?? 'triggered', serviceId: existing?.service_id ?? undefined, rejected: reason };
  }

  /**
   * An event older than the newest one that carried the incident's data: it updates nothing newer and
   * starts no rule. Notes and other sub-resource events do not count (see migration
   * 2026-12-23T00-00-incident-snapshot-at): a resolve that occurred just before a note is still a resolve.
   */
  const olderThanSnapshot = (occurredAt: Date, existing: { snapshot_at: Date | null } | undefined): boolean =>
    existing?.snapshot_at ? occurredAt.getTime() < existing.snapshot_at.getTime() : false;

  async function record(msg: IncidentEventMessage, event: PagerDutyEvent, incidentId: string, takenBy: string | undefined): Promise<Recorded> {
    return inTransaction(db, async (trx) => {
      const inserted = await insertEventOnce(trx, {
        eventId: msg.eventId,
        webhookId: msg.webhookId,
        incidentId,
        eventType: msg.eventType,
        resourceType: String(event.resource_type ?? 'incident'),
        occurredAt: msg.occurredAt,
        disposition: 'accepted',
        payload: { event },
        takenBy,
      });
      const existing = await findIncidentForUpdate(trx, incidentId);
      if (!inserted) {
        const taker = await findEventTaker(trx, msg.eventId);
        const current = { incidentStatus: existing?.status ?? 'triggered', serviceId: existing?.service_id ?? undefined };
        if (taker?.disposition === 'rejected') return { recorded: { duplicate: taker.takenBy !== takenBy, stale: false, ...current, rejected: taker.rejectReason ?? 'rejected' } };
        if (takenBy === undefined || taker?.takenBy !== takenBy) return { recorded: { duplicate: true, stale: false, ...current } };
        // This run's own retry: the first attempt stored the event and updated the incident already.
        const occurredAt = msg.occurredAt ? new Date(msg.occurredAt) : undefined;
        const stale = occurredAt ? olderThanSnapshot(occurredAt, existing) : false;
        // A resolve the first attempt found the incident resolved already (stale for that reason alone: it
        // moved the incident's snapshot on, so it is not older than it now) says so on its row.
        if (taker.note) return { recorded: { duplicate: false, stale: stale || taker.note === RESOLVED_AGAIN, ...current, quiet: taker.note } };
        return { recorded: { duplicate: false, stale, ...current }, incident: existing, event, retry: true };
      }
      const snap = toIncidentSnapshot(event);
      const occurredAt = msg.occurredAt ? new Date(msg.occurredAt) : new Date(msg.receivedAt);
      // A resolve of an incident already resolved is one more telling of the same fact (PagerDuty's own
      // delivery arriving after the reconcile handed its resolve over, activities/reconcile.ts): stored,
      // and like an older event it changes nothing and starts no rule, so the `incident.resolved` rules
      // run once.
      const resolvedAgain = msg.eventType === 'incident.resolved' && existing?.status === 'resolved';
      const older = olderThanSnapshot(occurredAt, existing);
      const stale = resolvedAgain || older;
      const eventStatus = (snap?.complete ? snap.status : undefined) ?? statusFromEventType(msg.eventType);
      // Whether the event carries the incident's own data (a snapshot, or a status by its type), as a note
      // or a responder request does not: only such an event moves what the stored incident is as of.
      const carriesIncident = snap?.complete === true || eventStatus !== undefined;

      // Descriptive fields: take what this event carries unless it is older than what we hold.
      const pick = <T>(fresh: T | undefined, old: T | null | undefined): T | null =>
        stale ? (old ?? fresh ?? null) : (fresh ?? old ?? null);
      // An incident first known from an event that carries no status (a note on an incident resolved before
      // the subscription existed, or purged after retention) is `unknown` until one that carries it arrives:
      // nothing said it is open, and taken as `triggered` it was held open for good.
      const status = stale ? (existing?.status ?? eventStatus ?? INCIDENT_STATUS_UNKNOWN) : (eventStatus ?? existing?.status ?? INCIDENT_STATUS_UNKNOWN);
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
        last_event_at: existing?.last_event_at && existing.last_event_at.getTime() > occurredAt.getTime() ? existing.last_event_at : occurredAt,
        // A resolve of a resolved incident that is newer than what is held still says the incident is resolved
        // as of then: an older event delivered after it (a reopen from between two resolves) is stale.
        snapshot_at: carriesIncident && !older ? occurredAt : (existing?.snapshot_at ?? null),
        updated_at: new Date(),
      };
      const incident = existing
        ? await updateIncident(trx, incidentId, row)
        : await insertIncident(trx, { id: incidentId, workflow_id: incidentWorkflowId(incidentId), environment: '{}', ...row });
      const recorded = { duplicate: false, stale, incidentStatus: status, serviceId: row.service_id ?? undefined };
      // Recorded on the event in its transaction, so a retry of this step (a worker killed before its workflow
      // task completed) finds it stale too: the retry reads the incident resolved by now either way, and
      // took the resolve for the one that resolved it, running the incident.resolved rules a second time.
      if (resolvedAgain) await noteEvent(trx, msg.eventId, RESOLVED_AGAIN);
      // A resolve the reconcile derived from PagerDuty's answer (activities/reconcile.ts) for an incident no
      // event ever told the status of: PagerDuty resolved it, maybe months ago, and nothing here knew it open.
      // It closes the incident (and its workflow) and starts no rule: its `incident.resolved` rules (notices,
      // write-back notes, ...) ran when it was resolved, or were never ours to run. Recorded on the event.
      if (!stale && msg.eventType === 'incident.resolved' && isReconciledResolveId(msg.eventId) && existing?.status === INCIDENT_STATUS_UNKNOWN) {
        const quiet = 'a resolve the reconcile derived from PagerDuty for an incident whose status no event had told: no incident.resolved rule runs for it';
        await noteEvent(trx, msg.eventId, quiet);
        deps.logger.info({ incidentId, eventId: msg.eventId }, 'reconciled resolve of an incident of unknown status: resolved, no rule runs');
        return { recorded: { ...recorded, quiet } };
      }
      return { recorded, incident, event };
    });
  }

  /**
   * V3 webhooks carry no alert details: fetch them (at most the stored number) when a token is configured.
   * What is kept is bounded in bytes too (capAlerts: 1 MiB of JSON together, a marker counting
   * those left out): every reader of the incident row reads them.
   */
  async function fetchAlerts(incidentId: string): Promise<unknown[] | undefined> {
    if (!deps.pagerduty) return undefined;
    try {
      // Alert details are whatever the monitoring that raised them sent: U+0000 and lone surrogates, which
      // jsonb refuses, are shown as U+FFFD (as in an event), or storing them would fail triage on every retry.
      return capAlerts(storable((await deps.pagerduty.listIncidentAlerts(incidentId, { max: MAX_STORED_ALERTS })).slice(0, MAX_STORED_ALERTS)));
    } catch (err) {
      // A 4xx (token without access, incident gone) will not change on a retry; the workflow goes on without.
      throw toFailure(err);
    }
  }

  async function enrichIncident(input: { incidentId: string }): Promise<{ alerts: number | null }> {
    const alerts = await fetchAlerts(input.incidentId);
    if (!alerts) return { alerts: null };
    await updateIncident(db, input.incidentId, { alerts: JSON.stringify(alerts), updated_at: new Date() });
    return { alerts: withoutOmittedMarker(alerts).length };
  }

  /**
   * Run the configured extractors over title, description and alert details (`alerts` when just fetched,
   * else those stored); store the result, with the fetched alerts, in one update. Returns the row as stored.
   */
  async function extractAndStore(incident: Incident, alerts: unknown[] | undefined): Promise<Incident> {
    const environment = extractEnvironment(
      { title: incident.title, description: incident.description, serviceId: incident.service_id, alerts: alerts ?? incident.alerts ?? [] },
      deps.extractors,
    );
    const stored = await updateIncident(db, incident.id, { ...(alerts ? { alerts: JSON.stringify(alerts) } : {}), environment: JSON.stringify(environment), updated_at: new Date() });
    if (!stored) throw new Error(`incident ${incident.id} not stored`);
    return stored;
  }

  async function extractIncidentEnvironment(input: { incidentId: string }): Promise<Record<string, unknown>> {
    const incident = await findIncident(db, input.incidentId);
    if (!incident) throw new Error(`incident ${input.incidentId} not stored`);
    return (await extractAndStore(incident, undefined)).environment as Record<string, unknown>;
  }

  return { recordEvent, fetchAlerts, extractAndStore, recordIncidentEvent, enrichIncident, extractIncidentEnvironment };
}

/**
 * The steps as separate activities, still registered for runs that took an event in several local
 * activities (before triage was one); triage itself calls the steps directly.
 */
export function incidentActivities(steps: ReturnType<typeof createIncidentSteps>) {
  const { recordIncidentEvent, enrichIncident, extractIncidentEnvironment } = steps;
  return { recordIncidentEvent, enrichIncident, extractIncidentEnvironment };
}

/** What recording an event gives triage: the result, and (when the event was stored for this run) the row and event. */
export interface Recorded {
  recorded: RecordEventResult;
  incident?: Incident | undefined;
  event?: PagerDutyEvent | undefined;
  /** This run had stored the event already: a retry, which may find matches its earlier attempt recorded. */
  retry?: boolean | undefined;
}
