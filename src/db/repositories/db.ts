import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../database.js';

/** What every repository function takes first: the pool or the transaction the caller is in. */
export type Db = Kysely<Database> | Transaction<Database>;

/** Runs `fn` in one transaction (committed when it returns, rolled back when it throws). */
export function inTransaction<T>(db: Kysely<Database>, fn: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(fn);
}
