import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The history purge (src/db/repositories/retention.ts) deletes parked events (incident_event_backlog) past the
// retention whose incident is not open, oldest first: rows a run terminated from outside left behind, each up
// to 256 KiB of the event's text. Each batch finds them through this index instead of reading the whole table.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('incident_event_backlog_parked_at_idx').on('incident_event_backlog').column('parked_at').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('incident_event_backlog_parked_at_idx').ifExists().execute();
}
