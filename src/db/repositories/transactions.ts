// Units of work for callers that hold no SQL (activities, services): a transaction, and the
// transaction-scoped advisory locks that serialise the planner's policy checks across workers.
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../database.js';

/** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}

/** Hold `key` until the transaction ends (keys are hashed to Postgres' 32-bit lock space). */
export async function advisoryXactLock(trx: Transaction<Database>, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
}
