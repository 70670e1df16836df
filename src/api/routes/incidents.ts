import { Hono } from 'hono';
import { z } from 'zod';
import type { Incident } from '../../db/database.js';
import { findIncident, listActionRuns, listEvents, listIncidents, listMatches } from '../../db/repositories/incidents.js';
import { workflowUrl } from '../../temporal/names.js';
import { ApprovalError, decideApproval } from '../../services/approvals.js';
import { labelIncidents } from '../../services/stats.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, conflict, forbidden, issuesToErrors, notFound, ProblemError } from '../problem.js';

export const incidentListQuerySchema = z.object({
  status: z.enum(['triggered', 'acknowledged', 'resolved']).optional(),
  service: z.string().min(1).max(64).optional(),
  environment: z.string().min(1).max(256).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

const encodeCursor = (i: Incident) => Buffer.from(`${i.created_at.toISOString()}|${i.id}`).toString('base64url');
function decodeCursor(s: string): { createdAt: Date; id: string } {
  const [at, id] = Buffer.from(s, 'base64url').toString().split('|');
  const createdAt = new Date(at ?? '');
  if (!id || Number.isNaN(createdAt.getTime())) throw badRequest('cursor is not valid', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  return { createdAt, id };
}

export const approvalBodySchema = z.strictObject({
  decision: z.enum(['approve', 'reject']).describe('Run the gated action, or skip it.'),
  comment: z.string().max(2000).optional(),
});

export function incidentRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken };
  const uiUrl = deps.temporalUiUrl ?? deps.config.temporal.uiUrl;
  const link = (i: Incident) => workflowUrl(uiUrl, deps.config.temporal.namespace, i.workflow_id);

  const view = (i: Incident) => ({
    id: i.id,
    number: i.number,
    title: i.title,
    status: i.status,
    urgency: i.urgency,
    priority: i.priority,
    service: { id: i.service_id, name: i.service_name },
    escalationPolicy: { id: i.escalation_policy_id, name: i.escalation_policy_name },
    assignees: i.assignees,
    htmlUrl: i.html_url,
    environment: stripSources(i.environment),
    createdAt: i.pd_created_at ?? i.created_at,
    resolvedAt: i.resolved_at,
    lastEventAt: i.last_event_at,
    workflowId: i.workflow_id,
    temporalUrl: link(i),
  });

  app.get('/api/incidents', requireScope(auth, 'read'), async (c) => {
    const q = incidentListQuerySchema.safeParse(c.req.query());
    if (!q.success) throw badRequest('invalid query parameters', issuesToErrors(q.error.issues));
    const f = q.data;
    const rows = await listIncidents(deps.db, {
      status: f.status,
      serviceId: f.service,
      environment: f.environment,
      since: f.since ? new Date(f.since) : undefined,
      until: f.until ? new Date(f.until) : undefined,
      limit: f.limit + 1,
      cursor: f.cursor ? decodeCursor(f.cursor) : undefined,
    });
    const page = rows.slice(0, f.limit);
    const more = rows.length > f.limit;
    // Who fixed each incident (auto-remediated, assisted, human), from its events and our action runs.
    const labels = await labelIncidents(deps.db, page.map((i) => i.id));
    return c.json({ items: page.map((i) => ({ ...view(i), label: labels.get(i.id) ?? null })), nextCursor: more ? encodeCursor(page[page.length - 1]!) : null });
  });

  app.get('/api/incidents/:id', requireScope(auth, 'read'), async (c) => {
    const id = c.req.param('id');
    const incident = await findIncident(deps.db, id);
    if (!incident) throw notFound(`incident ${id} is not known`);
    const [events, matches, actionRuns, labels] = await Promise.all([listEvents(deps.db, id), listMatches(deps.db, id), listActionRuns(deps.db, id), labelIncidents(deps.db, [id])]);
    return c.json({
      ...view(incident),
      label: labels.get(id) ?? null,
      description: incident.description,
      environmentSources: (incident.environment as { sources?: unknown }).sources ?? {},
      alerts: incident.alerts,
      events: events.map((e) => ({
        eventId: e.event_id,
        webhookId: e.webhook_id,
        type: e.event_type,
        occurredAt: e.occurred_at,
        receivedAt: e.received_at,
        disposition: e.disposition,
        ...(e.reject_reason ? { rejectReason: e.reject_reason } : {}),
      })),
      matches: matches.map((m) => ({
        id: m.id,
        ruleId: m.rule_id,
        ruleName: m.rule_name,
        ruleVersion: m.rule_version,
        eventId: m.event_id,
        decision: m.decision,
        skipReason: m.skip_reason,
        target: m.target,
        explanation: m.explanation,
        matchedAt: m.matched_at,
      })),
      actionRuns: actionRuns.map((r) => ({
        id: r.id,
        ruleId: r.rule_id,
        ruleVersion: r.rule_version,
        actionId: r.action_id,
        type: r.action_type,
        status: r.status,
        attempts: r.attempts,
        target: r.target,
        exitCode: r.exit_code,
        outputExcerpt: r.output_excerpt,
        link: r.link,
        error: r.error,
        approval: r.approval,
        reason: r.reason,
        startedAt: r.started_at,
        finishedAt: r.finished_at,
      })),
    });
  });

  // Approval gate. The decision is recorded in Postgres with the authenticated actor first (atomically:
  // only while the action still waits and nobody decided), then the waiting rule run is nudged; it acts on
  // the decision it reads back from Postgres, never on the signal. The author of the rule version that
  // planned the action may not approve it.
  app.post('/api/incidents/:id/approvals/:actionRunId', requireScope(auth, 'write'), async (c) => {
    const body = approvalBodySchema.safeParse(await readJsonBody(c));
    if (!body.success) throw badRequest('invalid approval', issuesToErrors(body.error.issues));
    const actor = c.get('actor') ?? 'unknown';
    const log = c.get('logger');
    const result = await decideApproval(
      { db: deps.db, temporal: deps.temporal, warn: (detail, message) => log?.warn(detail, message) },
      { actionRunId: c.req.param('actionRunId'), incidentId: c.req.param('id'), decision: body.data.decision, actor, comment: body.data.comment },
    ).catch(rethrowApprovalError);
    return c.json(result, 202);
  });

  return app;
}

/** An approval refusal as the problem the API answers. */
export function rethrowApprovalError(err: unknown): never {
  if (!(err instanceof ApprovalError)) throw err;
  switch (err.kind) {
    case 'not_found':
      throw notFound(err.message);
    case 'forbidden':
      throw forbidden(err.message);
    case 'conflict':
      throw conflict(err.message, err.extra);
    case 'gone':
      throw new ProblemError(410, 'Gone', err.message);
  }
}

function stripSources(env: Record<string, unknown>): Record<string, unknown> {
  const { sources: _sources, ...rest } = env;
  return rest;
}
