import { sql } from 'kysely';
import type { Db } from './db.js';

/** A round trip to Postgres (readiness). */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`select 1`.execute(db);
}
