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

/**
 * Take `key` until the transaction ends if no other transaction holds it, without waiting; whether it was
 * taken. For a lock that is taken, elsewhere, before locks this transaction already holds: waiting for it
 * here could close a cycle (a deadlock).
 */
export async function tryAdvisoryXactLock(trx: Transaction<Database>, key: string): Promise<boolean> {
  const { rows } = await sql<{ taken: boolean }>`select pg_try_advisory_xact_lock(hashtext(${key})) as taken`.execute(trx);
  return rows[0]?.taken === true;
}
