import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `rule_versions.definition_bytes`: the length in bytes of the version's definition as JSON text, kept by
// Postgres itself (a stored generated column, filled for every existing row as it is added). The as-recorded
// backtest and the paged version history measure versions before reading them (src/db/repositories/
// history.ts, rules.ts); measured as octet_length(definition::text) at each request, Postgres unpacked and
// printed every definition it measured, up to a gigabyte for one request, the very read the cap was there
// to spare.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rule_versions')
    .addColumn('definition_bytes', 'integer', (c) => c.generatedAlwaysAs(sql`octet_length(definition::text)`).stored().notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_versions').dropColumn('definition_bytes').execute();
}
