import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The bytes a row of GET /api/rules, /api/jobs and /api/environments weighs, kept by Postgres itself (stored
// generated columns, filled for every existing row as they are added): `rules.definition_bytes` and
// `jobs.definition_bytes` (the definition as JSON text), `environments.row_bytes` (its description, labels,
// SSH settings and maintenance windows). These lists are paged by rows and by bytes (src/db/repositories/
// rules.ts, jobs.ts, environments.ts): a page is measured before it is read, without Postgres unpacking and
// printing every definition it measures, as rule_versions.definition_bytes (2026-12-27) does for versions.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rules')
    .addColumn('definition_bytes', 'integer', (c) => c.generatedAlwaysAs(sql`octet_length(definition::text)`).stored().notNull())
    .execute();
  await db.schema
    .alterTable('jobs')
    .addColumn('definition_bytes', 'integer', (c) => c.generatedAlwaysAs(sql`octet_length(definition::text)`).stored().notNull())
    .execute();
  await db.schema
    .alterTable('environments')
    .addColumn('row_bytes', 'integer', (c) =>
      c
        .generatedAlwaysAs(
          sql`coalesce(octet_length(description), 0) + octet_length(labels::text) + coalesce(octet_length(ssh::text), 0) + octet_length(maintenance_windows::text)`,
        )
        .stored()
        .notNull(),
    )
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('environments').dropColumn('row_bytes').execute();
  await db.schema.alterTable('jobs').dropColumn('definition_bytes').execute();
  await db.schema.alterTable('rules').dropColumn('definition_bytes').execute();
}
