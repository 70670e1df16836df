import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../database.js';

/** What repository functions take first: the pool or a transaction. */
export type Db = Kysely<Database> | Transaction<Database>;
