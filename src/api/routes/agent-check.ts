// POST /api/environments/{name}/check: is the environment's Doctor agent polling, and does a script
// run through it end to end? Runs the allow-listed `health-check.sh` via a tiny workflow on the main
// task queue whose only activity goes to the agent's queue with a short schedule-to-start timeout.
import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import { agentTaskQueue } from '../../temporal/names.js';
import { agentStatus } from '../../temporal/pollers.js';
import { AGENT_CHECK_SCRIPT, WORKFLOW_TYPES, type AgentCheckInput, type AgentCheckResult } from '../../contracts/index.js';
import type { AppDeps, AppEnv } from '../app.js';
import { withTimeout } from '../app.js';
import { requireScope } from '../auth.js';
import { requireTeam } from '../team-access.js';
import { notFound, unavailable } from '../problem.js';
import { audit } from './environments.js';


/** Same window as GET /api/environments/{name}: long polls last up to a minute. */
const SCHEDULE_TO_START_SECONDS = 10;
const SCRIPT_TIMEOUT_SECONDS = 60;

export interface AgentCheckResponse {
  environment: string;
  taskQueue: string;
  healthy: boolean;
  agent: { online: boolean; pollers: { identity: string; lastAccessTime: string | null }[] };
  /** The health-check run; null when no agent was polling (nothing was sent). */
  check: AgentCheckResult | null;
}

export function agentCheckRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit };

  app.post('/api/environments/:name/check', requireScope(auth, 'write'), async (c) => {
    const name = c.req.param('name');
    const env = await deps.db.selectFrom('environments').select(['name', 'agent_task_queue', 'team']).where('name', '=', name).executeTakeFirst();
    if (!env) throw notFound(`environment ${name} is not known`);
    requireTeam(c, 'editor', env.team, `environment ${name}`);
    const taskQueue = env.agent_task_queue ?? agentTaskQueue(name);

    let agent;
    try {
      agent = await agentStatus(deps.temporal, deps.config.temporal.namespace, taskQueue);
    } catch (err) {
      throw unavailable(`Temporal unavailable: ${(err as Error).message.split('\n')[0]}`);
    }
    if (!agent.online) {
      return c.json({ environment: name, taskQueue, healthy: false, agent, check: null } satisfies AgentCheckResponse);
    }

    // The check runs the fixed health-check script through the environment's own stored queue; nothing in
    // the request can name another queue or script. Each check is recorded before it starts, so an
    // `agent-check-*` run in Temporal without an audit entry was started by someone else (docs/security.md "Agents").
    const workflowId = `agent-check-${name}-${randomUUID()}`;
    const input: AgentCheckInput = { environment: name, taskQueue, script: AGENT_CHECK_SCRIPT, scheduleToStartSeconds: SCHEDULE_TO_START_SECONDS, timeoutSeconds: SCRIPT_TIMEOUT_SECONDS };
    await audit(deps.db, { actor: c.get('actor'), action: 'environment.check', entityType: 'environment', entityId: name, after: { workflowId, taskQueue, script: AGENT_CHECK_SCRIPT }, team: env.team });
    let check: AgentCheckResult;
    try {
      check = await withTimeout(
        deps.temporal.workflow.execute(WORKFLOW_TYPES.agentCheck, {
          workflowId,
          taskQueue: deps.config.temporal.taskQueue,
          args: [input],
          workflowExecutionTimeout: `${SCHEDULE_TO_START_SECONDS + SCRIPT_TIMEOUT_SECONDS + 60} seconds`,
        }) as Promise<AgentCheckResult>,
        (SCHEDULE_TO_START_SECONDS + SCRIPT_TIMEOUT_SECONDS + 30) * 1000,
      );
    } catch (err) {
      c.get('logger').warn({ err: { message: (err as Error).message }, environment: name }, 'agent check failed to run');
      throw unavailable(`the check could not run: ${(err as Error).message.split('\n')[0]}`);
    }
    return c.json({ environment: name, taskQueue, healthy: check.healthy, agent, check } satisfies AgentCheckResponse);
  });

  return app;
}
