// The backlog an incident's workflow run parks in Postgres instead of carrying it to its next run
// (workflows/incident-steps.ts, PARK_BACKLOG_PATCH), and the taking of a parked event: it is read back
// and triaged in one local activity, so the event itself never enters the next run's history (only the
// triage result does, as for an event taken from a signal).
import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import { dropParkedEvents, nextParkedEvent, parkEvents } from '../src/db/repositories/event-backlog.js';
import type { IncidentEventMessage } from '../src/contracts/incident.js';
import type { TriageResult } from './triage.js';

export interface BacklogDeps {
  db: Kysely<Database>;
  triageIncidentEvent(input: { incidentId: string; message: IncidentEventMessage; takenBy?: string }): Promise<TriageResult>;
}

export function createBacklogActivities(deps: BacklogDeps) {
  /** Park queued events, in order, after those parked before (an event parked already keeps its place). */
  async function parkIncidentEvents(input: { incidentId: string; parkedBy: string; messages: IncidentEventMessage[] }): Promise<{ parked: number }> {
    const messages = input.messages.map((m) => ({ eventId: m.eventId, json: JSON.stringify(m) }));
    return { parked: await parkEvents(deps.db, { incidentId: input.incidentId, parkedBy: input.parkedBy, messages }) };
  }

  /**
   * Take the incident's oldest parked event after `after`: triage it for the run `takenBy` (as an event from
   * a signal is). `none` when no event is parked after it. Rows are not deleted here: a task that takes
   * one and fails before it completes takes it again on its retry.
   */
  async function triageParkedEvent(input: { incidentId: string; after: string; takenBy: string }): Promise<{ none: true } | { none: false; id: string; eventId: string; triage: TriageResult }> {
    const row = await nextParkedEvent(deps.db, input.incidentId, input.after);
    if (!row) return { none: true };
    const message = JSON.parse(row.json) as IncidentEventMessage;
    const triage = await deps.triageIncidentEvent({ incidentId: input.incidentId, message, takenBy: input.takenBy });
    return { none: false, id: row.id, eventId: message.eventId, triage };
  }

  /** Delete the incident's parked events up to `upTo`, whose taking is recorded in the run's history. */
  async function dropParkedIncidentEvents(input: { incidentId: string; upTo: string }): Promise<{ dropped: number }> {
    return { dropped: await dropParkedEvents(deps.db, input.incidentId, input.upTo) };
  }

  return { parkIncidentEvents, triageParkedEvent, dropParkedIncidentEvents };
}
