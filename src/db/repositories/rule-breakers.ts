// Each rule's circuit breaker (columns of `rules`): read by the planner, moved by run outcomes.
import type { Transaction } from 'kysely';
import type { BreakerState, BreakerStateName } from '../../domain/policies.js';
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
export async function lockBreaker(trx: Transaction<Database>, ruleId: string): Promise<{ breaker: BreakerState; failureThreshold: number | undefined } | undefined> {
  const row = await trx
    .selectFrom('rules')
    .select(['consecutive_failures', 'breaker_state', 'breaker_opened_at', 'definition'])
    .where('id', '=', ruleId)
    .forUpdate()
    .executeTakeFirst();
  if (!row) return undefined;
  const def = row.definition as { policies?: { circuitBreaker?: { failureThreshold?: number } } } | null;
  return {
    breaker: { state: row.breaker_state as BreakerStateName, openedAt: row.breaker_opened_at, consecutiveFailures: row.consecutive_failures },
    failureThreshold: def?.policies?.circuitBreaker?.failureThreshold,
  };
}

export async function saveBreaker(db: Db, ruleId: string, b: BreakerState): Promise<void> {
  await db.updateTable('rules').set({ breaker_state: b.state, breaker_opened_at: b.openedAt, consecutive_failures: b.consecutiveFailures }).where('id', '=', ruleId).execute();
}

/** A half-open trial run begins at `at`: the breaker stays half-open until its outcome is recorded. */
export async function beginBreakerTrial(db: Db, ruleId: string, at: Date): Promise<void> {
  await db.updateTable('rules').set({ breaker_state: 'half_open', breaker_opened_at: at }).where('id', '=', ruleId).execute();
}
