// Read models of incidents the API needs beyond the incident repository (rule tests against a stored incident).
import type { Db } from './db.js';

/** The incident's latest event (by occurrence, then arrival): its type and payload. */
export async function latestIncidentEvent(db: Db, incidentId: string): Promise<{ event_type: string; payload: unknown } | undefined> {
  return db
    .selectFrom('incident_events')
    .select(['event_type', 'payload'])
    .where('incident_id', '=', incidentId)
    .orderBy('occurred_at', 'desc')
    .orderBy('id', 'desc')
    .executeTakeFirst();
}
