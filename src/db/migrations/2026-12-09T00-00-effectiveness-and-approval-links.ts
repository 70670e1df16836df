import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Effectiveness and approvals where people are (issue 22): the tokens of approve/reject links sent to a
// rule's channels, and the indexes the effectiveness statistics read by.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('approval_links')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // SHA-256 (hex) of the 256-bit random token the link carries; the token itself is never stored.
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    // The one gated action run the token decides, and what it decides.
    .addColumn('action_run_id', 'text', (c) => c.notNull())
    .addColumn('decision', 'text', (c) => c.notNull()) // approve | reject
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    // Single use: set (with who followed it) in the transaction that records the decision.
    .addColumn('used_at', 'timestamptz')
    .addColumn('used_by', 'text')
    .execute();
  await db.schema.createIndex('approval_links_action_idx').on('approval_links').column('action_run_id').execute();
  // Statistics: matches of a rule in a time range, and incidents of a service in a time range.
  await db.schema.createIndex('rule_matches_rule_time_idx').on('rule_matches').columns(['rule_id', 'matched_at']).execute();
  // Incidents by when PagerDuty opened them (the statistics' time axis), overall and per service.
  await db.schema.createIndex('incidents_opened_idx').on('incidents').expression(sql`coalesce(pd_created_at, created_at)`).execute();
  await db.schema.createIndex('incidents_service_opened_idx').on('incidents').expression(sql`service_id, coalesce(pd_created_at, created_at)`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('incidents_service_opened_idx').ifExists().execute();
  await db.schema.dropIndex('incidents_opened_idx').ifExists().execute();
  await db.schema.dropIndex('rule_matches_rule_time_idx').ifExists().execute();
  await db.schema.dropTable('approval_links').ifExists().execute();
}
