import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Trust in runs (issue 19): why each action ran, atomic claims, events taken once, poison events
// rejected, per-target leases.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('action_runs')
    // Why the action ran or was skipped (its `when` against the earlier outcomes), shown by the dashboard.
    .addColumn('reason', 'text')
    // The run that claimed the action (`<workflowId>/<runId>`): a claim by anyone else is never executed.
    .addColumn('claimed_by', 'text')
    // The rule-run workflow that owns the action: the API nudges it after recording an approval.
    .addColumn('workflow_id', 'text')
    .execute();

  await db.schema
    .alterTable('incident_events')
    // The incident workflow run that took the event for processing; a delivery taken by another run is a
    // duplicate and stops after triage.
    .addColumn('taken_by', 'text')
    // Why an event was rejected (disposition `rejected`): a timestamp that is not one, JSON that jsonb refuses.
    .addColumn('reject_reason', 'text')
    .execute();

  await db.schema
    .createTable('target_leases')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('target', 'text', (c) => c.notNull())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('match_id', 'bigint', (c) => c.notNull().unique())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('acquired_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    // A lease whose run died (a terminated workflow) stops counting at expiry: no host is blocked for good.
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('released_at', 'timestamptz')
    .execute();
  await db.schema
    .createIndex('target_leases_active_idx')
    .on('target_leases')
    .columns(['target', 'expires_at'])
    .where(sql.ref('released_at'), 'is', null)
    .execute();
  await db.schema.createIndex('target_leases_cooldown_idx').on('target_leases').columns(['rule_id', 'target', 'acquired_at']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('target_leases').ifExists().execute();
  await db.schema.alterTable('incident_events').dropColumn('reject_reason').dropColumn('taken_by').execute();
  await db.schema.alterTable('action_runs').dropColumn('workflow_id').dropColumn('claimed_by').dropColumn('reason').execute();
}
