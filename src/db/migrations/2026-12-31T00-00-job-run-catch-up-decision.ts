import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// What a scheduled allow_all or buffer_one run decided at the catch-up rule (activities/jobs.ts,
// catchUpSuperseded), written under the job's advisory lock in the transaction that read the other runs:
// 'run' (it runs: runs of earlier times of its catch-up skip for it), 'claimed' (an earlier run of its
// catch-up skipped for it before it decided: it runs when it comes, whatever later run is not decided yet),
// 'skip'. Null for runs that decided nothing (before this column, by hand, other overlap policies). An earlier
// run reads this mark, not whether a later run has a row: a row recorded but not decided yet no longer makes
// it skip (a backlog then deferred runs to later ones until it cleared).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').addColumn('catch_up_decision', 'text').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').dropColumn('catch_up_decision').execute();
}
