// Scheduled jobs (their definitions; Temporal holds the schedules) and the runs the worker recorded.
import { sql, type Transaction } from 'kysely';
import type { Database, JobRow, JobRun, JobTargetResult } from '../database.js';
import { advisoryXactLock, tryAdvisoryXactLock } from './transactions.js';
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

/** Take the job's lock (lockJobId's) if no other transaction holds it, without waiting; whether it was taken. */
export async function tryLockJobId(trx: Transaction<Database>, id: string): Promise<boolean> {
  return tryAdvisoryXactLock(trx, `job:${id}`);
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

/** How a run's targets are shown in the list of runs: the first of them, each with the ends of its excerpts. */
export interface ListedTargets {
  /** Targets listed per run: those not succeeded first, then by environment. */
  perRun: number;
  /** Characters of each excerpt listed: the end of the output (its last lines, the script's RESULT), the start of the error. */
  excerptChars: number;
}

export type ListedJobRun = JobRun & { targets_total: number };
export type ListedTarget = JobTargetResult & { cut: boolean };

/**
 * A page of a job's runs, newest first, after the run `before` (a run id, the previous page's last): at most
 * `limit`, and only as many as fit in `maxBytes` (one at least), as JSON text: each run's summary without its
 * `failures` (the targets hold them; a summary repeats each failure's error, 4,000 characters each) and its
 * listed targets. Sizes are measured in Postgres first, and only the page is read: every target result of
 * every run was read and sent, 78 MiB for 20 runs of 500 failed targets. `more`: runs follow the page.
 */
export async function listJobRunsPage(
  db: Db,
  jobId: string,
  page: { before?: string | undefined; limit: number; maxBytes: number; targets: ListedTargets },
): Promise<{ runs: ListedJobRun[]; targets: ListedTarget[]; more: boolean }> {
  const { perRun, excerptChars } = page.targets;
  const after = page.before === undefined ? sql<boolean>`true` : sql<boolean>`(r.started_at, r.id) < (select b.started_at, b.id from job_runs b where b.id = ${page.before} and b.job_id = ${jobId})`;
  const { rows: sizes } = await sql<{ id: string; bytes: number }>`
    select r.id, (coalesce(octet_length((r.summary - 'failures')::text), 0) + 512 + coalesce((
      select sum(octet_length(to_json(t.environment)::text) + coalesce(octet_length(to_json(right(t.output_excerpt, ${excerptChars}))::text), 0)
        + coalesce(octet_length(to_json(left(t.error, ${excerptChars}))::text), 0) + 256)
      from (select environment, output_excerpt, error from job_target_results where job_run_id = r.id order by status = 'succeeded', environment limit ${perRun}) t
    ), 0))::float8 as bytes
    from job_runs r
    where r.job_id = ${jobId} and ${after}
    order by r.started_at desc, r.id desc
    limit ${page.limit + 1}`.execute(db);
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { runs: [], targets: [], more: false };
  const ids = sizes.slice(0, taken).map((s) => s.id);
  const { rows: runs } = await sql<ListedJobRun>`
    select r.id, r.job_id, r.run_id, r.trigger, r.status, r.scheduled_at, r.started_at, r.finished_at, r.summary - 'failures' as summary,
      (select count(*)::int from job_target_results t where t.job_run_id = r.id) as targets_total
    from job_runs r where r.id in (${sql.join(ids)})
    order by r.started_at desc, r.id desc`.execute(db);
  const { rows: targets } = await sql<ListedTarget>`
    select t.id, t.job_run_id, t.environment, t.via, t.status, t.exit_code, right(t.output_excerpt, ${excerptChars}) as output_excerpt, left(t.error, ${excerptChars}) as error,
      t.started_at, t.finished_at, (coalesce(length(t.output_excerpt), 0) > ${excerptChars} or coalesce(length(t.error), 0) > ${excerptChars}) as cut
    from unnest(${sql.val(ids)}::text[]) as run(id)
    cross join lateral (select * from job_target_results x where x.job_run_id = run.id order by x.status = 'succeeded', x.environment limit ${perRun}) t`.execute(db);
  return { runs, targets, more: sizes.length > taken };
}

/** A run of a job, or undefined. */
export async function findJobRun(db: Db, jobId: string, runId: string): Promise<JobRun | undefined> {
  return db.selectFrom('job_runs').selectAll().where('id', '=', runId).where('job_id', '=', jobId).executeTakeFirst();
}

/**
 * A page of a run's target results, by environment, after environment `after`: at most `limit`, and only as
 * many as fit in `maxBytes` of output and error (as JSON text; one at least, each at most 4,000 characters of
 * each). Sizes are measured in Postgres first. `more`: results follow the page.
 */
export async function listJobRunTargets(db: Db, runId: string, page: { after?: string | undefined; limit: number; maxBytes: number }): Promise<{ targets: JobTargetResult[]; more: boolean }> {
  const sizes = await db
    .selectFrom('job_target_results')
    .select([
      'environment',
      sql<number>`(octet_length(to_json(environment)::text) + coalesce(octet_length(to_json(output_excerpt)::text), 0) + coalesce(octet_length(to_json(error)::text), 0) + 256)::float8`.as('bytes'),
    ])
    .where('job_run_id', '=', runId)
    .$if(page.after !== undefined, (q) => q.where('environment', '>', page.after!))
    .orderBy('environment')
    .limit(page.limit + 1)
    .execute();
  const taken = rowsWithin(sizes, page.limit, page.maxBytes);
  if (taken === 0) return { targets: [], more: false };
  const targets = await db
    .selectFrom('job_target_results')
    .selectAll()
    .where('job_run_id', '=', runId)
    .where(
      'environment',
      'in',
      sizes.slice(0, taken).map((s) => s.environment),
    )
    .orderBy('environment')
    .execute();
  return { targets, more: sizes.length > taken };
}
