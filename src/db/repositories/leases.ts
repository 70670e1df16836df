// Per-target leases: taken with a `run` match, released when its run ends, expiring on their own. What
// cooldown (a lease's start) and concurrency (leases held now) count.
import { sql } from 'kysely';
import type { Db } from './db.js';

export async function findLeaseOfMatch(db: Db, matchId: string): Promise<string | undefined> {
  const row = await db.selectFrom('target_leases').select('id').where('match_id', '=', matchId).executeTakeFirst();
  return row ? String(row.id) : undefined;
}

export async function takeLease(db: Db, l: { target: string; ruleId: string; matchId: string; incidentId: string; at: Date; expiresAt: Date }): Promise<string> {
  const row = await db
    .insertInto('target_leases')
    .values({ target: l.target, rule_id: l.ruleId, match_id: l.matchId, incident_id: l.incidentId, acquired_at: l.at, expires_at: l.expiresAt })
    .returning('id')
    .executeTakeFirstOrThrow();
  return String(row.id);
}

/** When the rule took a lease on the target after `since` (exclusive), if it did. */
export async function leaseTakenSince(db: Db, ruleId: string, target: string, since: Date): Promise<Date | null> {
  const row = await db
    .selectFrom('target_leases')
    .select('acquired_at')
    .where('rule_id', '=', ruleId)
    .where('target', '=', target)
    .where('acquired_at', '>', since)
    .orderBy('acquired_at', 'desc')
    .limit(1)
    .executeTakeFirst();
  return row?.acquired_at ?? null;
}

/** Leases of every rule held on the target at `at` (not released, not expired). */
export async function countActiveLeases(db: Db, target: string, at: Date): Promise<number> {
  const row = await db
    .selectFrom('target_leases')
    .select(sql<string>`count(*)::text`.as('n'))
    .where('target', '=', target)
    .where('released_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The run ended: the lease stops counting for concurrency (cooldown still counts from its start). */
export async function releaseLease(db: Db, leaseId: string, at: Date): Promise<void> {
  await db.updateTable('target_leases').set({ released_at: at }).where('id', '=', leaseId).where('released_at', 'is', null).execute();
}

/**
 * The lease of a run's match, with what holding it on needs: the target, whether it still counts, and the
 * rule version that planned the run (its actions and verification: how long the rest may take). By the
 * match, or by one of its action runs (with that action's index).
 */
export async function findRunLease(db: Db, of: { matchId: string } | { actionRunId: string }) {
  const q = db
    .selectFrom('target_leases as l')
    .innerJoin('rule_matches as m', 'm.id', 'l.match_id')
    .leftJoin('rule_versions as v', (j) => j.onRef('v.rule_id', '=', 'm.rule_id').onRef('v.version', '=', 'm.rule_version'))
    .leftJoin('action_runs as a', (j) => ('actionRunId' in of ? j.onRef('a.match_id', '=', 'l.match_id').on('a.id', '=', of.actionRunId) : j.on(sql<boolean>`false`)))
    .select(['l.id', 'l.target', 'l.expires_at', 'l.released_at', 'v.definition', 'a.action_index']);
  const row = await ('actionRunId' in of ? q.where('a.id', '=', of.actionRunId) : q.where('l.match_id', '=', of.matchId)).executeTakeFirst();
  return row ? { ...row, id: String(row.id), actionIndex: row.action_index ?? undefined } : undefined;
}

/** Leases of every run but `leaseId`'s held on the target at `at` (not released, not expired). */
export async function countOtherActiveLeases(db: Db, target: string, at: Date, leaseId: string): Promise<number> {
  const row = await db
    .selectFrom('target_leases')
    .select(sql<string>`count(*)::text`.as('n'))
    .where('target', '=', target)
    .where('id', '!=', leaseId)
    .where('released_at', 'is', null)
    .where('expires_at', '>', at)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The lease holds until `until` at least (never shortened; a released one stays released). */
export async function extendLease(db: Db, leaseId: string, until: Date): Promise<void> {
  await db
    .updateTable('target_leases')
    .set({ expires_at: sql<Date>`greatest(expires_at, ${until}::timestamptz)` })
    .where('id', '=', leaseId)
    .where('released_at', 'is', null)
    .execute();
}
