import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `schedule_fingerprint`: a digest of the job's schedule as Temporal described it right after our last write
// of it (src/temporal/schedules.ts, scheduleFingerprint). The digest our schedules carry in their action's
// memo tells which job version we last wrote, not what the schedule does now: an edit in the Temporal UI
// keeps the memo, so a schedule set to fire every second stayed so while its job said every hour. Null for
// schedules written before this column (the reconcile takes the schedule as it stands then).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').addColumn('schedule_fingerprint', 'text').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('jobs').dropColumn('schedule_fingerprint').execute();
}
