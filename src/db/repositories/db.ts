import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../database.js';

/** A connection or a transaction: every repository function takes one first. */
export type Db = Kysely<Database> | Transaction<Database>;
