// Each rule's circuit breaker (columns of `rules`): read by the planner, moved by run outcomes.
import type { Transaction } from 'kysely';
import { BREAKER_TRIAL_NOTE, type BreakerState, type BreakerStateName } from '../../domain/policies.js';
import type { Action, Verify } from '../../domain/rules/schema.js';
import type { Database } from '../database.js';
import type { Db } from './db.js';

/** The rule's breaker; undefined when the rule is not stored. */
export async function readBreaker(db: Db, ruleId: string): Promise<BreakerState | undefined> {
  const row = await db.selectFrom('rules').select(['breaker_state', 'breaker_opened_at', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirst();
  return row ? { state: row.breaker_state as BreakerStateName, openedAt: row.breaker_opened_at, consecutiveFailures: row.consecutive_failures } : undefined;
}

/**
 * The rule's breaker and its stored failure threshold, locked until the transaction ends (outcomes of
 * concurrent runs are counted one after the other); undefined when the rule is not stored.
 */
export async function lockBreaker(
  trx: Transaction<Database>,
  ruleId: string,
): Promise<{ breaker: BreakerState; trialMatch: string | null; failureThreshold: number | undefined } | undefined> {
  const row = await trx
    .selectFrom('rules')
    .select(['consecutive_failures', 'breaker_state', 'breaker_opened_at', 'breaker_trial_match', 'definition'])
    .where('id', '=', ruleId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return undefined;
  const def = row.definition as { policies?: { circuitBreaker?: { failureThreshold?: number } } } | null;
  return {
    breaker: { state: row.breaker_state as BreakerStateName, openedAt: row.breaker_opened_at, consecutiveFailures: row.consecutive_failures },
    trialMatch: trialMatchOf(row.breaker_trial_match),
    failureThreshold: def?.policies?.circuitBreaker?.failureThreshold,
  };
}

/** Saves the breaker; one no longer half-open has no trial any more. */
export async function saveBreaker(db: Db, ruleId: string, b: BreakerState): Promise<void> {
  await db
    .updateTable('rules')
    .set({
      breaker_state: b.state,
      breaker_opened_at: b.openedAt,
      consecutive_failures: b.consecutiveFailures,
      ...(b.state === 'half_open' ? {} : { breaker_trial_match: null }),
    })
    .where('id', '=', ruleId)
    .execute();
}

/**
 * A half-open trial run, match `matchId`'s, begins at `at`: the breaker stays half-open until that run's
 * outcome is recorded, and no other run's outcome counts as the trial's.
 */
export async function beginBreakerTrial(db: Db, ruleId: string, at: Date, matchId: string): Promise<void> {
  await db.updateTable('rules').set({ breaker_state: 'half_open', breaker_opened_at: at, breaker_trial_match: matchId }).where('id', '=', ruleId).execute();
}

/**
 * The approved start of match `matchId`'s remediation begins the half-open trial of a breaker that was open
 * and due for it, or half-open on a trial that can no longer be running (policies.ts startBeginsTrial), as
 * {@link beginBreakerTrial} records the planner's: only while the breaker is as it was read (`seen`): still
 * open, since an admin's reset may have closed it after it was read (then the run starts as an ordinary one
 * under a closed breaker); still half-open on the same trial begun at the same time, since that trial's
 * outcome may have been counted meanwhile. Whether the trial was begun.
 */
export async function beginBreakerTrialIfOpen(
  db: Db,
  ruleId: string,
  at: Date,
  matchId: string,
  seen: { state: BreakerStateName; openedAt: Date | null; trialMatch: string | null } = { state: 'open', openedAt: null, trialMatch: null },
): Promise<boolean> {
  let q = db.updateTable('rules').set({ breaker_state: 'half_open', breaker_opened_at: at, breaker_trial_match: matchId }).where('id', '=', ruleId);
  if (seen.state === 'half_open') {
    q = q
      .where('breaker_state', '=', 'half_open')
      .where((eb) => (seen.trialMatch === null ? eb('breaker_trial_match', 'is', null) : eb('breaker_trial_match', '=', seen.trialMatch)))
      .where((eb) => (seen.openedAt === null ? eb('breaker_opened_at', 'is', null) : eb('breaker_opened_at', '=', seen.openedAt)));
  } else {
    q = q.where('breaker_state', '=', 'open');
  }
  const updated = await q.executeTakeFirst();
  return updated.numUpdatedRows > 0n;
}

/** The match whose run is the rule's current half-open trial; null when none is named (or the rule is not stored). */
export async function readBreakerTrial(db: Db, ruleId: string): Promise<{ state: BreakerStateName; trialMatch: string | null } | undefined> {
  const row = await db.selectFrom('rules').select(['breaker_state', 'breaker_trial_match']).where('id', '=', ruleId).executeTakeFirst();
  return row ? { state: row.breaker_state as BreakerStateName, trialMatch: trialMatchOf(row.breaker_trial_match) } : undefined;
}

/**
 * The breaker of the rule that planned action run `actionRunId`, with the run's match, whether that match
 * was planned as a half-open trial (its reason, as the planner recorded it) and the rule's `resetSeconds`
 * (undefined: the default): what an approved start reads (activities/action-runs.ts). Read as committed,
 * without a lock. Undefined when the run has no match or its rule is not stored.
 */
export async function readBreakerOfRun(
  db: Db,
  actionRunId: string,
): Promise<
  | {
      ruleId: string;
      matchId: string;
      breaker: BreakerState & { trialMatch: string | null };
      plannedAsTrial: boolean;
      resetSeconds: number | undefined;
      /** The rule as stored now (its actions and verification: how long a run of it may take). */
      rule: { actions: Action[]; verify?: Verify | undefined };
    }
  | undefined
> {
  const row = await db
    .selectFrom('action_runs as a')
    .innerJoin('rules as r', 'r.id', 'a.rule_id')
    .leftJoin('rule_matches as m', 'm.id', 'a.match_id')
    .select(['r.id as rule_id', 'a.match_id', 'r.breaker_state', 'r.breaker_opened_at', 'r.consecutive_failures', 'r.breaker_trial_match', 'r.definition', 'm.decision', 'm.skip_reason'])
    .where('a.id', '=', actionRunId)
    .executeTakeFirst();
  if (!row || row.match_id === null) return undefined;
  const def = row.definition as { policies?: { circuitBreaker?: { resetSeconds?: number } }; actions?: Action[]; verify?: Verify } | null;
  return {
    ruleId: row.rule_id,
    matchId: String(row.match_id),
    breaker: { state: row.breaker_state as BreakerStateName, openedAt: row.breaker_opened_at, consecutiveFailures: row.consecutive_failures, trialMatch: trialMatchOf(row.breaker_trial_match) },
    plannedAsTrial: row.decision === 'run' && Boolean(row.skip_reason?.startsWith(BREAKER_TRIAL_NOTE)),
    resetSeconds: def?.policies?.circuitBreaker?.resetSeconds,
    rule: { actions: def?.actions ?? [], ...(def?.verify ? { verify: def.verify } : {}) },
  };
}

/** The trial's match id as the workflows name matches (a bigint column, read as a string or a number by the driver). */
function trialMatchOf(column: string | number | bigint | null): string | null {
  return column === null ? null : String(column);
}
