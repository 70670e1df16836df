import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// When a run recorded its start, by Temporal's clock: when Temporal scheduled the attempt of the run's start
// record (activities/jobs.ts, recordJobRunStart), that is once a worker had taken the run's first workflow
// task. The buffer_one catch-up rule (catchUpSuperseded) compares it with the schedule time Temporal gave a
// later run; `started_at` is the database's clock, which may be minutes apart from Temporal's. Null for rows
// written before this column, and for a run's row written by an earlier run's claim until its own start
// record fills it in.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').addColumn('temporal_started_at', 'timestamptz').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('job_runs').dropColumn('temporal_started_at').execute();
}
