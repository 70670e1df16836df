import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// Events an incident's workflow run parks instead of carrying them to its next run (workflows/incident-steps.ts,
// PARK_BACKLOG_PATCH): queued past what the next run's input may hold (1 MiB), they were taken one by one
// in the same run, each adding its triage result and rule-run starts to a history that Temporal
// terminates at 50 MB, and the events still queued then were never stored. Parked here, in arrival
// order (`id`), with the message as the webhook signalled it (its JSON text: jsonb cannot hold
// U+0000 or a lone surrogate, which triage stores or rejects as it would have); the next run carries only how far it got
// (`id` of the last one taken) and takes them, oldest first, before its own signals. Rows are deleted
// once the run taking the last of them has recorded it. One row per incident and event id: parking the
// same events again (a retried activity, a replayed task) changes nothing.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('incident_event_backlog')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('event_id', 'text', (c) => c.notNull())
    .addColumn('message', 'text', (c) => c.notNull())
    .addColumn('parked_by', 'text', (c) => c.notNull())
    .addColumn('parked_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addUniqueConstraint('incident_event_backlog_event', ['incident_id', 'event_id'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('incident_event_backlog').execute();
}
