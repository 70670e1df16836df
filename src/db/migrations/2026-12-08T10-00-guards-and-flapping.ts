import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Fleet blast radius and flapping (issue 22): every remediation recorded with its target (what the sliding
// windows count), automation pauses that only an admin lifts, and the pages and notes they owe.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('remediations')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    // One per rule match that was let through to remediate (written in the match's transaction).
    .addColumn('match_id', 'bigint', (c) => c.notNull().unique())
    .addColumn('rule_id', 'text', (c) => c.notNull())
    .addColumn('incident_id', 'text', (c) => c.notNull())
    .addColumn('target', 'text')
    .addColumn('environment', 'text')
    // Remediation actions the run may take (scripts, PagerDuty state changes): what actions/minute counts.
    .addColumn('actions', 'integer', (c) => c.notNull())
    .addColumn('at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('remediations_at_idx').on('remediations').column('at').execute();
  await db.schema.createIndex('remediations_target_idx').on('remediations').columns(['target', 'at']).execute();

  await db.schema
    .createTable('automation_pauses')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('scope', 'text', (c) => c.notNull()) // fleet | environment
    .addColumn('environment', 'text', (c) => c.notNull().defaultTo('')) // '' for the fleet
    .addColumn('guard', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('incident_id', 'text')
    .addColumn('paused_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('resumed_at', 'timestamptz')
    .addColumn('resumed_by', 'text')
    .execute();
  // At most one pause in force per scope: the second guard crossing finds it and pages nobody.
  await db.schema
    .createIndex('automation_pauses_active_idx')
    .on('automation_pauses')
    .columns(['scope', 'environment'])
    .unique()
    .where(sql.ref('resumed_at'), 'is', null)
    .execute();

  await db.schema
    .createTable('automation_alerts')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('kind', 'text', (c) => c.notNull()) // guard | flapping
    .addColumn('incident_id', 'text')
    .addColumn('target', 'text')
    .addColumn('text', 'text', (c) => c.notNull())
    // Page the operator's channel (once per pause or flapping episode); a note goes to the incident anyway.
    .addColumn('page', 'boolean', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('claimed_at', 'timestamptz')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('automation_alerts_unsent_idx').on('automation_alerts').column('created_at').where(sql.ref('sent_at'), 'is', null).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('automation_alerts').execute();
  await db.schema.dropTable('automation_pauses').execute();
  await db.schema.dropTable('remediations').execute();
}
