import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../database.js';

/** What every repository function takes first: the pool or the transaction the caller is in. */
export type Db = Kysely<Database> | Transaction<Database>;
