import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The incident list (GET /api/incidents, the dashboard's first page) is newest first, by (created_at, id),
// with an optional environment filter. The only indexes on created_at led with status or service_id, so the
// default page read the whole table and sorted it: about 70 ms of Postgres per call at 300,000 incidents, a
// cost any read token could repeat at its request budget's pace. These serve both in order.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('incidents_created_idx').on('incidents').columns(['created_at desc', 'id desc']).execute();
  await sql`create index incidents_environment_created_idx on incidents ((environment->>'environment'), created_at desc, id desc)`.execute(db);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['incidents_environment_created_idx', 'incidents_created_idx']) await db.schema.dropIndex(name).ifExists().execute();
}
