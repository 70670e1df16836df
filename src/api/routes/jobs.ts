// /api/jobs: thin routes over src/services/jobs.ts, which keeps each job and its Temporal Schedule in step.
import { z } from '../../domain/zod.js';
import type { ScheduleStatus } from '../../contracts/api.js';
import type { JobRow } from '../../db/database.js';
import { jobDefinitionSchema, jobReplacementSchema, MAX_BACKFILL_COUNT_STEPS, MAX_BACKFILL_RUNS, MAX_JOB_RUN_TARGETS, MAX_TRIGGER_RUNS_IN_PROGRESS, OVERLAP_POLICIES } from '../../domain/jobs.js';
import { definitionOf, JOB_RUN_LIST_TARGETS, jobService } from '../../services/jobs.js';
import type { JobTargetResult } from '../../db/database.js';
import { jobRunExecution, workflowUrl } from '../../temporal/names.js';
import type { AppDeps } from '../env.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { anyObject, ifTeamQuery, pageOf, pageQuery, pathParams, textParam } from '../schemas/common.js';
import { LIST_PAGE_BYTES } from '../../services/list-pages.js';

export const backfillSchema = z.strictObject({
  start: z.iso.datetime({ offset: true }),
  end: z.iso.datetime({ offset: true }),
  overlap: z.enum(OVERLAP_POLICIES).optional(),
});

export const runsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: textParam(200).optional().describe('nextCursor of the previous page (a run id).'),
});

export const runTargetsQuerySchema = z.object({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: textParam(200).optional().describe('nextCursor of the previous page (an environment).'),
});

const idParam = pathParams(['id', 'job id']);
const tags = ['jobs'];
const unknown = { 404: problemResponse('Unknown job.') };
const movedAway = { 409: problemResponse('`ifTeam` was given and the job is in another team now (errors name ifTeam); nothing was changed.') };
const temporalDown = { 503: problemResponse('Temporal is unavailable; nothing was changed.') };
const tooManyTargets = {
  422: problemResponse(`The selector (or \`all\`) matches more environments now than one run may hold (${MAX_JOB_RUN_TARGETS}): \`matched\` and \`maxTargets\` say how many; split the job by label selector. Nothing was saved.`),
};

const view = (row: JobRow) => {
  const { id: _id, enabled: _enabled, ...def } = definitionOf(row);
  return { id: row.id, team: row.team, ...def, enabled: row.enabled, scheduleId: row.schedule_id, createdAt: row.created_at, updatedAt: row.updated_at };
};

const ms = (a: Date | null, b: Date | null) => (a && b ? b.getTime() - a.getTime() : null);

const targetView = (t: JobTargetResult) => ({
  environment: t.environment,
  via: t.via,
  status: t.status,
  exitCode: t.exit_code,
  outputExcerpt: t.output_excerpt,
  error: t.error,
  startedAt: t.started_at,
  finishedAt: t.finished_at,
  durationMs: ms(t.started_at, t.finished_at),
});

export function jobRoutes(deps: AppDeps) {
  const app = newRouter();
  const jobs = jobService({ db: deps.db, temporal: deps.temporal, taskQueue: deps.config.temporal.taskQueue, secrets: deps.config.secretRefs, emailAllow: deps.config.emailAllow, logger: deps.logger });
  const auth = authOf(deps);
  const read = guard(auth, 'read');
  const write = guard(auth, 'write');
  const writeBody = guard(auth, 'write', { body: true });
  const uiUrl = deps.temporalUiUrl ?? deps.config.temporal.uiUrl;
  const namespace = deps.config.temporal.namespace;

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/jobs',
      tags,
      summary: 'List scheduled jobs, by id, paged by cursor',
      description: `A page holds \`limit\` jobs at most, and no more than ${LIST_PAGE_BYTES / (1024 * 1024)} MiB of definitions (one job at least): follow \`nextCursor\` until it is null.`,
      request: { query: z.object(pageQuery) },
      responses: { 200: json('A page of jobs.', pageOf(anyObject)) },
    }),
    async (c) => {
      const { rows, nextCursor } = await jobs.list(actorOf(c), c.req.valid('query'));
      return c.json({ items: rows.map(view), nextCursor }, 200);
    },
  );

  app.openapi(
    op(writeBody, {
      method: 'post',
      path: '/api/jobs',
      tags,
      summary: 'Create a scheduled job (a Temporal Schedule)',
      request: { body: jsonBody(jobDefinitionSchema) },
      responses: { 201: json('Created.', anyObject), 409: problemResponse('Id or name taken.'), ...tooManyTargets, ...temporalDown },
    }),
    async (c) => {
      const row = await jobs.create(actorOf(c), c.req.valid('json'));
      c.get('logger').info({ jobId: row.id, scheduleId: row.schedule_id }, 'job created');
      c.header('Location', `/api/jobs/${encodeURIComponent(row.id)}`);
      return c.json(view(row), 201);
    },
  );

  app.openapi(
    op(read, { method: 'get', path: '/api/jobs/{id}', tags, summary: 'One job with its schedule state', request: { params: idParam }, responses: { 200: json('The job.', anyObject), ...unknown } }),
    async (c) => {
      const row = await jobs.get(actorOf(c), c.req.param('id'));
      const found = await jobs.describe(row.id, c.get('logger'));
      const state = 'error' in found ? undefined : found.state;
      const scheduleStatus: ScheduleStatus = 'error' in found ? 'unavailable' : !state ? 'missing' : state.paused ? 'paused' : 'active';
      const schedule = 'error' in found ? found : (state ?? { missing: true, note: 'no schedule in Temporal; the worker recreates it at start' });
      // `schedule` stays the job's own schedule; what Temporal reports about it is `scheduleState`.
      // Temporal lists a paused schedule's next action times too; none of them will run while it is paused.
      const nextRunTimes = state && !state.paused ? state.nextRunTimes : [];
      return c.json({ ...view(row), paused: state?.paused ?? !row.enabled, nextRunTimes, scheduleStatus, scheduleState: schedule }, 200);
    },
  );

  app.openapi(
    op(writeBody, {
      method: 'put',
      path: '/api/jobs/{id}',
      tags,
      summary: 'Replace a job (`enabled` left out: paused or running as it is)',
      request: { params: idParam, query: ifTeamQuery, body: jsonBody(jobReplacementSchema) },
      responses: { 200: json('Updated.', anyObject), ...unknown, 409: problemResponse('Name taken; or `ifTeam` was given and the job is in another team now (errors name ifTeam). Nothing was changed.'), ...tooManyTargets, ...temporalDown },
    }),
    async (c) => c.json(view(await jobs.update(actorOf(c), c.req.param('id'), c.req.valid('json'), c.req.valid('query').ifTeam)), 200),
  );

  app.openapi(
    op(write, {
      method: 'delete',
      path: '/api/jobs/{id}',
      tags,
      summary: 'Delete a job and its schedule',
      request: { params: idParam, query: ifTeamQuery },
      responses: { 204: { description: 'Deleted.' }, ...unknown, ...movedAway, ...temporalDown },
    }),
    async (c) => {
      await jobs.remove(actorOf(c), c.req.param('id'), c.req.valid('query').ifTeam);
      return c.body(null, 204);
    },
  );

  for (const [verb, enabled] of [
    ['pause', false],
    ['resume', true],
  ] as const) {
    app.openapi(
      op(write, {
        method: 'post',
        path: `/api/jobs/{id}/${verb}`,
        tags,
        summary: enabled ? 'Resume the schedule' : 'Pause the schedule',
        request: { params: idParam },
        responses: {
          200: json(enabled ? 'Resumed.' : 'Paused.', anyObject),
          ...(enabled ? { 409: problemResponse('Not resumed: the job was saved with an interval under the minimum; edit the interval first.') } : {}),
          ...unknown,
          ...temporalDown,
        },
      }),
      async (c) => c.json({ ...view(await jobs.setEnabled(actorOf(c), c.req.param('id'), enabled)), paused: !enabled }, 200),
    );
  }

  app.openapi(
    op(write, {
      method: 'post',
      path: '/api/jobs/{id}/trigger',
      tags,
      summary: 'Run a job now',
      request: { params: idParam },
      responses: {
        202: json(
          'Triggered. `runId` names the run when the API started it (a paused job, an allow_all one); through the schedule, Temporal names it: it is the first run whose `scheduledAt` is at or after `triggeredAt`.',
          z.object({ jobId: z.string(), triggered: z.literal(true), runId: z.string().nullable(), triggeredAt: z.string() }),
        ),
        409: problemResponse(`A run is in progress and the overlap policy is skip; or the job has ${MAX_TRIGGER_RUNS_IN_PROGRESS} runs in progress (its schedule's counted) and the trigger would start one more by hand (an allow_all or paused job: \`maxRunsInProgress\`, \`runsInProgress\`): no run was started.`),
        ...unknown,
        ...temporalDown,
      },
    }),
    async (c) => {
      const t = await jobs.trigger(actorOf(c), c.req.param('id'));
      return c.json({ jobId: t.row.id, triggered: true as const, runId: t.runId, triggeredAt: t.triggeredAt.toISOString() }, 202);
    },
  );

  app.openapi(
    op(writeBody, {
      method: 'post',
      path: '/api/jobs/{id}/backfill',
      tags,
      summary: 'Run the schedule for a past time range',
      description: `Takes the runs the schedule would have started between start and end (both included), as the overlap policy says. At most ${MAX_BACKFILL_RUNS} scheduled runs per backfill (each starts the script on every target): a wider window is answered 400 on \`end\`, and nothing is backfilled. The runs are counted in at most ${MAX_BACKFILL_COUNT_STEPS} steps of the cron (a cron whose day-of-month and day-of-week fields rarely meet walks many days per run): a window that takes more is answered 400 on \`end\`, naming the latest end that fits.`,
      request: { params: idParam, body: jsonBody(backfillSchema) },
      responses: {
        202: json('Backfill requested.', z.object({ jobId: z.string(), backfill: anyObject })),
        409: problemResponse('Nothing was backfilled: the job is paused, or its schedule is held (saved with an interval under the minimum).'),
        ...unknown,
        ...temporalDown,
      },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const row = await jobs.backfill(actorOf(c), c.req.param('id'), body);
      return c.json({ jobId: row.id, backfill: body }, 202);
    },
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/jobs/{id}/runs',
      tags,
      summary: 'Runs of a job, newest first, paged by cursor',
      description: `A page holds \`limit\` runs at most, and no more than 4 MiB (one run at least): follow \`nextCursor\` until it is null. Each run lists its first ${JOB_RUN_LIST_TARGETS.perRun} target results (those not succeeded first, then by environment) with the last ${JOB_RUN_LIST_TARGETS.excerptChars} characters of the output and the first ${JOB_RUN_LIST_TARGETS.excerptChars} of the error (\`cut\` says one was shortened); \`targetsTotal\` counts them all, and \`GET /api/jobs/{id}/runs/{runId}/targets\` pages them whole. The \`summary\` leaves out \`failures\` (the targets hold them).`,
      request: { params: idParam, query: runsQuerySchema },
      responses: { 200: json('Runs.', z.object({ jobId: z.string(), schedule: anyObject.nullable(), items: z.array(anyObject), nextCursor: z.string().nullable() })), ...unknown },
    }),
    async (c) => {
      const { job, runs, nextCursor, schedule: described } = await jobs.runs(actorOf(c), c.req.param('id'), c.req.valid('query'), c.get('logger'));
      const s = 'state' in described ? described.state : undefined;
      const schedule = 'error' in described ? described : s ? { actionsTaken: s.actionsTaken, skippedOverlap: s.skippedOverlap, missedCatchupWindow: s.missedCatchupWindow } : null;
      return c.json(
        {
          jobId: job.id,
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
            temporalUrl: workflowUrl(uiUrl, namespace, jobRunExecution(r.id).workflowId, r.run_id ?? undefined),
            targetsTotal: r.targets_total,
            targetsOmitted: r.targets_total - r.targets.length,
            targets: r.targets.map((t) => ({ ...targetView(t), cut: t.cut })),
          })),
          nextCursor,
        },
        200,
      );
    },
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/jobs/{id}/runs/{runId}/targets',
      tags,
      summary: "A run's target results, whole, by environment, paged by cursor",
      description: 'Each result with its output and error as recorded (up to 4,000 characters of each). A page holds `limit` results at most, and no more than 4 MiB (one at least): follow `nextCursor` until it is null.',
      request: { params: pathParams(['id', 'job id'], ['runId', 'run id (the `id` of a run in the list)']), query: runTargetsQuerySchema },
      responses: { 200: json('Target results.', z.object({ jobId: z.string(), runId: z.string(), items: z.array(anyObject), nextCursor: z.string().nullable() })), 404: problemResponse('Unknown job, or no such run of it.') },
    }),
    async (c) => {
      const { job, run, targets, nextCursor } = await jobs.runTargets(actorOf(c), c.req.param('id'), c.req.param('runId'), c.req.valid('query'));
      return c.json({ jobId: job.id, runId: run.id, items: targets.map(targetView), nextCursor }, 200);
    },
  );

  return app;
}
