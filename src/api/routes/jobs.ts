import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import { Hono, type Context } from 'hono';
import { z } from 'zod';
import type { JobRow } from '../../db/database.js';
import { deploymentId } from '../../db/queries/deployment.js';
import { jobDefinitionSchema, OVERLAP_POLICIES, slugify, type JobDefinition } from '../../domain/jobs.js';
import { secretRefOutsidePolicy } from '../../domain/secret-refs.js';
import { jobScheduleId, workflowUrl } from '../../temporal/names.js';
import {
  backfillJobSchedule,
  createJobSchedule,
  deleteJobSchedule,
  describeJobSchedule,
  pauseJobSchedule,
  resumeJobSchedule,
  ScheduleOwnedElsewhereError,
  triggerJobSchedule,
  updateJobSchedule,
  type ScheduleTarget,
} from '../../temporal/schedules.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { requireTeam, teamForChange, teamForCreate, visibleTeams } from '../team-access.js';
import { environmentsOutside } from '../../db/repositories/teams.js';
import { badRequest, conflict, issuesToErrors, notFound, ProblemError, unavailable } from '../problem.js';
import { audit, parseBody, readJson } from './environments.js';

export const backfillSchema = z.strictObject({
  start: z.iso.datetime({ offset: true }),
  end: z.iso.datetime({ offset: true }),
  overlap: z.enum(OVERLAP_POLICIES).optional(),
});

export const runsQuerySchema = z.object({ limit: z.coerce.number().int().min(1).max(200).default(50) });

const GRPC_INVALID_ARGUMENT = 3;

/** Temporal errors: an invalid schedule is the caller's problem (400); anything else means Temporal is unavailable (503). */
function temporalProblem(err: unknown, what: string): unknown {
  if (err instanceof ProblemError) return err;
  if (err instanceof ScheduleOwnedElsewhereError) return conflict(err.message);
  const e = err as { code?: number; cause?: { code?: number }; message?: string };
  const first = String(e.message ?? err).split('\n')[0]!.slice(0, 300);
  if (e.code === GRPC_INVALID_ARGUMENT || e.cause?.code === GRPC_INVALID_ARGUMENT) {
    return badRequest(`Temporal rejected the schedule: ${first}`, [{ path: 'schedule', message: first }]);
  }
  return unavailable(`Temporal is unavailable, ${what} was not changed: ${first}`);
}

/** A request never waits on an unreachable Temporal longer than this before answering 503. */
const TEMPORAL_DEADLINE_MS = 10_000;

async function temporalCall<T>(client: Client, what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await client.withDeadline(Date.now() + TEMPORAL_DEADLINE_MS, fn);
  } catch (err) {
    throw temporalProblem(err, what);
  }
}

/** A job may target only environments of its own team (400 naming targets.environments otherwise). */
async function targetsInTeam(db: Parameters<typeof environmentsOutside>[0], team: string, job: JobDefinition): Promise<void> {
  if (!('environments' in job.targets)) return; // a selector matches only the team's own environments (activities/jobs.ts)
  const outside = await environmentsOutside(db, team, job.targets.environments);
  if (outside.length > 0) {
    throw badRequest(`a job of team ${team} may target only that team's environments`, [
      { path: 'targets.environments', message: `${outside.map((e) => e.name).join(', ')} belong${outside.length === 1 ? 's' : ''} to another team` },
    ]);
  }
}

function definitionOf(row: JobRow): JobDefinition {
  return { ...(row.definition as JobDefinition), id: row.id, enabled: row.enabled };
}

export function jobRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit };
  /** A job's Slack webhook reference must lie inside the operator's secret policy (400 naming it otherwise). */
  const checkSecretRefs = (job: { notifyOnFailure?: { slack?: { webhookUrlRef: string } | undefined } | undefined }) => {
    const ref = job.notifyOnFailure?.slack?.webhookUrlRef;
    const reason = ref === undefined ? undefined : secretRefOutsidePolicy(ref, deps.config.secretRefs);
    if (reason) throw badRequest(`invalid request body: notifyOnFailure.slack.webhookUrlRef: ${reason}`, [{ path: 'notifyOnFailure.slack.webhookUrlRef', message: reason }]);
  };
  /** Where job runs start, and the deployment marker each schedule carries. */
  const target = async (): Promise<ScheduleTarget> => ({ taskQueue: deps.config.temporal.taskQueue, deploymentId: await deploymentId(deps.db) });
  const uiUrl = deps.temporalUiUrl ?? deps.config.temporal.uiUrl;
  const namespace = deps.config.temporal.namespace;

  const findJob = (id: string) => deps.db.selectFrom('jobs').selectAll().where('id', '=', id).where('deleted_at', 'is', null).executeTakeFirst();
  const mustFindJob = async (id: string) => {
    const row = await findJob(id);
    if (!row) throw notFound(`job ${id} is not known`);
    return row;
  };

  const view = (row: JobRow) => {
    const { id: _id, enabled: _enabled, ...def } = definitionOf(row);
    return { id: row.id, team: row.team, ...def, enabled: row.enabled, scheduleId: row.schedule_id, createdAt: row.created_at, updatedAt: row.updated_at };
  };

  /** Run a schedule operation; a schedule missing in Temporal is recreated from the job first. */
  async function onSchedule(row: JobRow, what: string, op: () => Promise<void>): Promise<void> {
    await temporalCall(deps.temporal, what, async () => {
      try {
        await op();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
        await createJobSchedule(deps.temporal, definitionOf(row), await target());
        await op();
      }
    });
  }

  app.get('/api/jobs', requireScope(auth, 'read'), async (c) => {
    const teams = visibleTeams(c);
    if (teams?.length === 0) return c.json({ items: [] });
    const rows = await deps.db
      .selectFrom('jobs')
      .selectAll()
      .where('deleted_at', 'is', null)
      .$if(teams !== undefined, (q) => q.where('team', 'in', teams!))
      .orderBy('id')
      .execute();
    return c.json({ items: rows.map(view) });
  });

  app.post('/api/jobs', requireScope(auth, 'write'), async (c) => {
    const { team: requested, ...body } = parseBody(jobDefinitionSchema, await readJson(c));
    checkSecretRefs(body);
    const id = body.id ?? slugify(body.name);
    if (!id) throw badRequest('give the job an id', [{ path: 'id', message: 'required when the name has no letters or digits' }]);
    const team = await teamForCreate(c, deps.db, requested, `job ${id}`);
    const job: JobDefinition = { ...body, id };
    const to = await target(); // read before the transaction: it may use a connection of its own
    const row = await deps.db.transaction().execute(async (trx) => {
      const clash = await trx
        .selectFrom('jobs')
        .select(['id', 'name'])
        .where((eb) => eb.or([eb('id', '=', id), eb.and([eb('name', '=', job.name), eb('deleted_at', 'is', null)])]))
        .executeTakeFirst();
      if (clash) throw conflict(clash.id === id ? `job ${id} already exists` : `a job named "${job.name}" already exists (${clash.id})`);
      await targetsInTeam(trx, team, job);
      const inserted = await trx
        .insertInto('jobs')
        .values({ id, name: job.name, definition: JSON.stringify(job), enabled: job.enabled, schedule_id: jobScheduleId(id), team })
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: 'job.create', entityType: 'job', entityId: id, after: job, team });
      // Last: if Temporal refuses, the transaction rolls back and no job exists without its schedule.
      await temporalCall(deps.temporal, 'the job', () => createJobSchedule(deps.temporal, job, to));
      return inserted;
    });
    c.get('logger').info({ jobId: id, scheduleId: row.schedule_id }, 'job created');
    c.header('Location', `/api/jobs/${encodeURIComponent(id)}`);
    return c.json(view(row), 201);
  });

  app.get('/api/jobs/:id', requireScope(auth, 'read'), async (c) => {
    const row = await mustFindJob(c.req.param('id'));
    requireTeam(c, 'viewer', row.team, `job ${row.id}`);
    let schedule: unknown;
    try {
      schedule = (await deps.temporal.withDeadline(Date.now() + 5000, () => describeJobSchedule(deps.temporal, row.id))) ?? { missing: true, note: 'no schedule in Temporal; the worker recreates it at start' };
    } catch (err) {
      schedule = { error: `Temporal unavailable: ${(err as Error).message.split('\n')[0]}` };
    }
    const s = schedule as { paused?: boolean; nextRunTimes?: string[] };
    // `schedule` stays the job's own schedule; what Temporal reports about it is `scheduleState`.
    return c.json({ ...view(row), paused: s.paused ?? !row.enabled, nextRunTimes: s.nextRunTimes ?? [], scheduleState: schedule });
  });

  app.put('/api/jobs/:id', requireScope(auth, 'write'), async (c) => {
    const id = c.req.param('id');
    const { team: requested, ...body } = parseBody(jobDefinitionSchema, await readJson(c));
    checkSecretRefs(body);
    if (body.id !== undefined && body.id !== id) throw badRequest('a job id cannot change', [{ path: 'id', message: `must be "${id}" (the id in the path) or left out` }]);
    const job: JobDefinition = { ...body, id };
    const to = await target();
    const row = await deps.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('jobs').selectAll().where('id', '=', id).where('deleted_at', 'is', null).forUpdate().executeTakeFirst();
      if (!before) throw notFound(`job ${id} is not known`);
      const team = await teamForChange(c, trx, before.team, requested, `job ${id}`);
      await targetsInTeam(trx, team, job);
      const clash = await trx.selectFrom('jobs').select('id').where('name', '=', job.name).where('id', '!=', id).where('deleted_at', 'is', null).executeTakeFirst();
      if (clash) throw conflict(`a job named "${job.name}" already exists (${clash.id})`);
      const updated = await trx
        .updateTable('jobs')
        .set({ name: job.name, definition: JSON.stringify(job), enabled: job.enabled, team, updated_at: new Date() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: 'job.update', entityType: 'job', entityId: id, before: { ...definitionOf(before), team: before.team }, after: { ...job, team }, team });
      await temporalCall(deps.temporal, 'the job', () => updateJobSchedule(deps.temporal, job, to));
      return updated;
    });
    return c.json(view(row));
  });

  app.delete('/api/jobs/:id', requireScope(auth, 'write'), async (c) => {
    const id = c.req.param('id');
    const ours = await deploymentId(deps.db);
    await deps.db.transaction().execute(async (trx) => {
      const before = await trx.deleteFrom('jobs').where('id', '=', id).where('deleted_at', 'is', null).returningAll().executeTakeFirst();
      if (!before) throw notFound(`job ${id} is not known`);
      requireTeam(c, 'editor', before.team, `job ${id}`); // refused → the transaction rolls the delete back
      await audit(trx, { actor: c.get('actor'), action: 'job.delete', entityType: 'job', entityId: id, before: definitionOf(before), team: before.team });
      await temporalCall(deps.temporal, 'the job', () => deleteJobSchedule(deps.temporal, id, ours));
    });
    return c.body(null, 204);
  });

  const setEnabled = (enabled: boolean) => async (c: Context<AppEnv>) => {
    const id = c.req.param('id') ?? '';
    const row = await deps.db.transaction().execute(async (trx) => {
      const before = await trx.selectFrom('jobs').selectAll().where('id', '=', id).where('deleted_at', 'is', null).forUpdate().executeTakeFirst();
      if (!before) throw notFound(`job ${id} is not known`);
      requireTeam(c, 'editor', before.team, `job ${id}`);
      const def = { ...definitionOf(before), enabled };
      const updated = await trx
        .updateTable('jobs')
        .set({ enabled, definition: JSON.stringify(def), updated_at: new Date() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await audit(trx, { actor: c.get('actor'), action: enabled ? 'job.resume' : 'job.pause', entityType: 'job', entityId: id, before: { enabled: before.enabled }, after: { enabled }, team: before.team });
      const note = `${enabled ? 'resumed' : 'paused'} by ${c.get('actor') ?? 'unknown'}`;
      await onSchedule(updated, 'the job', () => (enabled ? resumeJobSchedule(deps.temporal, id, note) : pauseJobSchedule(deps.temporal, id, note)));
      return updated;
    });
    return c.json({ ...view(row), paused: !enabled });
  };

  app.post('/api/jobs/:id/pause', requireScope(auth, 'write'), setEnabled(false));
  app.post('/api/jobs/:id/resume', requireScope(auth, 'write'), setEnabled(true));

  app.post('/api/jobs/:id/trigger', requireScope(auth, 'write'), async (c) => {
    const row = await mustFindJob(c.req.param('id'));
    requireTeam(c, 'editor', row.team, `job ${row.id}`);
    await onSchedule(row, 'nothing', () => triggerJobSchedule(deps.temporal, row.id));
    await audit(deps.db, { actor: c.get('actor'), action: 'job.trigger', entityType: 'job', entityId: row.id, team: row.team });
    return c.json({ jobId: row.id, triggered: true }, 202);
  });

  app.post('/api/jobs/:id/backfill', requireScope(auth, 'write'), async (c) => {
    const row = await mustFindJob(c.req.param('id'));
    requireTeam(c, 'editor', row.team, `job ${row.id}`);
    const body = parseBody(backfillSchema, await readJson(c));
    const start = new Date(body.start);
    const end = new Date(body.end);
    if (start >= end) throw badRequest('start must be before end', [{ path: 'end', message: 'must be after start' }]);
    await onSchedule(row, 'nothing', () => backfillJobSchedule(deps.temporal, row.id, start, end, body.overlap));
    await audit(deps.db, { actor: c.get('actor'), action: 'job.backfill', entityType: 'job', entityId: row.id, after: body, team: row.team });
    return c.json({ jobId: row.id, backfill: body }, 202);
  });

  app.get('/api/jobs/:id/runs', requireScope(auth, 'read'), async (c) => {
    const row = await mustFindJob(c.req.param('id'));
    requireTeam(c, 'viewer', row.team, `job ${row.id}`);
    const q = runsQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('invalid query parameters', issuesToErrors(q.error.issues));
    const runs = await deps.db.selectFrom('job_runs').selectAll().where('job_id', '=', row.id).orderBy('started_at', 'desc').limit(q.data.limit).execute();
    const results =
      runs.length === 0
        ? []
        : await deps.db
            .selectFrom('job_target_results')
            .selectAll()
            .where(
              'job_run_id',
              'in',
              runs.map((r) => r.id),
            )
            .orderBy('environment')
            .execute();
    let schedule: { skippedOverlap: number; missedCatchupWindow: number; actionsTaken: number } | { error: string } | null = null;
    try {
      const s = await deps.temporal.withDeadline(Date.now() + 5000, () => describeJobSchedule(deps.temporal, row.id));
      if (s) schedule = { actionsTaken: s.actionsTaken, skippedOverlap: s.skippedOverlap, missedCatchupWindow: s.missedCatchupWindow };
    } catch (err) {
      schedule = { error: `Temporal unavailable: ${(err as Error).message.split('\n')[0]}` };
    }
    const ms = (a: Date | null, b: Date | null) => (a && b ? b.getTime() - a.getTime() : null);
    return c.json({
      jobId: row.id,
      schedule,
      items: runs.map((r) => ({
        id: r.id,
        runId: r.run_id,
        trigger: r.trigger,
        status: r.status,
        scheduledAt: r.scheduled_at,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
        durationMs: ms(r.started_at, r.finished_at),
        summary: r.summary,
        temporalUrl: workflowUrl(uiUrl, namespace, r.id, r.run_id ?? undefined),
        targets: results
          .filter((t) => t.job_run_id === r.id)
          .map((t) => ({
            environment: t.environment,
            via: t.via,
            status: t.status,
            exitCode: t.exit_code,
            outputExcerpt: t.output_excerpt,
            error: t.error,
            startedAt: t.started_at,
            finishedAt: t.finished_at,
            durationMs: ms(t.started_at, t.finished_at),
          })),
      })),
    });
  });

  return app;
}
