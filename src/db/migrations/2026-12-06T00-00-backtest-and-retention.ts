import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Backtests (issue 21): the history read in time order, backtests attached to rule versions, and the
// retention purge (events, matches and runs older than SELFHEAL_RETENTION_DAYS) with its watermark.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  // The backtest reads events in received order (keyset on received_at, id); the purge deletes by age.
  await db.schema.createIndex('incident_events_received_idx').on('incident_events').columns(['received_at', 'id']).execute();
  // A recorded match's actions (how its run ended), and the purges of matches and runs by age.
  await db.schema.createIndex('action_runs_match_idx').on('action_runs').column('match_id').execute();
  await db.schema.createIndex('action_runs_created_idx').on('action_runs').column('created_at').execute();
  await db.schema.createIndex('rule_matches_matched_idx').on('rule_matches').column('matched_at').execute();

  await db.schema
    .createTable('rule_backtests')
    .addColumn('id', 'bigserial', (c) => c.primaryKey())
    .addColumn('rule_id', 'text', (c) => c.notNull().references('rules.id').onDelete('cascade'))
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('window_from', 'timestamptz', (c) => c.notNull())
    .addColumn('window_to', 'timestamptz', (c) => c.notNull())
    // The summary the author saw (counts, peak per hour, diff), never the per-event results.
    .addColumn('summary', 'jsonb', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db.schema.createIndex('rule_backtests_rule_idx').on('rule_backtests').columns(['rule_id', 'version']).execute();

  await db.schema
    .createTable('retention_watermarks')
    .addColumn('name', 'text', (c) => c.primaryKey())
    // Rows of this kind older than this were purged: the backtest says so for windows reaching before it.
    .addColumn('purged_before', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('retention_watermarks').ifExists().execute();
  await db.schema.dropTable('rule_backtests').ifExists().execute();
  await db.schema.dropIndex('rule_matches_matched_idx').ifExists().execute();
  await db.schema.dropIndex('action_runs_created_idx').ifExists().execute();
  await db.schema.dropIndex('action_runs_match_idx').ifExists().execute();
  await db.schema.dropIndex('incident_events_received_idx').ifExists().execute();
}
