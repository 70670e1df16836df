import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Verified remediation (issue 22): the outcome of each remediation (one rule match that ran actions), written by
// the rule-run workflow and read by the effectiveness statistics.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('rule_matches')
    // pending | verified | unverified | not_applicable; null for matches that ran no action (dry run, skipped).
    .addColumn('verification', 'text')
    // Why: "incident.resolved at …", "check exited 3", "no resolve within 10m", "rule declares no verify".
    .addColumn('verification_detail', 'text')
    .addColumn('verified_at', 'timestamptz')
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_matches').dropColumn('verified_at').dropColumn('verification_detail').dropColumn('verification').execute();
}
