import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// A half-open breaker's trial is one match: `breaker_trial_match` names it, so only that run's outcome
// closes (or re-opens) the breaker. Before, any run planned as a trial counted as one when it ended while
// the breaker was half-open: a trial left running across an admin's reset (the breaker then closed, failed
// again to its threshold, opened, and half-opened for a new trial) closed the breaker with its own success
// while the new trial still ran, or re-opened it with its failure. Null on every existing row: a trial
// begun before this column (or by a worker of the release before it) is told by its match's reason, as
// before. Not one of the columns the rules_generation trigger watches (the worker reads it fresh).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rules').addColumn('breaker_trial_match', 'bigint').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rules').dropColumn('breaker_trial_match').execute();
}
