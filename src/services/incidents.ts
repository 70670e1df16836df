// Incidents as the API reads them, and the approval gate: a decision is recorded in Postgres with the
// authenticated actor first (atomically: only while the action still waits and nobody decided), then the
// waiting rule run is nudged; it acts on the decision it reads back from Postgres, never on the signal.
// The author of the rule version that planned the action may not approve it.
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { findIncident, listActionRuns, listEvents, listIncidents, listMatches } from '../db/repositories/incidents.js';
import type { Logger } from '../logger.js';
import type { Actor } from './actor.js';
import { decideApproval } from './approvals.js';
import { NotFoundError } from './errors.js';
import { labelIncidents } from './stats.js';

export type IncidentFilter = Parameters<typeof listIncidents>[1];

export function incidentService(deps: { db: Kysely<Database>; temporal: Client; logger: Logger }) {
  const { db } = deps;
  return {
    list: (filter: IncidentFilter) => listIncidents(db, filter),

    /** Who fixed each incident (auto-remediated, assisted, human), from its events and our action runs. */
    labels: (ids: string[]) => labelIncidents(db, ids),

    /** One incident with its events, rule matches and action runs. */
    async get(id: string) {
      const incident = await findIncident(db, id);
      if (!incident) throw new NotFoundError(`incident ${id} is not known`);
      const [events, matches, actionRuns, labels] = await Promise.all([listEvents(db, id), listMatches(db, id), listActionRuns(db, id), labelIncidents(db, [id])]);
      return { incident, events, matches, actionRuns, label: labels.get(id) ?? null };
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
