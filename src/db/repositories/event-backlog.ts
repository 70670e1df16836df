import type { Db } from './db.js';
import { storable } from './incidents.js';

/**
 * Parks an incident run's queued events (their messages as JSON text), in the order given, after any parked
 * before them. An event of the incident parked already (a retried park, a redelivery parked twice) keeps its
 * row and place. Returns how many rows were new.
 */
export async function parkEvents(db: Db, p: { incidentId: string; parkedBy: string; messages: { eventId: string; json: string }[] }): Promise<number> {
  if (p.messages.length === 0) return 0;
  const rows = await db
    .insertInto('incident_event_backlog')
    .values(p.messages.map((m) => ({ incident_id: storable(p.incidentId), event_id: storable(m.eventId), message: m.json, parked_by: storable(p.parkedBy) })))
    .onConflict((oc) => oc.columns(['incident_id', 'event_id']).doNothing())
    .returning('id')
    .execute();
  return rows.length;
}

/** The incident's oldest parked event after `after` (an `id`, "0" for the first), as its JSON text. */
export async function nextParkedEvent(db: Db, incidentId: string, after: string): Promise<{ id: string; json: string } | undefined> {
  const row = await db
    .selectFrom('incident_event_backlog')
    .select(['id', 'message'])
    .where('incident_id', '=', storable(incidentId))
    .where('id', '>', after)
    .orderBy('id')
    .limit(1)
    .executeTakeFirst();
  return row && { id: String(row.id), json: row.message };
}

/** Deletes the incident's parked events up to `upTo` (an `id`): taken, and their taking recorded. */
export async function dropParkedEvents(db: Db, incidentId: string, upTo: string): Promise<number> {
  const rows = await db.deleteFrom('incident_event_backlog').where('incident_id', '=', storable(incidentId)).where('id', '<=', upTo).returning('id').execute();
  return rows.length;
}
