// Scheduled job runs and their per-environment results, and the job definition a run reads.
import type { Db } from './db.js';

export async function insertJobRunStart(db: Db, r: { id: string; runId: string; jobId: string; trigger: string; scheduledAt: string | null }): Promise<void> {
  await db
    .insertInto('job_runs')
    .values({ id: r.id, run_id: r.runId, job_id: r.jobId, trigger: r.trigger, status: 'running', scheduled_at: r.scheduledAt })
    .onConflict((oc) => oc.column('id').doNothing())
    .execute();
}

export async function finishJobRun(db: Db, id: string, f: { status: string; summary: unknown; at: Date }): Promise<void> {
  await db.updateTable('job_runs').set({ status: f.status, summary: JSON.stringify(f.summary), finished_at: f.at }).where('id', '=', id).execute();
}

export interface TargetResultRow {
  status: string;
  via: string;
  exit_code: number | null;
  output_excerpt: string | null;
  error: string | null;
  started_at: string;
  finished_at: string;
}

/** One environment's result of a run; a retried write replaces it. */
export async function upsertTargetResult(db: Db, jobRunId: string, environment: string, values: TargetResultRow): Promise<void> {
  await db
    .insertInto('job_target_results')
    .values({ job_run_id: jobRunId, environment, ...values })
    .onConflict((oc) => oc.columns(['job_run_id', 'environment']).doUpdateSet(values))
    .execute();
}

/** A live (not deleted) job's id, stored definition, whether it is enabled, and its team. */
export async function findLiveJob(db: Db, id: string): Promise<{ id: string; definition: unknown; enabled: boolean; team: string } | undefined> {
  return db.selectFrom('jobs').select(['id', 'definition', 'enabled', 'team']).where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
}

/** A job's stored definition (deleted or not); undefined when it was never stored. */
export async function findJobDefinition(db: Db, id: string): Promise<unknown> {
  const row = await db.selectFrom('jobs').select('definition').where('id', '=', id).executeTakeFirst();
  return row?.definition;
}
