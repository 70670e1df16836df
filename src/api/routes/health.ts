// GET /healthz and GET /readyz: liveness, and whether Postgres and Temporal answer.
import { z } from '../../domain/zod.js';
import { pingDatabase } from '../../db/repositories/health.js';
import type { Logger } from '../../logger.js';
import { withTimeout } from '../../timeout.js';
import type { AppDeps } from '../env.js';
import { problem } from '../problem.js';
import { json, newRouter, op, open, problemResponse } from '../router.js';
import { anyObject } from '../schemas/common.js';

/** up when the probe answers within 3 s. Why it failed goes to the log, never into the answer. */
async function reachable(dependency: string, probe: Promise<unknown>, log: Logger): Promise<'up' | 'down'> {
  try {
    await withTimeout(probe, 3000);
    return 'up';
  } catch (err) {
    log.warn({ dependency, err: { message: (err instanceof Error ? err.message : String(err)).split('\n')[0]!.slice(0, 300) } }, 'readiness check failed');
    return 'down';
  }
}

type Checks = { database: { status: 'up' | 'down' }; temporal: { status: 'up' | 'down' } };

/**
 * How long one readiness answer is reused (ms). /readyz is unauthenticated: without this, every request
 * was a Postgres query and a Temporal call (and, while one was down, a warning line), so anyone who could
 * reach the port set the pace of both. Now one probe runs at a time per API process, shared by every
 * request that arrives while it runs, and its answer serves the next second's requests.
 */
export const READINESS_REUSE_MS = 1000;

function readinessProbe(deps: AppDeps): (log: Logger) => Promise<Checks> {
  let last: { at: number; checks: Checks } | undefined;
  let running: Promise<Checks> | undefined;
  return (log) => {
    if (last && Date.now() - last.at < READINESS_REUSE_MS) return Promise.resolve(last.checks);
    running ??= (async () => {
      try {
        const [database, temporal] = await Promise.all([reachable('database', pingDatabase(deps.db), log), reachable('temporal', deps.temporal.workflowService.getSystemInfo({}), log)]);
        const checks: Checks = { database: { status: database }, temporal: { status: temporal } };
        last = { at: Date.now(), checks };
        return checks;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };
}

export function healthRoutes(deps: AppDeps) {
  const app = newRouter();
  const tags = ['health'];
  const probe = readinessProbe(deps);

  app.openapi(op(open(), { method: 'get', path: '/healthz', tags, summary: 'Liveness', responses: { 200: json('The process is up.', z.object({ status: z.literal('ok') })) } }), (c) =>
    c.json({ status: 'ok' as const }, 200),
  );

  // Which dependency is down, never its error text (it can name hosts, users and ports).
  app.openapi(
    op(open(), {
      method: 'get',
      path: '/readyz',
      tags,
      summary: 'Readiness: Temporal and the database reachable (one probe at a time, its answer reused for a second)',
      responses: { 200: json('Ready.', z.object({ status: z.literal('ready'), checks: anyObject })), 503: problemResponse('Not ready.') },
    }),
    async (c) => {
      const checks = await probe(c.get('logger'));
      const down = Object.entries(checks).filter(([, v]) => v.status !== 'up');
      if (down.length > 0) return problem(c, 503, 'Service Unavailable', `not ready: ${down.map(([k]) => `${k} unreachable`).join('; ')}`, { checks });
      return c.json({ status: 'ready' as const, checks }, 200);
    },
  );

  return app;
}
