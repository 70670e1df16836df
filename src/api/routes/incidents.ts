import { Hono } from 'hono';
import { z } from 'zod';
import type { Incident } from '../../db/database.js';
import { findIncident, listActionRuns, listEvents, listIncidents, listMatches } from '../../db/queries/incidents.js';
import { findActionRun, recordApprovalDecision, ruleVersionAuthor } from '../../db/queries/action-runs.js';
import { workflowUrl } from '../../temporal/names.js';
import { SIGNALS } from '../../contracts/index.js';
import { labelIncidents } from '../../services/stats.js';
import type { AppDeps, AppEnv } from '../app.js';
import { requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, conflict, forbidden, issuesToErrors, notFound } from '../problem.js';

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
    const id = c.req.param('id');
    const actionRunId = c.req.param('actionRunId');
    const body = approvalBodySchema.safeParse(await readJsonBody(c));
    if (!body.success) throw badRequest('invalid approval', issuesToErrors(body.error.issues));
    const run = await findActionRun(deps.db, actionRunId);
    if (!run || run.incident_id !== id) throw notFound(`action run ${actionRunId} of incident ${id} is not known`);
    const actor = c.get('actor') ?? 'unknown';
    const author = run.rule_id !== null && run.rule_version !== null ? await ruleVersionAuthor(deps.db, run.rule_id, run.rule_version) : undefined;
    if (author === undefined) throw forbidden(`the author of the rule version that planned ${actionRunId} is not recorded, so nobody can be shown to be someone else: it cannot be approved`);
    if (author === actor) throw forbidden(`${actor} wrote version ${run.rule_version} of rule ${run.rule_id}: its gated actions need the approval of someone else`);
    const late = (status: string, decided: unknown) =>
      conflict(
        decided ? `action run ${actionRunId} was already decided (${describeDecision(decided)}); status ${status}` : `action run ${actionRunId} is not awaiting approval (status ${status})`,
        { status, ...(decided ? { approval: decided } : {}) },
      );
    if (run.status !== 'awaiting_approval' || run.approval !== null) throw late(run.status, run.approval);
    const decision = { decision: body.data.decision, actor, at: new Date().toISOString(), ...(body.data.comment !== undefined ? { comment: body.data.comment } : {}) };
    const recorded = await recordApprovalDecision(deps.db, actionRunId, decision);
    if (!recorded) {
      // The deadline, a cancellation or another approver got there between our read and our write.
      const now = await findActionRun(deps.db, actionRunId);
      throw late(now?.status ?? 'unknown', now?.approval);
    }
    let delivered = true;
    try {
      if (!run.workflow_id) throw new Error('no rule-run workflow recorded');
      await deps.temporal.workflow.getHandle(run.workflow_id).signal(SIGNALS.approval, { actionRunId });
    } catch (err) {
      // Recorded all the same: the run reads it at its deadline at the latest.
      delivered = false;
      c.get('logger')?.warn({ actionRunId, err: { message: (err as Error).message.split('\n')[0] } }, 'approval recorded; rule run not reached');
    }
    return c.json({ actionRunId, decision: body.data.decision, actor, delivered }, 202);
  });

  return app;
}

function describeDecision(d: unknown): string {
  const x = d as { decision?: string; actor?: string };
  return `${x.decision ?? '?'} by ${x.actor ?? '?'}`;
}

function stripSources(env: Record<string, unknown>): Record<string, unknown> {
  const { sources: _sources, ...rest } = env;
  return rest;
}
