// GET /api/automation (status) and POST /api/automation/resume (admin): the fleet guards' pauses (issue 22).
// Built with the shared route helpers (src/api/router.ts): the request schemas below are the ones the
// handlers validate with, and the bearer guard and its responses are documented like every other route's.
import { z } from '../../domain/zod.js';
import { automationStatus, resumeAutomation } from '../../services/automation.js';
import type { AppDeps } from '../env.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op } from '../router.js';

export const automationResumeSchema = z
  .strictObject({
    scope: z.enum(['fleet', 'environment']).describe('Resume the fleet-wide pause, or the pause of one environment.'),
    environment: z.string().min(1).max(63).optional().describe('The environment (scope environment only).'),
  })
  .superRefine((b, ctx) => {
    if (b.scope === 'environment' && !b.environment) ctx.addIssue({ code: 'custom', path: ['environment'], message: 'environment is required with scope "environment"' });
    if (b.scope === 'fleet' && b.environment) ctx.addIssue({ code: 'custom', path: ['environment'], message: 'environment applies to scope "environment" only' });
  })
  .meta({ id: 'AutomationResume', description: 'Which pause to lift.' });

export const pauseViewSchema = z
  .object({
    id: z.string(),
    scope: z.enum(['fleet', 'environment']),
    environment: z.string().nullable(),
    guard: z.string().describe('The guard crossed, e.g. fleet.maxTargets.'),
    reason: z.string(),
    incidentId: z.string().nullable().describe('The incident whose remediation crossed the guard.'),
    pausedAt: z.string(),
    resumedAt: z.string().nullable(),
    resumedBy: z.string().nullable(),
  })
  .meta({ id: 'AutomationPause' });

export const automationStatusSchema = z
  .object({
    paused: z.boolean().describe('True while automation is paused fleet-wide.'),
    pauses: z.array(pauseViewSchema).describe('Pauses in force.'),
    history: z.array(pauseViewSchema).describe('Recent pauses, resumed ones included, newest first.'),
    guards: z.object({
      maxTargets: z.number(),
      maxTargetPercent: z.number(),
      window: z.string(),
      maxActionsPerMinute: z.number(),
      flapping: z.object({ max: z.number(), window: z.string() }),
      pageChannels: z.array(z.string()),
    }),
  })
  .meta({ id: 'AutomationStatus' });

export const automationResumedSchema = z.object({ resumed: z.array(pauseViewSchema).describe('The pauses lifted (empty: none was in force).') });

export function automationRoutes(deps: AppDeps) {
  const app = newRouter();
  const auth = authOf(deps);

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/automation',
      tags: ['automation'],
      summary: 'Whether automation is paused by a guard, and the guards in force',
      description:
        "Fleet-wide pauses, and the pauses of environments of the caller's teams or of no team (an environment not registered); " +
        "another team's environment pause is left out, except for a global admin, who sees every one.",
      responses: { 200: json('Pauses and guards.', automationStatusSchema) },
    }),
    async (c) => c.json(await automationStatus(deps.db, deps.config.guards, actorOf(c)), 200),
  );

  app.openapi(
    op(guard(auth, 'admin', { body: true }), {
      method: 'post',
      path: '/api/automation/resume',
      tags: ['automation'],
      summary: 'Resume automation paused by a guard (admin); the guard windows restart',
      request: { body: jsonBody(automationResumeSchema) },
      responses: { 200: json('The pauses lifted.', automationResumedSchema) },
    }),
    async (c) => {
      const body = c.req.valid('json');
      const resumed = await resumeAutomation(deps.db, { scope: body.scope, environment: body.environment, actor: c.get('actor') ?? 'unknown' });
      c.get('logger').info({ scope: body.scope, environment: body.environment, resumed: resumed.length }, 'automation resumed');
      return c.json({ resumed }, 200);
    },
  );

  return app;
}
