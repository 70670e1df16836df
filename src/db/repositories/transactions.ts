// Units of work for callers that hold no SQL (activities, services): a transaction, and the
// transaction-scoped advisory locks that serialise the planner's policy checks across workers.
import { createHash } from 'node:crypto';
import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database } from '../database.js';

/** Runs `work` in one transaction: committed when it resolves, rolled back when it throws. */
export function inTransaction<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().execute(work);
}

/**
 * An advisory lock's key: the first 64 bits of `key`'s SHA-256, as a signed bigint. Keys hold names that
 * come from outside (a target host from an alert, a job id its author chose), so a name that takes another
 * lock's key must not be found by search: hashed to 32 bits (`hashtext`), a colliding pair was found among
 * 150,000 names of each in under a second; to 64 bits with `hashtextextended` (Jenkins lookup3, no
 * cryptographic hash), its last 12-byte block can be solved for any key, and a job id whose `job:<id>` took
 * the guards' or the revocations' key was found in a minute on one core (its job's edits and schedule
 * passes then held that lock across their Temporal calls: every planning, or every revocation and sign-in,
 * waited for them). A name taking a given key now costs a second preimage of SHA-256 (2^64 tries for 64
 * bits), and two names from outside meeting on one key a birthday search of 2^32 SHA-256 hashes, which
 * only makes those two names of the searcher's take turns. Computed here, not in SQL: pgcrypto is not
 * assumed.
 */
export const advisoryKeyValue = (key: string): string => createHash('sha256').update(key, 'utf8').digest().readBigInt64BE(0).toString();

/** {@link advisoryKeyValue} as a statement's bigint. */
export const advisoryKey = (key: string) => sql`${advisoryKeyValue(key)}::bigint`;

/**
 * A lock of the code's own, by a fixed number: held in Postgres' key space of two 32-bit keys
 * (FIXED_LOCK_CLASS, the number), which it keeps apart from the 64-bit keys advisoryKey makes, so no name
 * from outside takes it, whatever search is made (test/security/sign-in-cut-off-race.test.ts). The
 * numbers in use: 1 the token revocations (services/tokens.ts), 2 the guards (repositories/guards.ts).
 */
export type FixedLock = { readonly fixed: number };

/** The first of the two 32-bit keys of every FixedLock ('shfx'). */
const FIXED_LOCK_CLASS = 0x73686678;

/** The key a lock is held under: a name hashed to 64 bits, or a FixedLock in the other key space. */
/** The two keys a FixedLock is held under, for a statement of a repository's own. */
export const fixedLockKey = (key: FixedLock) => sql`${FIXED_LOCK_CLASS}::int4, ${key.fixed}::int4`;

const lockKey = (key: string | FixedLock) => (typeof key === 'string' ? advisoryKey(key) : fixedLockKey(key));

/** Hold `key` until the transaction ends. */
export async function advisoryXactLock(trx: Transaction<Database>, key: string | FixedLock): Promise<void> {
  await sql`select pg_advisory_xact_lock(${lockKey(key)})`.execute(trx);
}

/**
 * Hold `key` shared until the transaction ends: with others holding it shared, while no transaction holds it
 * (advisoryXactLock) alone; a holder alone waits for the shared ones, and they for it.
 */
export async function advisoryXactLockShared(trx: Transaction<Database>, key: string | FixedLock): Promise<void> {
  await sql`select pg_advisory_xact_lock_shared(${lockKey(key)})`.execute(trx);
}

/**
 * advisoryXactLockShared waiting `waitMs` at most (lock_timeout, for this statement only: the transaction's
 * own setting is restored after); whether it was taken. Not taken, the transaction is aborted: the caller
 * must end it (throw).
 */
export async function advisoryXactLockSharedWithin(trx: Transaction<Database>, key: string | FixedLock, waitMs: number): Promise<boolean> {
  const { rows } = await sql<{ before: string }>`select current_setting('lock_timeout') as before, set_config('lock_timeout', ${`${Math.max(1, Math.round(waitMs))}ms`}, true)`.execute(trx);
  try {
    await advisoryXactLockShared(trx, key);
  } catch (err) {
    // 55P03 lock_not_available: lock_timeout fired.
    if ((err as { code?: string }).code === '55P03') return false;
    throw err;
  }
  await sql`select set_config('lock_timeout', ${rows[0]!.before}, true)`.execute(trx);
  return true;
}

/**
 * Take `key` until the transaction ends if no other transaction holds it, without waiting; whether it was
 * taken. For a lock that is taken, elsewhere, before locks this transaction already holds: waiting for it
 * here could close a cycle (a deadlock).
 */
export async function tryAdvisoryXactLock(trx: Transaction<Database>, key: string): Promise<boolean> {
  const { rows } = await sql<{ taken: boolean }>`select pg_try_advisory_xact_lock(${advisoryKey(key)}) as taken`.execute(trx);
  return rows[0]?.taken === true;
}
