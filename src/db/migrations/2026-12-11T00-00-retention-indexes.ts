import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The history purge (src/db/repositories/retention.ts) deletes, oldest first, finished job runs, the
// side-effect ledger and the PagerDuty writes log too: each batch finds its rows through these indexes
// instead of reading the whole table (a job run's per-target results by the unique index that starts with
// job_run_id).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('job_runs_started_idx').on('job_runs').column('started_at').execute();
  await db.schema.createIndex('side_effects_updated_idx').on('side_effects').column('updated_at').execute();
  await db.schema.createIndex('pagerduty_writes_started_idx').on('pagerduty_writes').column('started_at').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['pagerduty_writes_started_idx', 'side_effects_updated_idx', 'job_runs_started_idx']) {
    await db.schema.dropIndex(name).ifExists().execute();
  }
}
