// Transaction-scoped advisory locks: what serialises the planner's policy checks across workers.
import { sql, type Transaction } from 'kysely';
import type { Database } from '../database.js';

/** Hold `key` until the transaction ends (keys are hashed to Postgres' 32-bit lock space). */
export async function advisoryXactLock(trx: Transaction<Database>, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
}
