import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `snapshot_at`: when the newest event that carried the incident's own data (its snapshot, or a status by
// its type) occurred. An event older than it changes none of the incident's fields and starts no rule.
// Before, that comparison was against `last_event_at`, which every event moves, notes and other
// sub-resource events included: a resolve that occurred just before a note (PagerDuty's "resolve with a
// note", the summary note Self-healing writes, a retried delivery) and arrived after it was dropped as
// stale, leaving the incident `triggered`, its fixes uncancelled and its `incident.resolved` rules unrun.
// `last_event_at` stays the newest event of any kind (retention reads it). Existing rows start from
// `last_event_at`, as they were compared until now.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('incidents').addColumn('snapshot_at', 'timestamptz').execute();
  await sql`update incidents set snapshot_at = last_event_at where last_event_at is not null`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('incidents').dropColumn('snapshot_at').execute();
}
