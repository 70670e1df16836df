import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// A rule run's outcome counts once for its rule's circuit breaker. The step that counts it is a local
// activity, which Temporal runs again when the worker dies before the workflow task holding its result
// completes; the outcome it applied is kept on the match, and a second run of the step returns it
// instead of counting the failure again.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_matches').addColumn('breaker_outcome', 'jsonb').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_matches').dropColumn('breaker_outcome').execute();
}
