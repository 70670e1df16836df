import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// When a scheduled allow_all run decided 'run' at the catch-up rule (activities/jobs.ts, catchUpSuperseded),
// by the database's clock under the job's advisory lock. A run of a later time skips when a run of an earlier
// time decided to run at or after its time: that run did this time's work (Temporal itself down: it starts
// the runs of the times missed one after another, each may decide before the next one starts). Null for
// runs that decided nothing, or decided before this column.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').addColumn('catch_up_decided_at', 'timestamptz').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').dropColumn('catch_up_decided_at').execute();
}
