// Incidents as the API reads them, and the approval gate: a decision is recorded in Postgres with the
// authenticated actor first (atomically: only while the action still waits and nobody decided), then the
// waiting rule run is nudged; it acts on the decision it reads back from Postgres, never on the signal.
// The author of the rule version that planned the action may not approve it.
//
// Marking resolved: the escape hatch for an incident whose resolve never arrived and that the reconcile
// (activities/reconcile.ts) cannot close, because no PagerDuty token is set, or PagerDuty no longer knows
// the incident. An admin hands its workflow the `incident.resolved` PagerDuty would have delivered,
// with who and why; the audit entry is written in the transaction that holds the incident's row while
// the workflow is signalled, so there is no entry without the signal, and no signal without the entry
// unless the commit itself fails. PagerDuty is not told.
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { IncidentEventMessage } from '../contracts/index.js';
import type { Database, Incident } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { findIncident, findIncidentForUpdate, listActionRuns, listEvents, listIncidents, listMatches } from '../db/repositories/incidents.js';
import { inTransaction } from '../db/repositories/transactions.js';
import type { Logger } from '../logger.js';
import { actionErrorFor, reasonFor, verificationDetailFor } from '../domain/policies.js';
import { incidentEventMessage, signalIncident } from '../temporal/incident-signal.js';
import type { Actor } from './actor.js';
import { decideApproval } from './approvals.js';
import { ConflictError, errorForLog, NotFoundError, UnavailableError, ValidationError } from './errors.js';
import { labelIncidents } from './stats.js';
import { canRead } from './team-access.js';

export type IncidentFilter = Parameters<typeof listIncidents>[1];

/** Events, rule matches and action runs an incident's detail carries at most, each: the newest. */
export const INCIDENT_DETAIL_LIMIT = 500;

/**
 * The `incident.resolved` an admin hands an incident whose resolve never arrived: dated when PagerDuty
 * resolved it if the admin says (else now), or at the incident's newest data when that is later (an older
 * event is kept as stale, and the incident would stay open); its id fixed per state of the incident, so a
 * retried or doubled request is one event.
 */
export function markedResolvedEvent(incident: Incident, actor: string, reason: string, now: Date, resolvedAt?: Date): IncidentEventMessage {
  const at = new Date(Math.max((resolvedAt ?? now).getTime(), incident.snapshot_at?.getTime() ?? 0));
  const data: Record<string, unknown> = { id: incident.id, type: 'incident', status: 'resolved', resolved_at: at.toISOString() };
  if (incident.service_id) data['service'] = { id: incident.service_id, type: 'service_reference', ...(incident.service_name ? { summary: incident.service_name } : {}) };
  if (incident.title) data['title'] = incident.title;
  if (incident.html_url) data['html_url'] = incident.html_url;
  const event = {
    id: `selfheal-marked-resolved:${incident.id}:${incident.updated_at.toISOString()}`,
    event_type: 'incident.resolved',
    resource_type: 'incident',
    occurred_at: at.toISOString(),
    agent: null,
    client: { name: 'Self-healing mark-resolved', markedResolvedBy: actor, reason },
    data,
  };
  return incidentEventMessage(event, undefined, now);
}

export function incidentService(deps: { db: Kysely<Database>; temporal: Client; taskQueue: string; logger: Logger }) {
  const { db } = deps;
  return {
    list: (filter: IncidentFilter) => listIncidents(db, filter),

    /** Who fixed each incident (auto-remediated, assisted, human), from its events and our action runs. */
    labels: (ids: string[]) => labelIncidents(db, ids),

    /**
     * One incident with its newest events, rule matches and action runs (at most INCIDENT_DETAIL_LIMIT of
     * each, and how many older ones were left out): an incident open for weeks, its notes and status
     * updates each an event, made an answer without bound. A match's skip reason naming a team `actor`
     * cannot read says "another team" instead (reasonFor), and neither an action run's error nor a match's
     * verification detail names a team (actionErrorFor, verificationDetailFor): incidents, their matches and
     * action runs span teams, team names do not.
     */
    async get(actor: Actor, id: string) {
      const incident = await findIncident(db, id);
      if (!incident) throw new NotFoundError(`incident ${id} is not known`);
      const [events, matches, actionRuns, labels] = await Promise.all([
        listEvents(db, id, INCIDENT_DETAIL_LIMIT),
        listMatches(db, id, INCIDENT_DETAIL_LIMIT),
        listActionRuns(db, id, INCIDENT_DETAIL_LIMIT),
        labelIncidents(db, [id]),
      ]);
      return {
        incident,
        events: events.items,
        matches: matches.items.map((m) => ({
          ...m,
          skip_reason: reasonFor(m.skip_reason, (team) => canRead(actor, team)),
          verification_detail: verificationDetailFor(m.verification_detail),
        })),
        actionRuns: actionRuns.items.map((r) => (r.error ? { ...r, error: actionErrorFor(r.error) } : r)),
        omitted: { events: events.omitted, matches: matches.omitted, actionRuns: actionRuns.omitted },
        label: labels.get(id) ?? null,
      };
    },

    /**
     * Marks an open incident resolved here (admin; the route checks the scope): its workflow takes the
     * resolve PagerDuty never delivered, cancels its rule runs and refuses their waiting approvals, and
     * runs its `incident.resolved` rules as PagerDuty's resolve would have. 404 unknown, 409 already
     * resolved, 503 when Temporal does not take it (nothing recorded).
     */
    async markResolved(actor: Actor, id: string, input: { reason: string; resolvedAt?: string | undefined }): Promise<{ incidentId: string; eventId: string; actor: string }> {
      return inTransaction(db, async (trx) => {
        const incident = await findIncidentForUpdate(trx, id);
        if (!incident) throw new NotFoundError(`incident ${id} is not known`);
        if (incident.status === 'resolved') throw new ConflictError(`incident ${id} is already resolved`);
        const now = new Date();
        // When PagerDuty resolved it: the time to resolve in the stats is then PagerDuty's, not the day an admin noticed.
        const resolvedAt = input.resolvedAt === undefined ? undefined : new Date(input.resolvedAt);
        const opened = incident.pd_created_at ?? incident.created_at;
        if (resolvedAt && (resolvedAt.getTime() > now.getTime() + 60_000 || resolvedAt.getTime() < opened.getTime())) {
          throw new ValidationError('resolvedAt is out of range', [{ path: 'resolvedAt', message: `must lie between the incident's creation (${opened.toISOString()}) and now` }]);
        }
        const msg = markedResolvedEvent(incident, actor.name, input.reason, now, resolvedAt);
        await writeAudit(trx, {
          actor: actor.name,
          action: 'incident.mark-resolved',
          entityType: 'incident',
          entityId: id,
          before: { status: incident.status },
          after: { status: 'resolved', eventId: msg.eventId, reason: input.reason, ...(resolvedAt ? { resolvedAt: msg.occurredAt } : {}) },
        });
        try {
          await signalIncident(deps.temporal, deps.taskQueue, id, msg, incident.service_id ?? undefined);
        } catch (err) {
          deps.logger.warn({ incidentId: id, err: errorForLog(err) }, 'mark-resolved: the workflow could not be signalled; nothing recorded');
          throw new UnavailableError('the workflow service did not take the resolve; nothing was changed, try again', err);
        }
        return { incidentId: id, eventId: msg.eventId, actor: actor.name };
      });
    },

    /** Records an approval decision and tells the waiting rule run (src/services/approvals.ts, the one path links use too). */
    decide(actor: Actor, incidentId: string, actionRunId: string, input: { decision: 'approve' | 'reject'; comment?: string | undefined }) {
      return decideApproval(
        { db, temporal: deps.temporal, warn: (detail, message) => deps.logger.warn(detail, message) },
        { actionRunId, incidentId, decision: input.decision, actor, comment: input.comment },
      );
    },
  };
}
