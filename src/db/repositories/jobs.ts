// Scheduled jobs (their definitions; Temporal holds the schedules) and the runs the worker recorded.
import { sql, type Transaction } from 'kysely';
import type { Database, JobRow, JobRun, JobTargetResult } from '../database.js';
import { advisoryXactLock } from './transactions.js';
import type { Db } from './db.js';
import { suffixedJobId } from '../../domain/jobs.js';
import { rowsWithin } from '../../domain/pages.js';

/** Live jobs of these teams (undefined: every team; empty: none): all of them, for the worker's reconcile (the API pages: listJobPage). */
export async function listJobs(db: Db, teams?: readonly string[]): Promise<JobRow[]> {
  if (teams?.length === 0) return [];
  return db
    .selectFrom('jobs')
    .selectAll()
    .where('deleted_at', 'is', null)
    .$if(teams !== undefined, (q) => q.where('team', 'in', [...teams!]))
    .orderBy('id')
    .execute();
}

/**
 * A page of the live jobs of these teams (undefined: every team; empty: none), by id, after the id `after`
 * (the last of the previous page): at most `limit`, and only as many as fit in `maxBytes` of definitions
 * (one at least). Sizes are read first (definition_bytes, kept by Postgres), then only the page's jobs, the
 * teams applied again. `last`: the id of the page's last job when more follow, else null.
 */
export async function listJobPage(
  db: Db,
  teams: readonly string[] | undefined,
  page: { after?: string | undefined; limit: number; maxBytes: number },
): Promise<{ rows: JobRow[]; last: string | null }> {
  if (teams?.length === 0) return { rows: [], last: null };
  const sizes = await db
    .selectFrom('jobs')
    .select(['id', 'definition_bytes as bytes'])
    .where('deleted_at', 'is', null)
    .$if(teams !== undefined, (q) => q.where('team', 'in', [...teams!]))
    .$if(page.after !== undefined, (q) => q.where('id', '>', page.after!))
    .orderBy('id')
    .limit(page.limit + 1)
    .execute();
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { rows: [], last: null };
  const rows = await db
    .selectFrom('jobs')
    .selectAll()
    .where('deleted_at', 'is', null)
    .$if(teams !== undefined, (q) => q.where('team', 'in', [...teams!]))
    .where('id', 'in', sizes.slice(0, taken).map((s) => s.id))
    .orderBy('id')
    .execute();
  return { rows, last: sizes.length > taken ? sizes[taken - 1]!.id : null };
}

/**
 * Serialises the changes to one job id until the transaction ends: the API's create, update, delete,
 * pause and resume, and the worker's reconcile of its schedule, each of which writes Temporal from what it
 * read here. Taken first, so the reconcile never writes a schedule from a job row read before a change.
 */
export async function lockJobId(trx: Transaction<Database>, id: string): Promise<void> {
  await advisoryXactLock(trx, `job:${id}`);
}

export async function findJob(db: Db, id: string, opts: { forUpdate?: boolean } = {}): Promise<JobRow | undefined> {
  let q = db.selectFrom('jobs').selectAll().where('id', '=', id).where('deleted_at', 'is', null);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** A job holding `id` (live or deleted: ids are never reused) or a live job named `name`, other than `exceptId`. */
export async function findJobClash(db: Db, c: { id?: string; name: string; exceptId?: string }): Promise<{ id: string; name: string; deleted: boolean; team: string } | undefined> {
  let q = db
    .selectFrom('jobs')
    .select(['id', 'name', 'deleted_at', 'team'])
    .where((eb) => eb.or([...(c.id !== undefined ? [eb('id', '=', c.id)] : []), eb.and([eb('name', '=', c.name), eb('deleted_at', 'is', null)])]));
  if (c.exceptId !== undefined) q = q.where('id', '!=', c.exceptId);
  const row = await q.executeTakeFirst();
  return row && { id: row.id, name: row.name, deleted: row.deleted_at !== null, team: row.team };
}

/** `base`, else the first of `base-2`, `base-3`… (cut to fit: suffixedJobId) that no job, live or deleted, holds. */
export async function firstFreeJobId(db: Db, base: string): Promise<string> {
  for (let n = 1; ; n++) {
    const id = n === 1 ? base : suffixedJobId(base, n);
    const held = await db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst();
    if (!held) return id;
  }
}

/**
 * The live jobs of `team` that name `environment` in their targets (a selector or `all` names none). Another
 * team's job never reaches it (a job runs on its own team's environments only), and its id is not ours to show.
 */
export async function liveJobsNaming(db: Db, environment: string, team: string): Promise<string[]> {
  const rows = await db
    .selectFrom('jobs')
    .select('id')
    .where('deleted_at', 'is', null)
    .where('team', '=', team)
    .where(sql<boolean>`definition->'targets'->'environments' ? ${environment}`)
    .orderBy('id')
    .execute();
  return rows.map((r) => r.id);
}

export async function insertJob(db: Db, j: { id: string; name: string; definition: unknown; enabled: boolean; scheduleId: string; team: string }): Promise<JobRow> {
  return db
    .insertInto('jobs')
    .values({ id: j.id, name: j.name, definition: JSON.stringify(j.definition), enabled: j.enabled, schedule_id: j.scheduleId, team: j.team })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Records the fingerprint of the job's schedule as Temporal described it after our write. */
export async function setScheduleFingerprint(db: Db, id: string, fingerprint: string | null): Promise<void> {
  await db.updateTable('jobs').set({ schedule_fingerprint: fingerprint }).where('id', '=', id).execute();
}

/** Replaces a job's definition (and name, enabled flag and team, when given). */
export async function updateJob(db: Db, id: string, j: { name?: string; definition: unknown; enabled: boolean; team?: string }): Promise<JobRow> {
  return db
    .updateTable('jobs')
    .set({ ...(j.name !== undefined ? { name: j.name } : {}), ...(j.team !== undefined ? { team: j.team } : {}), definition: JSON.stringify(j.definition), enabled: j.enabled, updated_at: new Date() })
    .where('id', '=', id)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Deletes a job: the row stays, marked deleted, so its id is never another job's. Its runs, their
 * per-target output and a run still going (whose failure notice reads this definition) stay keyed by the
 * id; a new job under the same id, in another team perhaps, would inherit them.
 */
export async function deleteJob(db: Db, id: string): Promise<JobRow | undefined> {
  const at = new Date();
  return db.updateTable('jobs').set({ deleted_at: at, updated_at: at }).where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
}

/** The newest runs of a job first. */
export async function listJobRuns(db: Db, jobId: string, limit: number): Promise<JobRun[]> {
  return db.selectFrom('job_runs').selectAll().where('job_id', '=', jobId).orderBy('started_at', 'desc').limit(limit).execute();
}

export async function listJobTargetResults(db: Db, runIds: readonly string[]): Promise<JobTargetResult[]> {
  if (runIds.length === 0) return [];
  return db.selectFrom('job_target_results').selectAll().where('job_run_id', 'in', runIds).orderBy('environment').execute();
}
