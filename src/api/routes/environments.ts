// /api/environments: thin routes over src/services/environments.ts (authority checks, one agent queue per
// environment, audit, transactions), and the agent health check through an environment's queue.
import { z } from '../../domain/zod.js';
import { environmentCreateSchema, environmentUpdateSchema } from '../../domain/environments.js';
import { environmentService, environmentView } from '../../services/environments.js';
import type { AppDeps } from '../env.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { anyObject, ifTeamQuery, pageOf, pageQuery, pathParams } from '../schemas/common.js';
import { LIST_PAGE_BYTES } from '../../services/list-pages.js';

const nameParam = pathParams(['name', 'environment name']);
const tags = ['environments'];
const unknown = { 404: problemResponse('Unknown environment.') };

export const agentCheckResponseSchema = z.object({
  environment: z.string(),
  taskQueue: z.string(),
  healthy: z.boolean(),
  agent: anyObject.describe('online, the pollers of the queue with their last access time, and servesTeam: whether the agents polling now serve the environment\'s team by their identity (SELFHEAL_AGENT_TEAMS; false: each would refuse its tasks; null: none polls, or one does not say).'),
  check: anyObject.nullable().describe('The health-check run; null when no agent was polling (nothing was sent).'),
});

export function environmentRoutes(deps: AppDeps) {
  const app = newRouter();
  const environments = environmentService({
    db: deps.db,
    temporal: deps.temporal,
    namespace: deps.config.temporal.namespace,
    taskQueue: deps.config.temporal.taskQueue,
    secrets: deps.config.secretRefs,
    logger: deps.logger,
  });
  const auth = authOf(deps);

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/environments',
      tags,
      summary: 'List cloud environments, by name, paged by cursor',
      description: `A page holds \`limit\` environments at most, and no more than ${LIST_PAGE_BYTES / (1024 * 1024)} MiB of them (one at least): follow \`nextCursor\` until it is null.`,
      request: { query: z.object(pageQuery) },
      responses: { 200: json('A page of environments.', pageOf(anyObject)) },
    }),
    async (c) => {
      const { rows, nextCursor } = await environments.list(actorOf(c), c.req.valid('query'));
      return c.json({ items: rows.map(environmentView), nextCursor }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/environments/{name}',
      tags,
      summary: 'One environment with its agent status',
      request: { params: nameParam },
      responses: { 200: json('The environment.', anyObject), ...unknown },
    }),
    async (c) => {
      const { environment, agent } = await environments.get(actorOf(c), c.req.param('name'), c.get('logger'));
      return c.json({ ...environmentView(environment), agent }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'write', { body: true }), {
      method: 'post',
      path: '/api/environments',
      tags,
      summary: 'Register a cloud environment (agent task queue, management VM)',
      request: { body: jsonBody(environmentCreateSchema) },
      responses: {
        201: json('Created.', anyObject),
        403: problemResponse('Setting where code runs needs admin, as does registering on an agent queue a Doctor agent already polls (errors name agentTaskQueue), or a name that is not one of the team\'s own: the team\'s name, or it followed by -, . or _ (errors name name).'),
        409: problemResponse('Name taken.'),
        503: problemResponse('Temporal could not say whether an agent polls the queue (a non-admin create fails closed).'),
      },
    }),
    async (c) => {
      const row = await environments.create(actorOf(c), c.req.valid('json'));
      c.header('Location', `/api/environments/${encodeURIComponent(row.name)}`);
      return c.json(environmentView(row), 201);
    },
  );

  app.openapi(
    op(guard(auth, 'write', { body: true }), {
      method: 'put',
      path: '/api/environments/{name}',
      tags,
      summary: 'Replace an environment',
      request: { params: nameParam, query: ifTeamQuery, body: jsonBody(environmentUpdateSchema) },
      responses: {
        200: json('Updated.', anyObject),
        ...unknown,
        409: problemResponse(
          '`ifTeam` was given and the environment is in another team now (errors name ifTeam); or `team` moves it while live jobs of its team name it among their targets (`jobs`: the first ten ids, `jobsTotal`: how many). Nothing was changed.',
        ),
      },
    }),
    async (c) => c.json(environmentView(await environments.update(actorOf(c), c.req.param('name'), c.req.valid('json'), c.req.valid('query').ifTeam)), 200),
  );

  app.openapi(
    op(guard(auth, 'write'), {
      method: 'delete',
      path: '/api/environments/{name}',
      tags,
      summary: 'Delete an environment',
      request: { params: nameParam, query: ifTeamQuery },
      responses: {
        204: { description: 'Deleted.' },
        ...unknown,
        409: problemResponse('`ifTeam` was given and the environment is in another team now (errors name ifTeam); or live jobs of its team name it among their targets (`jobs`: the first ten ids, `jobsTotal`: how many). Nothing was deleted.'),
      },
    }),
    async (c) => {
      await environments.remove(actorOf(c), c.req.param('name'), c.req.valid('query').ifTeam);
      return c.body(null, 204);
    },
  );

  app.openapi(
    op(guard(auth, 'write'), {
      method: 'post',
      path: '/api/environments/{name}/check',
      tags,
      summary: "Run the harmless health-check script through the environment's Doctor agent",
      request: { params: nameParam },
      responses: { 200: json('Whether the agent is polling and what health-check.sh printed.', agentCheckResponseSchema), ...unknown, 503: problemResponse('Temporal unavailable, or the check could not run.') },
    }),
    async (c) => c.json(await environments.check(actorOf(c), c.req.param('name')), 200),
  );

  return app;
}
