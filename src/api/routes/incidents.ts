// /api/incidents: incidents as stored (list, one with its history) and the approval gate, over
// src/services/incidents.ts.
import { z } from '../../domain/zod.js';
import type { ListedIncident } from '../../db/repositories/incidents.js';
import { incidentService } from '../../services/incidents.js';
import { safeLink } from '../../domain/agent-result.js';
import { omittedAlerts, withoutOmittedMarker } from '../../domain/stored-alerts.js';
import { workflowUrl } from '../../temporal/names.js';
import type { AppDeps } from '../env.js';
import { unstorableChar } from '../body.js';
import { badRequest } from '../problem.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { anyObject, pathParams, textParam } from '../schemas/common.js';

export const incidentListQuerySchema = z.object({
  // `unknown`: an incident only events that carry no status (notes) told of (activities/incidents.ts).
  status: z.enum(['triggered', 'acknowledged', 'resolved', 'unknown']).optional(),
  service: textParam(64).optional(),
  environment: textParam(256).optional(),
  since: z.iso.datetime({ offset: true }).optional(),
  until: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().max(200).optional(),
});

export const markResolvedBodySchema = z.strictObject({
  reason: z.string().trim().min(1).max(500).describe('Why: recorded in the audit log and in the resolve event (e.g. "resolved in PagerDuty on 12-03; its webhook was lost").'),
  resolvedAt: z.iso
    .datetime({ offset: true })
    .optional()
    .describe("When PagerDuty resolved it, if known (between the incident's creation and now); default now. The stats' time to resolve is taken from it."),
});

export const approvalBodySchema = z.strictObject({
  decision: z.enum(['approve', 'reject']).describe('Run the gated action, or skip it.'),
  comment: z.string().max(2000).optional(),
});

/** An action run id joins incident, rule, action and event ids: it may be as long as an approval link's. */
const approvalParams = pathParams(['id', 'incident id']).extend({ actionRunId: textParam(600).describe('action run id') });

const encodeCursor = (i: { cursor_at: string; id: string }) => Buffer.from(`${i.cursor_at}|${i.id}`).toString('base64url');
/**
 * A timestamp as Postgres writes timestamptz as text (`2026-12-02 05:40:49.123456+00`), or as an ISO
 * instant (cursors of earlier releases): nothing else reaches the `::timestamptz` cast.
 */
const CURSOR_AT = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(\.\d{1,6})?(Z|[+-](\d{2})(?::?(\d{2}))?)$/;
/**
 * Whether Postgres's `::timestamptz` takes `at` (matched by CURSOR_AT) as the instant it spells, on or after
 * 1970: each field in its range, the day in its month (Date.parse rolls 2026-02-30 into March, Postgres
 * refuses it), the zone within Postgres's ±15:59 (Date.parse takes +23:59).
 */
function cursorTimeHolds(at: string): boolean {
  const m = CURSOR_AT.exec(at);
  if (!m) return false;
  const [year, month, day, hour, minute, second, zoneHours = 0, zoneMinutes = 0] = [m[1], m[2], m[3], m[4], m[5], m[6], m[9], m[10]].map((f) => (f === undefined ? undefined : Number(f)));
  const date = new Date(Date.UTC(year!, month! - 1, day!));
  if (year! < 1970 || date.getUTCMonth() !== month! - 1 || date.getUTCDate() !== day) return false;
  if (hour! > 23 || minute! > 59 || second! > 59 || zoneHours > 15 || zoneMinutes > 59) return false;
  const ms = Date.parse(at.replace(' ', 'T').replace(/([+-]\d{2})$/, '$1:00').replace(/([+-]\d{2})(\d{2})$/, '$1:$2'));
  return !Number.isNaN(ms) && ms >= 0;
}
/** The position a cursor names. Anyone can forge one, and both parts go to Postgres: what it cannot hold is refused here. */
function decodeCursor(s: string): { createdAt: string; id: string } {
  const [at = '', id, extra] = Buffer.from(s, 'base64url').toString().split('|');
  if (!id || extra !== undefined || unstorableChar(id) || !cursorTimeHolds(at)) throw badRequest('cursor is not valid', [{ path: 'cursor', message: 'not a cursor returned by this API' }]);
  return { createdAt: at, id };
}

function stripSources(env: Record<string, unknown>): Record<string, unknown> {
  const { sources: _sources, ...rest } = env;
  return rest;
}

const tags = ['incidents'];

export function incidentRoutes(deps: AppDeps) {
  const app = newRouter();
  const incidents = incidentService({ db: deps.db, temporal: deps.temporal, taskQueue: deps.config.temporal.taskQueue, logger: deps.logger });
  const auth = authOf(deps);
  const uiUrl = deps.temporalUiUrl ?? deps.config.temporal.uiUrl;

  const view = (i: ListedIncident) => ({
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
    temporalUrl: workflowUrl(uiUrl, deps.config.temporal.namespace, i.workflow_id),
  });

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/incidents',
      tags,
      summary: 'List incidents',
      description: 'Newest first. Items leave out `description` and `alerts` (GET /api/incidents/{id} has them).',
      request: { query: incidentListQuerySchema },
      responses: { 200: json('A page of incidents.', z.object({ items: z.array(anyObject), nextCursor: z.string().nullable() })) },
    }),
    async (c) => {
      const f = c.req.valid('query');
      const rows = await incidents.list({
        status: f.status,
        serviceId: f.service,
        environment: f.environment,
        since: f.since ? new Date(f.since) : undefined,
        until: f.until ? new Date(f.until) : undefined,
        limit: f.limit + 1,
        cursor: f.cursor ? decodeCursor(f.cursor) : undefined,
      });
      const page = rows.slice(0, f.limit);
      const labels = await incidents.labels(page.map((i) => i.id));
      return c.json({ items: page.map((i) => ({ ...view(i), label: labels.get(i.id) ?? null })), nextCursor: rows.length > f.limit ? encodeCursor(page[page.length - 1]!) : null }, 200);
    },
  );

  app.openapi(
    op(guard(auth, 'read'), {
      method: 'get',
      path: '/api/incidents/{id}',
      tags,
      summary: 'One incident with events, environment, matches, action runs and its Temporal link',
      description:
        'Each of `events`, `matches` and `actionRuns` holds the newest 500 (every action run awaiting approval among them), oldest first; `omitted` counts the older ones left out. ' +
        '`alerts` are the PagerDuty alerts as stored when fetched: at most 50 and 1 MiB of JSON together (kept oldest first while they fit); `alertsOmitted` ({count, bytes}, else null) counts those left out. ' +
        'Only this answer carries `description` and `alerts`; GET /api/incidents leaves them out.',
      request: { params: pathParams(['id', 'incident id']) },
      responses: { 200: json('The incident.', anyObject), 404: problemResponse('Unknown incident.') },
    }),
    async (c) => {
      const { incident, events, matches, actionRuns, omitted, label } = await incidents.get(actorOf(c), c.req.param('id'));
      // Issue 22: each action run carries its remediation's verification (pending, verified, unverified, not_applicable).
      const verificationOf = new Map(matches.map((m) => [String(m.id), m.verification]));
      return c.json(
        {
          ...view(incident),
          label,
          description: incident.description,
          environmentSources: (incident.environment as { sources?: unknown }).sources ?? {},
          // As stored: at most 1 MiB (capAlerts); the marker of those left out is shown as alertsOmitted.
          alerts: incident.alerts === null ? null : withoutOmittedMarker(incident.alerts),
          alertsOmitted: omittedAlerts(incident.alerts),
          events: events.map((e) => ({
            eventId: e.event_id,
            webhookId: e.webhook_id,
            type: e.event_type,
            occurredAt: e.occurred_at,
            receivedAt: e.received_at,
            disposition: e.disposition,
            ...(e.reject_reason ? { rejectReason: e.reject_reason } : {}),
            ...(e.note ? { note: e.note } : {}),
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
            verification: m.verification,
            verificationDetail: m.verification_detail,
            verifiedAt: m.verified_at,
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
            // Rows written before links were checked may hold anything: shown only when safe now.
            link: safeLink(r.link) ?? null,
            error: r.error,
            approval: r.approval,
            reason: r.reason,
            verification: r.match_id ? (verificationOf.get(String(r.match_id)) ?? null) : null,
            startedAt: r.started_at,
            finishedAt: r.finished_at,
          })),
          // How many older events, matches and action runs were left out (each list holds the newest 500).
          omitted,
        },
        200,
      );
    },
  );

  app.openapi(
    op(guard(auth, 'write', { body: true, invalidBody: 'invalid approval' }), {
      method: 'post',
      path: '/api/incidents/{id}/approvals/{actionRunId}',
      tags,
      summary: 'Approve or reject an action waiting at its approval gate',
      request: { params: approvalParams, body: jsonBody(approvalBodySchema) },
      responses: {
        202: json(
          'The decision was recorded with the authenticated actor, and the waiting rule run told (`delivered: false` when it could not be reached: it reads the decision at its deadline).',
          z.object({ actionRunId: z.string(), decision: z.enum(['approve', 'reject']), actor: z.string(), delivered: z.boolean() }),
        ),
        403: problemResponse('The caller wrote the rule version that planned the action (or its author is not recorded): someone else must decide.'),
        404: problemResponse('Unknown incident or action run.'),
        409: problemResponse('Too late: the action run is no longer awaiting approval (decided, timed out, cancelled or done).'),
      },
    }),
    async (c) => c.json(await incidents.decide(actorOf(c), c.req.param('id'), c.req.param('actionRunId'), c.req.valid('json')), 202),
  );

  app.openapi(
    op(guard(auth, 'admin', { body: true, invalidBody: 'invalid mark-resolved request' }), {
      method: 'post',
      path: '/api/incidents/{id}/mark-resolved',
      tags,
      summary: 'Mark resolved here an open incident whose resolve never arrived (PagerDuty is not told)',
      description:
        "For an incident PagerDuty resolved whose resolve was lost and that the reconcile cannot close (no `PAGERDUTY_API_TOKEN`, or PagerDuty no longer knows it). Its workflow takes an `incident.resolved` naming the caller and the reason, as if PagerDuty had delivered it: its rule runs are cancelled, their waiting approvals refused, and its `incident.resolved` rules run. Audited (`incident.mark-resolved`). Admin only: an incident's rules may belong to any team.",
      request: { params: pathParams(['id', 'incident id']), body: jsonBody(markResolvedBodySchema) },
      responses: {
        202: json('The resolve was handed to the incident\'s workflow (it is resolved once the workflow has taken it).', z.object({ incidentId: z.string(), eventId: z.string(), actor: z.string() })),
        404: problemResponse('Unknown incident.'),
        409: problemResponse('The incident is already resolved.'),
        503: problemResponse('Temporal did not take the resolve; nothing was recorded.'),
      },
    }),
    async (c) => c.json(await incidents.markResolved(actorOf(c), c.req.param('id'), c.req.valid('json')), 202),
  );

  return app;
}
