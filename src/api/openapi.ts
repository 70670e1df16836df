/**
 * The OpenAPI 3.1 document, generated from the zod schemas the routes validate with.
 *
 * Each route group describes its operations as {@link OperationSpec}s (the request schemas are the very
 * objects the handlers parse with); {@link buildOpenApiDocument} converts them with zod's JSON Schema
 * generator (input side: what a client may send, defaults optional) and hoists every schema carrying a
 * meta `id` into `components.schemas`. A new route group adds its specs to {@link apiOperations}.
 */
import { z } from 'zod';
import { jobDefinitionSchema } from '../domain/jobs.js';
import { ruleInputSchema } from '../domain/rules/index.js';
import { webhookBodySchema } from '../pagerduty/webhook.js';
import type { Scope } from './auth.js';
import { auditEntrySchema, auditQuerySchema } from './routes/audit.js';
import { attachBacktestSchema, backtestRequestSchema, backtestResponseSchema, ruleBacktestViewSchema } from './routes/backtest.js';
import { environmentCreateSchema, environmentUpdateSchema } from './routes/environments.js';
import { approvalBodySchema, incidentListQuerySchema } from './routes/incidents.js';
import { backfillSchema, runsQuerySchema } from './routes/jobs.js';
import {
  ruleDiffQuerySchema,
  ruleGetQuerySchema,
  ruleListQuerySchema,
  ruleRollbackSchema,
  ruleTestSchema,
  ruleUpdateSchema,
  ruleViewSchema,
  unsavedRuleTestSchema,
} from './routes/rules.js';
import { approvalLinkSchema } from './routes/approval-links.js';
import { overallStatsSchema, ruleStatsSchema, statsQuerySchema } from './routes/stats.js';
import { tokenCreateSchema, tokenViewSchema } from './routes/tokens.js';

type Method = 'get' | 'post' | 'put' | 'delete' | 'patch';

export interface ResponseSpec {
  description: string;
  schema?: z.ZodType;
  contentType?: string;
}

export interface OperationSpec {
  method: Method;
  /** OpenAPI path template, e.g. `/api/rules/{id}` */
  path: string;
  tag: string;
  summary: string;
  description?: string;
  /** Bearer scope needed; 'bearer' = a token, scope not described; absent = public. */
  scope?: Scope | 'bearer';
  query?: z.ZodObject;
  headers?: { name: string; description: string; required?: boolean }[];
  body?: z.ZodType;
  bodyContentType?: string;
  responses: Record<number, ResponseSpec>;
}

export const problemSchema = z
  .object({
    type: z.string().describe('URI of the problem type.'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string().describe('Dotted path of the offending field.'), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details; validation errors list each offending field path.' });

const anyObject = z.record(z.string(), z.unknown());
const list = (item: z.ZodType) => z.object({ items: z.array(item) });
const idParam = (what: string) => ({ description: `${what} id` });

export const ruleTestResultSchema = z
  .object({
    matched: z.boolean().describe('The rule applies to the service and event type and its conditions hold.'),
    conditionsMatched: z.boolean(),
    appliesTo: z.object({
      service: z.object({ id: z.string().nullable(), matches: z.boolean() }),
      eventType: z.object({ type: z.string().nullable(), matches: z.boolean() }),
    }),
    explanation: anyObject.describe('Tree of reasons mirroring the conditions.'),
    explanationText: z.string(),
    dryRun: z.boolean(),
    maintenanceWindow: anyObject.nullable(),
    context: z.object({ incident: anyObject, environment: anyObject }),
    renderedActions: z.array(anyObject).describe('The actions with their templates rendered; nothing is run.'),
  })
  .meta({ id: 'RuleTestResult' });

const ruleVersionSchema = z.object({ version: z.number().int(), change: z.enum(['create', 'update', 'delete', 'rollback']), actor: z.string(), createdAt: z.string(), definition: ruleInputSchema });
const ifMatch = { name: 'If-Match', description: 'The version being replaced, as an entity tag: "3".' };

const coreOperations: OperationSpec[] = [
  { method: 'get', path: '/healthz', tag: 'health', summary: 'Liveness', responses: { 200: { description: 'The process is up.', schema: z.object({ status: z.literal('ok') }) } } },
  {
    method: 'get',
    path: '/readyz',
    tag: 'health',
    summary: 'Readiness: Temporal and the database reachable',
    responses: { 200: { description: 'Ready.', schema: z.object({ status: z.literal('ready'), checks: anyObject }) }, 503: { description: 'Not ready.', schema: problemSchema } },
  },
  {
    method: 'post',
    path: '/webhooks/pagerduty',
    tag: 'webhooks',
    summary: 'PagerDuty V3 webhook',
    description: 'Signed with `X-PagerDuty-Signature: v1=<hex>` (several, comma-separated, during secret rotation). Starts or signals the incident workflow.',
    headers: [{ name: 'X-PagerDuty-Signature', description: 'v1=<hex HMAC-SHA256 of the raw body>', required: true }],
    body: webhookBodySchema,
    responses: {
      202: { description: 'Accepted (or ignored: not an incident event).' },
      200: { description: 'Duplicate event: already accepted.' },
      400: { description: 'Malformed body.', schema: problemSchema },
      401: { description: 'Bad or missing signature.', schema: problemSchema },
      413: { description: 'Body too large.', schema: problemSchema },
      503: { description: 'Temporal unavailable, or PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT deliveries already in flight (with Retry-After); PagerDuty retries.', schema: problemSchema },
    },
  },
  {
    method: 'get',
    path: '/api/incidents',
    tag: 'incidents',
    summary: 'List incidents',
    scope: 'read',
    query: incidentListQuerySchema,
    responses: { 200: { description: 'A page of incidents.', schema: z.object({ items: z.array(anyObject), nextCursor: z.string().nullable() }) } },
  },
  {
    method: 'get',
    path: '/api/incidents/{id}',
    tag: 'incidents',
    summary: 'One incident with events, environment, matches, action runs and its Temporal link',
    scope: 'read',
    responses: { 200: { description: 'The incident.', schema: anyObject }, 404: { description: 'Unknown incident.', schema: problemSchema } },
  },
];

const ruleOperations: OperationSpec[] = [
  { method: 'get', path: '/api/rules', tag: 'rules', summary: 'List rules', scope: 'read', query: ruleListQuerySchema, responses: { 200: { description: 'Rules.', schema: list(ruleViewSchema) } } },
  {
    method: 'post',
    path: '/api/rules',
    tag: 'rules',
    summary: 'Create a rule',
    scope: 'write',
    body: ruleInputSchema,
    responses: { 201: { description: 'Created.', schema: ruleViewSchema }, 409: { description: 'A rule with this name exists.', schema: problemSchema } },
  },
  {
    method: 'post',
    path: '/api/rules/validate',
    tag: 'rules',
    summary: 'Validate a rule without saving it',
    scope: 'read',
    body: ruleInputSchema,
    responses: { 200: { description: 'Valid; the rule with defaults applied.', schema: z.object({ valid: z.literal(true), rule: ruleInputSchema }) } },
  },
  {
    method: 'post',
    path: '/api/rules/test',
    tag: 'rules',
    summary: 'Test an unsaved rule against a payload (nothing runs)',
    scope: 'read',
    body: unsavedRuleTestSchema,
    responses: { 200: { description: 'Whether it matches, and why.', schema: ruleTestResultSchema } },
  },
  {
    method: 'get',
    path: '/api/rules/{id}',
    tag: 'rules',
    summary: 'One rule',
    scope: 'read',
    query: ruleGetQuerySchema,
    responses: { 200: { description: 'The rule; ETag is its version.', schema: ruleViewSchema }, 404: { description: 'Unknown or deleted.', schema: problemSchema } },
  },
  {
    method: 'put',
    path: '/api/rules/{id}',
    tag: 'rules',
    summary: 'Replace a rule (optimistic concurrency)',
    scope: 'write',
    headers: [ifMatch],
    body: ruleUpdateSchema,
    responses: {
      200: { description: 'The new version (unchanged when the body equals the current definition).', schema: ruleViewSchema },
      404: { description: 'Unknown or deleted.', schema: problemSchema },
      409: { description: 'Stale version (currentVersion tells the current one) or name taken.', schema: problemSchema },
      428: { description: 'Neither If-Match nor version was sent.', schema: problemSchema },
    },
  },
  {
    method: 'delete',
    path: '/api/rules/{id}',
    tag: 'rules',
    summary: 'Soft-delete a rule (history kept)',
    scope: 'write',
    headers: [ifMatch],
    responses: { 200: { description: 'The deleted rule.', schema: ruleViewSchema }, 404: { description: 'Unknown or deleted.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/api/rules/{id}/versions',
    tag: 'rules',
    summary: 'Version history',
    scope: 'read',
    responses: { 200: { description: 'Every version, oldest first.', schema: z.object({ ruleId: z.string(), currentVersion: z.number().int(), items: z.array(ruleVersionSchema) }) } },
  },
  {
    method: 'get',
    path: '/api/rules/{id}/diff',
    tag: 'rules',
    summary: 'Changed paths between two versions',
    scope: 'read',
    query: ruleDiffQuerySchema,
    responses: {
      200: {
        description: 'Changes.',
        schema: z.object({
          ruleId: z.string(),
          from: z.number().int(),
          to: z.number().int(),
          changes: z.array(z.object({ path: z.string(), kind: z.enum(['added', 'removed', 'changed']), before: z.unknown().optional(), after: z.unknown().optional() })),
        }),
      },
    },
  },
  {
    method: 'post',
    path: '/api/rules/{id}/rollback',
    tag: 'rules',
    summary: 'Make an old version current again (as a new version)',
    scope: 'write',
    headers: [ifMatch],
    body: ruleRollbackSchema,
    responses: { 200: { description: 'The new version.', schema: ruleViewSchema } },
  },
  {
    method: 'post',
    path: '/api/rules/{id}/reset-breaker',
    tag: 'rules',
    summary: 'Close an open circuit breaker',
    scope: 'write',
    responses: { 200: { description: 'The rule.', schema: ruleViewSchema } },
  },
  {
    method: 'post',
    path: '/api/rules/{id}/test',
    tag: 'rules',
    summary: 'Test a stored rule against a payload or a stored incident (nothing runs)',
    scope: 'read',
    body: ruleTestSchema,
    responses: { 200: { description: 'Whether it matches, and why.', schema: ruleTestResultSchema } },
  },
];

const backtestOperations: OperationSpec[] = [
  {
    method: 'post',
    path: '/api/rules/backtest',
    tag: 'rules',
    summary: 'Backtest a rule over the stored incident history (nothing runs)',
    description:
      'Replays the events of the window in the order they were received through extraction, matching and the policies as they would have evolved (rate limit, cooldown and per-target concurrency over simulated time, maintenance windows, circuit breaker fed by recorded outcomes, dry-run). With `ruleId` and `rule`, also diffs with the current version and with the decisions recorded at the time. Bounded: the window is counted first against an event cap, and the run stops at a time budget; either answers 400 with a window that fits. Paged with `nextCursor`.',
    scope: 'read',
    body: backtestRequestSchema,
    responses: {
      200: { description: 'The summary and one page of per-event results.', schema: backtestResponseSchema },
      400: { description: 'Invalid request, a window over the event cap or the time budget (with `suggestedSince`), or a window wholly before the retained history.', schema: problemSchema },
      404: { description: 'Unknown ruleId.', schema: problemSchema },
    },
  },
  {
    method: 'post',
    path: '/api/rules/{id}/backtest',
    tag: 'rules',
    summary: "Attach a backtest of the rule's current version to that version (stored, and in the audit log)",
    scope: 'write',
    body: attachBacktestSchema,
    responses: { 201: { description: 'The stored backtest.', schema: ruleBacktestViewSchema }, 404: { description: 'Unknown or deleted rule.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/api/rules/{id}/backtests',
    tag: 'rules',
    summary: "Backtests attached to the rule's versions, newest first",
    scope: 'read',
    responses: { 200: { description: 'Attached backtests.', schema: list(ruleBacktestViewSchema) }, 404: { description: 'Unknown rule.', schema: problemSchema } },
  },
];

const adminOperations: OperationSpec[] = [
  {
    method: 'post',
    path: '/api/tokens',
    tag: 'tokens',
    summary: 'Issue an API token (shown once)',
    scope: 'admin',
    body: tokenCreateSchema,
    responses: { 201: { description: 'The token, with its secret value shown only in this answer.', schema: tokenViewSchema.extend({ token: z.string() }) } },
  },
  { method: 'get', path: '/api/tokens', tag: 'tokens', summary: 'List tokens (never their values)', scope: 'admin', responses: { 200: { description: 'Tokens.', schema: list(tokenViewSchema) } } },
  {
    method: 'delete',
    path: '/api/tokens/{id}',
    tag: 'tokens',
    summary: 'Revoke a token',
    scope: 'admin',
    responses: { 200: { description: 'The revoked token.', schema: tokenViewSchema }, 404: { description: 'Unknown token.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/api/audit',
    tag: 'audit',
    summary: 'Audit log, newest first',
    scope: 'admin',
    query: auditQuerySchema,
    responses: { 200: { description: 'A page of entries.', schema: z.object({ items: z.array(auditEntrySchema), nextCursor: z.string().nullable() }) } },
  },
];

const environmentOperations: OperationSpec[] = [
  { method: 'get', path: '/api/environments', tag: 'environments', summary: 'List cloud environments', scope: 'read', responses: { 200: { description: 'Environments.', schema: list(anyObject) } } },
  {
    method: 'post',
    path: '/api/environments',
    tag: 'environments',
    summary: 'Register a cloud environment (agent task queue, management VM)',
    scope: 'write',
    body: environmentCreateSchema,
    responses: { 201: { description: 'Created.', schema: anyObject }, 409: { description: 'Name taken.', schema: problemSchema } },
  },
  { method: 'get', path: '/api/environments/{name}', tag: 'environments', summary: 'One environment with its agent status', scope: 'read', responses: { 200: { description: 'The environment.', schema: anyObject }, 404: { description: 'Unknown.', schema: problemSchema } } },
  { method: 'put', path: '/api/environments/{name}', tag: 'environments', summary: 'Replace an environment', scope: 'write', body: environmentUpdateSchema, responses: { 200: { description: 'Updated.', schema: anyObject }, 404: { description: 'Unknown.', schema: problemSchema } } },
  { method: 'delete', path: '/api/environments/{name}', tag: 'environments', summary: 'Delete an environment', scope: 'write', responses: { 200: { description: 'Deleted.' }, 404: { description: 'Unknown.', schema: problemSchema } } },
];

const jobOperations: OperationSpec[] = [
  { method: 'get', path: '/api/jobs', tag: 'jobs', summary: 'List scheduled jobs', scope: 'read', responses: { 200: { description: 'Jobs.', schema: list(anyObject) } } },
  { method: 'post', path: '/api/jobs', tag: 'jobs', summary: 'Create a scheduled job (a Temporal Schedule)', scope: 'write', body: jobDefinitionSchema, responses: { 201: { description: 'Created.', schema: anyObject }, 409: { description: 'Id or name taken.', schema: problemSchema } } },
  { method: 'get', path: '/api/jobs/{id}', tag: 'jobs', summary: 'One job with its schedule state', scope: 'read', responses: { 200: { description: 'The job.', schema: anyObject }, 404: { description: 'Unknown.', schema: problemSchema } } },
  { method: 'put', path: '/api/jobs/{id}', tag: 'jobs', summary: 'Replace a job', scope: 'write', body: jobDefinitionSchema, responses: { 200: { description: 'Updated.', schema: anyObject }, 404: { description: 'Unknown.', schema: problemSchema } } },
  { method: 'delete', path: '/api/jobs/{id}', tag: 'jobs', summary: 'Delete a job and its schedule', scope: 'write', responses: { 200: { description: 'Deleted.' }, 404: { description: 'Unknown.', schema: problemSchema } } },
  { method: 'post', path: '/api/jobs/{id}/trigger', tag: 'jobs', summary: 'Run a job now', scope: 'write', responses: { 202: { description: 'Triggered.' } } },
  { method: 'post', path: '/api/jobs/{id}/pause', tag: 'jobs', summary: 'Pause the schedule', scope: 'write', responses: { 200: { description: 'Paused.' } } },
  { method: 'post', path: '/api/jobs/{id}/resume', tag: 'jobs', summary: 'Resume the schedule', scope: 'write', responses: { 200: { description: 'Resumed.' } } },
  { method: 'get', path: '/api/jobs/{id}/runs', tag: 'jobs', summary: 'Runs of a job, newest first', scope: 'read', query: runsQuerySchema, responses: { 200: { description: 'Runs.', schema: list(anyObject) } } },
  {
    method: 'post',
    path: '/api/jobs/{id}/backfill',
    tag: 'jobs',
    summary: 'Run the schedule for a past time range',
    scope: 'write',
    body: backfillSchema,
    responses: { 202: { description: 'Backfill requested.' }, 400: { description: 'Invalid range.', schema: problemSchema } },
  },
];

const operatorOperations: OperationSpec[] = [
  {
    method: 'post',
    path: '/api/incidents/{id}/approvals/{actionRunId}',
    tag: 'incidents',
    summary: 'Approve or reject an action waiting at its approval gate',
    scope: 'write',
    body: approvalBodySchema,
    responses: {
      202: { description: 'The decision was recorded with the authenticated actor, and the waiting rule run told (`delivered: false` when it could not be reached: it reads the decision at its deadline).' },
      403: { description: 'The caller wrote the rule version that planned the action (or its author is not recorded): someone else must decide.', schema: problemSchema },
      404: { description: 'Unknown incident or action run.', schema: problemSchema },
      409: { description: 'Too late: the action run is no longer awaiting approval (decided, timed out, cancelled or done).', schema: problemSchema },
    },
  },
  {
    method: 'post',
    path: '/api/environments/{name}/check',
    tag: 'environments',
    summary: "Run the harmless health-check script through the environment's Doctor agent",
    scope: 'write',
    responses: { 200: { description: 'Whether the agent is polling and what health-check.sh printed.', schema: anyObject }, 404: { description: 'Unknown.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'operations',
    summary: 'Prometheus metrics (Authorization: Bearer <METRICS_TOKEN> when that is set)',
    responses: {
      200: { description: 'Prometheus text format.', contentType: 'text/plain' },
      401: { description: 'METRICS_TOKEN is set and the request does not carry it.', schema: problemSchema },
      429: { description: 'Too many failed authentications from this address; `Retry-After` says when to try again.', schema: problemSchema },
    },
  },
];

const docOperations: OperationSpec[] = [
  { method: 'get', path: '/openapi.json', tag: 'docs', summary: 'This OpenAPI document', responses: { 200: { description: 'OpenAPI 3.1.', schema: anyObject } } },
  { method: 'get', path: '/docs', tag: 'docs', summary: 'Interactive API explorer', responses: { 200: { description: 'HTML page.', contentType: 'text/html' } } },
];

const statsOperations: OperationSpec[] = [
  {
    method: 'get',
    path: '/api/stats',
    tag: 'stats',
    summary: 'Effectiveness of automation overall and per rule',
    scope: 'read',
    query: statsQuerySchema,
    responses: { 200: { description: 'The statistics.', schema: overallStatsSchema }, 400: { description: 'Bad range.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/api/rules/{id}/stats',
    tag: 'stats',
    summary: "A rule's effectiveness: runs, success and verified rates, who fixed the incidents, time to resolve with and without it",
    scope: 'read',
    query: statsQuerySchema,
    responses: { 200: { description: 'The statistics.', schema: ruleStatsSchema }, 400: { description: 'Bad range.', schema: problemSchema }, 404: { description: 'Unknown rule.', schema: problemSchema } },
  },
  {
    method: 'get',
    path: '/approvals/link',
    tag: 'incidents',
    summary: 'The confirmation page of an approve or reject link (decides nothing)',
    description: 'Needs the dashboard session or a bearer token with the write scope. HTML.',
    scope: 'write',
    query: approvalLinkSchema,
    responses: {
      200: { description: 'What the link decides, and a form to confirm it.', contentType: 'text/html' },
      401: { description: 'Not signed in.', contentType: 'text/html' },
      403: { description: "The rule version's author, or a link of another action.", contentType: 'text/html' },
      410: { description: 'The link was used or has expired.', contentType: 'text/html' },
    },
  },
  {
    method: 'post',
    path: '/approvals/link',
    tag: 'incidents',
    summary: 'Decide with an approve or reject link',
    description: "JSON `{action, token}` with a bearer token, or the confirmation page's form (`action`, `token`, `csrf`) with the dashboard session.",
    scope: 'write',
    body: approvalLinkSchema,
    responses: {
      202: { description: 'Decided.', schema: z.object({ actionRunId: z.string(), decision: z.enum(['approve', 'reject']), actor: z.string(), delivered: z.boolean() }) },
      401: { description: 'Not authenticated.', schema: problemSchema },
      403: { description: "The rule version's author, a link of another action, or a forged session request.", schema: problemSchema },
      404: { description: 'Not a link of this service.', schema: problemSchema },
      409: { description: 'The action no longer waits for a decision.', schema: problemSchema },
      410: { description: 'The link was used or has expired.', schema: problemSchema },
    },
  },
];

/** Every documented operation. Route groups added later append theirs here. */
export const apiOperations: OperationSpec[] = [
  ...coreOperations,
  ...ruleOperations,
  ...backtestOperations,
  ...adminOperations,
  ...environmentOperations,
  ...jobOperations,
  ...operatorOperations,
  ...docOperations,
  ...statsOperations,
];

// ---- generation -----------------------------------------------------------------------------------------

type JsonSchema = Record<string, unknown>;

const idOf = (schema: z.ZodType): string | undefined => (z.globalRegistry.get(schema) as { id?: string } | undefined)?.id;

function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [k, k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : rewriteRefs(v)]),
    );
  }
  return value;
}

/** Converts a schema, hoisting named sub-schemas into `components`; a named root becomes a $ref. */
function schemaConverter(components: Record<string, JsonSchema>) {
  return (schema: z.ZodType): JsonSchema => {
    const js = z.toJSONSchema(schema, { io: 'input', target: 'draft-2020-12', unrepresentable: 'any', cycles: 'ref', reused: 'inline' }) as JsonSchema;
    const { $schema: _s, $defs, id: _id, ...root } = js as JsonSchema & { $defs?: Record<string, JsonSchema> };
    for (const [name, def] of Object.entries($defs ?? {})) components[name] ??= rewriteRefs(def) as JsonSchema;
    const rewritten = rewriteRefs(root) as JsonSchema;
    const id = idOf(schema);
    if (!id) return rewritten;
    components[id] ??= rewritten;
    return { $ref: `#/components/schemas/${id}` };
  };
}

const isRequired = (schema: z.ZodType) => !schema.safeParse(undefined).success;

/**
 * Served routes (Hono `app.routes`: method + `/api/x/:id`) that no spec describes, as minimal operations,
 * so the document never silently omits an endpoint.
 */
export function undocumentedOperations(served: { method: string; path: string }[], operations: OperationSpec[] = apiOperations): OperationSpec[] {
  const known = new Set(operations.map((o) => `${o.method.toUpperCase()} ${o.path}`));
  const out: OperationSpec[] = [];
  for (const r of served) {
    const method = r.method.toLowerCase();
    if (!['get', 'post', 'put', 'delete', 'patch'].includes(method)) continue;
    const path = r.path.replace(/:(\w+)/g, '{$1}');
    const key = `${r.method.toUpperCase()} ${path}`;
    if (known.has(key)) continue;
    known.add(key);
    const tag = path.split('/').filter((x) => x && x !== 'api')[0] ?? 'other';
    out.push({ method: method as Method, path, tag, summary: `${r.method.toUpperCase()} ${path} (not yet described)`, ...(path.startsWith('/api/') ? { scope: 'bearer' as const } : {}), responses: { 200: { description: 'OK.' } } });
  }
  return out;
}

export function buildOpenApiDocument(operations: OperationSpec[] = apiOperations, info: { title?: string; version?: string; serverUrl?: string } = {}) {
  const components: Record<string, JsonSchema> = {};
  const convert = schemaConverter(components);
  const paths: Record<string, Record<string, unknown>> = {};
  convert(problemSchema);

  for (const op of operations) {
    const parameters: unknown[] = [];
    for (const name of op.path.match(/\{(\w+)\}/g) ?? []) {
      const n = name.slice(1, -1);
      parameters.push({ name: n, in: 'path', required: true, schema: { type: 'string' }, ...idParam(op.tag.replace(/s$/, '')) });
    }
    for (const [name, field] of Object.entries(op.query?.shape ?? {}) as [string, z.ZodType][]) {
      const schema = convert(field);
      const description = typeof schema.description === 'string' ? schema.description : undefined;
      parameters.push({ name, in: 'query', required: isRequired(field), schema, ...(description ? { description } : {}) });
    }
    for (const h of op.headers ?? []) parameters.push({ name: h.name, in: 'header', required: h.required ?? false, description: h.description, schema: { type: 'string' } });

    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      const contentType = r.contentType ?? (Number(status) >= 400 ? 'application/problem+json' : 'application/json');
      responses[status] = { description: r.description, ...(r.schema || r.contentType ? { content: { [contentType]: r.schema ? { schema: convert(r.schema) } : {} } } : {}) };
    }
    const problem = { content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } };
    if (op.body || op.query) responses['400'] ??= { description: 'Invalid request: `errors` lists each offending field path.', ...problem };
    if (op.scope) {
      responses['401'] ??= { description: 'Missing, invalid, expired or revoked bearer token.', ...problem };
      responses['403'] ??= { description: op.scope === 'bearer' ? 'The token lacks the scope.' : `The token lacks the "${op.scope}" scope.`, ...problem };
      responses['429'] ??= { description: 'Too many failed authentications from this address; `Retry-After` says when to try again.', ...problem };
    }

    const operation: Record<string, unknown> = {
      operationId: operationId(op),
      tags: [op.tag],
      summary: op.summary,
      ...(op.description ? { description: op.description } : {}),
      ...(parameters.length ? { parameters } : {}),
      ...(op.body ? { requestBody: { required: true, content: { [op.bodyContentType ?? 'application/json']: { schema: convert(op.body) } } } } : {}),
      responses,
      ...(op.scope === 'bearer' ? { security: [{ bearer: [] }] } : op.scope ? { security: [{ bearer: [op.scope] }], 'x-required-scope': op.scope } : { security: [] }),
    };
    (paths[op.path] ??= {})[op.method] = operation;
  }

  return {
    openapi: '3.1.0',
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    info: {
      title: info.title ?? 'Self-healing API',
      version: info.version ?? '0.1.0',
      description: 'Rules that remediate PagerDuty incidents, scheduled jobs, and the PagerDuty webhook. Errors are application/problem+json (RFC 9457).',
    },
    ...(info.serverUrl ? { servers: [{ url: info.serverUrl }] } : {}),
    tags: [...new Set(operations.map((o) => o.tag))].map((name) => ({ name })),
    paths,
    components: {
      schemas: Object.fromEntries(Object.entries(components).sort(([a], [b]) => a.localeCompare(b))),
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'SELFHEAL_ADMIN_TOKEN or a token from POST /api/tokens (scopes: read < write < admin).' } },
    },
  };
}

function operationId(op: OperationSpec): string {
  const words = op.path
    .split('/')
    .filter((s) => s && s !== 'api')
    .map((s) => (s.startsWith('{') ? 'by-' + s.slice(1, -1) : s))
    .join('-');
  return `${op.method}-${words || 'root'}`.replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ? ch.toUpperCase() : ''));
}
