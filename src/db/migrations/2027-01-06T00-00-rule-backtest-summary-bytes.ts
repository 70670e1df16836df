import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// `rule_backtests.summary_bytes`: the length in bytes of the backtest's summary as JSON text, kept by
// Postgres itself (a stored generated column, filled for every existing row as it is added).
// GET /api/rules/{id}/backtests measures a page before reading it (src/db/repositories/backtests.ts);
// measured as octet_length(summary::text) at each request, Postgres unpacked and printed every summary it
// measured, up to 201 of them for one page, to keep one.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rule_backtests')
    .addColumn('summary_bytes', 'integer', (c) => c.generatedAlwaysAs(sql`octet_length(summary::text)`).stored().notNull())
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_backtests').dropColumn('summary_bytes').execute();
}
