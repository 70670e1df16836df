// The side_effects table: one row per external side effect, keyed by the action run id. Every state
// change is one conditional UPDATE, so two attempts of the same key (a retry scheduled while a slow
// attempt still runs, two workers) can never both believe they own the call.
import { sql } from 'kysely';
import type { SideEffect } from '../database.js';
import type { Db } from './db.js';


const ERROR_MAX = 1000;
const clip = (s: string): string => (s.length <= ERROR_MAX ? s : `${s.slice(0, ERROR_MAX)}…`);
const inMs = (ms: number) => sql<Date>`now() + ${`${Math.max(0, Math.round(ms))} milliseconds`}::interval`;

/** First attempt: the row is created as `attempting`, in flight for `budgetMs`. Undefined when it exists. */
export async function claimFirstAttempt(db: Db, r: { key: string; kind: string; incidentId: string | null; budgetMs: number }): Promise<SideEffect | undefined> {
  return db
    .insertInto('side_effects')
    .values({ key: r.key, kind: r.kind, incident_id: r.incidentId, state: 'attempting', attempts: 1, in_flight_until: inMs(r.budgetMs) })
    .onConflict((oc) => oc.column('key').doNothing())
    .returningAll()
    .executeTakeFirst();
}

export async function getSideEffect(db: Db, key: string): Promise<SideEffect | undefined> {
  return db.selectFrom('side_effects').selectAll().where('key', '=', key).executeTakeFirst();
}

/** The last attempt provably did nothing: take the next one. */
export async function claimAfterFailure(db: Db, key: string, budgetMs: number): Promise<SideEffect | undefined> {
  return db
    .updateTable('side_effects')
    .set({ state: 'attempting', attempts: sql`attempts + 1`, in_flight_until: inMs(budgetMs), updated_at: sql`now()` })
    .where('key', '=', key)
    .where('state', '=', 'failed')
    .returningAll()
    .executeTakeFirst();
}

/**
 * An earlier attempt may have reached the provider and is no longer in flight (it ended without a clear
 * answer, or its worker died): take the row over to find out. `uncertain_since` keeps when the outcome
 * became uncertain; for a dead attempt, the end of its budget.
 */
export async function claimUncertain(db: Db, key: string, budgetMs: number): Promise<SideEffect | undefined> {
  return db
    .updateTable('side_effects')
    .set({
      attempts: sql`attempts + 1`,
      in_flight_until: inMs(budgetMs),
      uncertain_since: sql`coalesce(uncertain_since, in_flight_until, now())`,
      updated_at: sql`now()`,
    })
    .where('key', '=', key)
    .where('state', '=', 'attempting')
    .where((eb) => eb.or([eb('in_flight_until', 'is', null), eb('in_flight_until', '<=', sql<Date>`now()`)]))
    .returningAll()
    .executeTakeFirst();
}

export async function markDone(db: Db, key: string, r: { externalId?: string | undefined; url?: string | undefined; detail?: string | undefined }): Promise<void> {
  await db
    .updateTable('side_effects')
    .set({
      state: 'done',
      external_id: r.externalId ?? null,
      url: r.url ?? null,
      detail: r.detail ?? null,
      in_flight_until: null,
      answered_at: sql`now()`,
      updated_at: sql`now()`,
    })
    .where('key', '=', key)
    .execute();
}

/** The provider answered that nothing was done (4xx, connection refused…): a retry may call it again. */
export async function markFailed(db: Db, key: string, error: string): Promise<void> {
  await db
    .updateTable('side_effects')
    .set({ state: 'failed', last_error: clip(error), in_flight_until: null, updated_at: sql`now()` })
    .where('key', '=', key)
    .where('state', '=', 'attempting')
    .execute();
}

/** The attempt ended without an answer that says what happened: the next one must look before it acts. */
export async function markUncertain(db: Db, key: string, error: string): Promise<void> {
  await db
    .updateTable('side_effects')
    .set({ last_error: clip(error), in_flight_until: sql`now()`, uncertain_since: sql`now()`, updated_at: sql`now()` })
    .where('key', '=', key)
    .where('state', '=', 'attempting')
    .execute();
}

/** A lookup found nothing yet: let a later attempt look again, from the same uncertain moment. */
export async function release(db: Db, key: string): Promise<void> {
  await db.updateTable('side_effects').set({ in_flight_until: sql`now()`, updated_at: sql`now()` }).where('key', '=', key).where('state', '=', 'attempting').execute();
}

/** Given up: it may or may not have happened, and it is never tried again. */
export async function markUnknown(db: Db, key: string, error: string): Promise<void> {
  await db
    .updateTable('side_effects')
    .set({ state: 'unknown', last_error: clip(error), in_flight_until: null, updated_at: sql`now()` })
    .where('key', '=', key)
    .where('state', 'in', ['attempting', 'failed'])
    .execute();
}
