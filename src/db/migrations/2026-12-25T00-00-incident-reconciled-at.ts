import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `reconciled_at`: when the worker last asked PagerDuty whether this open incident is still open
// (activities/reconcile.ts). A resolve PagerDuty never delivered (it gives up on a delivery after its
// retries; a subscription can be disabled or deleted for a while) left the incident open here for good:
// its workflow waited, its rule runs kept waiting for approvals, and retention keeps open incidents. The
// sweep takes the open incidents asked about longest ago first, so every one is asked in turn.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('incidents').addColumn('reconciled_at', 'timestamptz').execute();
  await sql`create index incidents_open_reconciled_idx on incidents (reconciled_at nulls first) where status <> 'resolved'`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index if exists incidents_open_reconciled_idx`.execute(db);
  await db.schema.alterTable('incidents').dropColumn('reconciled_at').execute();
}
