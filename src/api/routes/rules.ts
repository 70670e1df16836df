import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { Kysely } from 'kysely';
import { z } from 'zod';
import type { Database, Incident, RuleRow } from '../../db/database.js';
import { writeAudit } from '../../db/queries/audit.js';
import { findIncident } from '../../db/repositories/incidents.js';
import { findLiveRuleByName, findRule, findRuleVersion, insertRule, listRules, listRuleVersions, resetBreaker, writeRuleVersion } from '../../db/queries/rules.js';
import { canonicalJson, diffJson, isPlainObject } from '../../domain/json-diff.js';
import { secretRefOutsidePolicy, type SecretRefPolicy } from '../../domain/secret-refs.js';
import { commandActionPaths, parseRuleInput, ruleInputSchema, ruleIssues, ruleSecretRefs, type Rule, type RuleInput } from '../../domain/rules/index.js';
import { PayloadError, testRuleWithIncident, testRuleWithPayload, type RuleTestResult } from '../../domain/rules/test-rule.js';
import type { AppDeps, AppEnv } from '../app.js';
import { hasScope, requireScope } from '../auth.js';
import { readJsonBody } from '../body.js';
import { badRequest, conflict, issuesToErrors, notFound, ProblemError } from '../problem.js';

// ---- request schemas (they also generate the OpenAPI document) ---------------------------------------

const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export const ruleListQuerySchema = z.object({
  enabled: booleanQuery.optional().describe('Only enabled (true) or disabled (false) rules.'),
  service: z.string().min(1).max(64).optional().describe('Rules applying to this PagerDuty service id (including rules for every service).'),
  includeDeleted: booleanQuery.optional().describe('Include soft-deleted rules.'),
});

export const ruleGetQuerySchema = z.object({
  includeDeleted: booleanQuery.optional().describe('Answer soft-deleted rules too.'),
});

/** Fields a client may echo back from GET on PUT; they are accepted and ignored (version = If-Match). */
const READ_ONLY_KEYS = ['id', 'version', 'createdAt', 'updatedAt', 'deletedAt', 'breaker'] as const;

export const ruleUpdateSchema = ruleInputSchema
  .extend({
    id: z.string().optional().describe('Ignored (the id is in the path).'),
    version: z.number().int().min(1).optional().describe('Version being replaced (optimistic concurrency), unless If-Match is sent.'),
    createdAt: z.string().optional().describe('Ignored.'),
    updatedAt: z.string().optional().describe('Ignored.'),
    deletedAt: z.string().nullable().optional().describe('Ignored.'),
    breaker: z.unknown().optional().describe('Ignored.'),
  })
  .meta({ id: 'RuleUpdate', description: 'A full replacement of a rule; read-only fields returned by GET may be echoed back.' });

export const ruleDiffQuerySchema = z.object({
  from: z.coerce.number().int().min(1).describe('Older version.'),
  to: z.coerce.number().int().min(1).optional().describe('Newer version (default: the current one).'),
});

export const ruleRollbackSchema = z
  .strictObject({ version: z.number().int().min(1).describe('Version whose definition becomes the new current version.') })
  .meta({ id: 'RuleRollback' });

const testInputShape = {
  payload: z
    .unknown()
    .optional()
    .describe('A PagerDuty V3 webhook body ({event: {...}}) or its event object. Exactly one of payload or incidentId.'),
  incidentId: z.string().min(1).max(64).optional().describe('A stored incident (its latest event gives the event type).'),
  alerts: z.array(z.unknown()).max(100).optional().describe('PagerDuty alerts of the incident (GET /incidents/{id}/alerts → alerts).'),
  environment: z.record(z.string(), z.unknown()).optional().describe('Environment fields overriding the extracted ones (host, environment, region, ...).'),
  eventType: z.string().min(1).max(100).optional().describe('Event type to evaluate as (default: the payload or latest stored event type).'),
  now: z.iso.datetime({ offset: true }).optional().describe('Evaluation time (time windows, relative times); default now.'),
};

function exactlyOneSource(v: { payload?: unknown; incidentId?: string | undefined }, ctx: z.RefinementCtx): void {
  if ((v.payload === undefined) === (v.incidentId === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['payload'], message: 'exactly one of payload or incidentId is required' });
  }
}

export const ruleTestSchema = z.strictObject(testInputShape).superRefine(exactlyOneSource).meta({ id: 'RuleTestRequest' });

export const unsavedRuleTestSchema = z
  .strictObject({ rule: ruleInputSchema, ...testInputShape })
  .superRefine(exactlyOneSource)
  .meta({ id: 'UnsavedRuleTestRequest' });

// ---- views -------------------------------------------------------------------------------------------

export function ruleView(row: RuleRow) {
  const definition = row.definition as RuleInput;
  return {
    id: row.id,
    version: row.version,
    ...definition,
    enabled: row.enabled,
    breaker: { state: row.breaker_state, consecutiveFailures: row.consecutive_failures, openedAt: row.breaker_opened_at },
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    deletedAt: row.deleted_at,
  };
}

const auditState = (row: RuleRow) => ({ version: row.version, deleted: row.deleted_at !== null, definition: row.definition });

export const ruleViewSchema = ruleInputSchema
  .extend({
    id: z.string(),
    version: z.number().int(),
    breaker: z.object({ state: z.enum(['closed', 'open']), consecutiveFailures: z.number().int(), openedAt: z.string().nullable() }),
    createdAt: z.string(),
    updatedAt: z.string(),
    deletedAt: z.string().nullable(),
  })
  .meta({ id: 'RuleView', description: 'A stored rule with defaults applied, its version and circuit-breaker state.' });

// ---- helpers ---------------------------------------------------------------------------------------------

const jsonBody = (c: Context<AppEnv>): Promise<unknown> => readJsonBody(c);

function parseQuery<T extends z.ZodType>(schema: T, query: Record<string, string>): z.output<T> {
  const q = schema.safeParse(query);
  if (!q.success) throw badRequest('invalid query parameters', issuesToErrors(q.error.issues));
  return q.data;
}

function parseWith<T extends z.ZodType>(schema: T, body: unknown, what: string): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw badRequest(`${what} is not valid`, ruleIssues(r.error, body).map((i) => ({ path: i.path || '(body)', message: i.message })));
  return r.data;
}

function validRule(body: unknown, secrets: SecretRefPolicy): RuleInput {
  const parsed = parseRuleInput(body);
  if (!parsed.ok) throw badRequest('the rule is not valid', parsed.issues.map((i) => ({ path: i.path || '(body)', message: i.message })));
  const outside = secretRefIssues(parsed.value, secrets);
  if (outside.length > 0) throw badRequest('the rule is not valid', outside);
  return parsed.value;
}

/** Secret references of a rule that the operator's policy does not allow (SECRET_REF_ENV_PREFIXES, SECRET_REF_DIRS). */
export function secretRefIssues(rule: RuleInput, secrets: SecretRefPolicy): { path: string; message: string }[] {
  return ruleSecretRefs(rule).flatMap(({ path, ref }) => {
    const reason = secretRefOutsidePolicy(ref, secrets);
    return reason ? [{ path, message: reason }] : [];
  });
}

/**
 * Arbitrary shell (`script.ssh` with `command`) is an admin capability: a rule holding one can be
 * created, replaced or rolled back to only with an admin token (403 naming each such action otherwise).
 */
function requireAdminForCommands(c: Context<AppEnv>, rule: RuleInput, verb: string): void {
  const paths = commandActionPaths(rule);
  if (paths.length === 0 || hasScope(c.get('scopes'), 'admin')) return;
  throw new ProblemError(403, 'Forbidden', `${verb} a rule with a shell command (script.ssh "command") needs the "admin" scope`, {
    errors: paths.map((path) => ({ path, message: 'arbitrary shell on a management VM: only an admin token may save it; use a script from the allow-listed scripts directory instead' })),
  });
}

/** `"3"`, `W/"3"` or `3` → 3. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header);
  if (!m) throw badRequest('If-Match must be the rule version as an entity tag, e.g. "3"', [{ path: 'If-Match', message: 'not a version' }]);
  return Number(m[1]);
}

const isUniqueViolation = (err: unknown) => (err as { code?: string } | null)?.code === '23505';

async function nameTaken(db: Kysely<Database>, name: string, exceptId?: string): Promise<void> {
  const other = await findLiveRuleByName(db, name);
  if (other && other.id !== exceptId) throw conflict(`a rule named "${name}" already exists`, { ruleId: other.id, errors: [{ path: 'name', message: 'already used by another rule' }] });
}

function staleCheck(row: RuleRow, expected: number | undefined): void {
  if (expected === undefined) {
    throw new ProblemError(428, 'Precondition Required', `send If-Match: "${row.version}" (or "version" in the body) to replace this rule`, {
      currentVersion: row.version,
    });
  }
  if (expected !== row.version) {
    throw conflict(`the rule is at version ${row.version}, not ${expected}; fetch it again and reapply your change`, { currentVersion: row.version });
  }
}

const storedRule = (row: RuleRow): Rule => ({ ...(row.definition as RuleInput), id: row.id, version: row.version }) as Rule;

// ---- routes ----------------------------------------------------------------------------------------------

export function ruleRoutes(deps: AppDeps) {
  const app = new Hono<AppEnv>();
  const auth = { db: deps.db, adminToken: deps.config.adminToken, authLimit: deps.config.authLimit };
  const secrets = deps.config.secretRefs;
  const read = requireScope(auth, 'read');
  const write = requireScope(auth, 'write');
  const db = deps.db;

  /** Runs `fn` in one transaction; a concurrent insert of the same name becomes a 409. */
  async function inTransaction<T>(fn: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    try {
      return await db.transaction().execute(fn);
    } catch (err) {
      if (isUniqueViolation(err)) throw conflict('a rule with this name already exists', { errors: [{ path: 'name', message: 'already used by another rule' }] });
      throw err;
    }
  }

  app.get('/api/rules', read, async (c) => {
    const q = parseQuery(ruleListQuerySchema, c.req.query());
    const rows = await listRules(db, { enabled: q.enabled, service: q.service, includeDeleted: q.includeDeleted });
    return c.json({ items: rows.map(ruleView) });
  });

  app.post('/api/rules/validate', read, async (c) => {
    const rule = validRule(await jsonBody(c), secrets);
    return c.json({ valid: true, rule });
  });

  app.post('/api/rules/test', read, async (c) => {
    const body = await jsonBody(c);
    const input = parseWith(unsavedRuleTestSchema, body, 'the request');
    const rule = { ...input.rule, id: 'unsaved', version: 0 } as Rule;
    return c.json(await runTest(rule, input));
  });

  app.post('/api/rules', write, async (c) => {
    const definition = validRule(await jsonBody(c), secrets);
    requireAdminForCommands(c, definition, 'creating');
    const actor = c.get('actor')!;
    const row = await inTransaction(async (trx) => {
      await nameTaken(trx, definition.name);
      const created = await insertRule(trx, { id: randomUUID(), name: definition.name, definition, enabled: definition.enabled, actor, change: 'create', at: new Date() });
      await writeAudit(trx, { actor, action: 'rule.create', entityType: 'rule', entityId: created.id, after: auditState(created) });
      return created;
    });
    c.get('logger').info({ ruleId: row.id, name: row.name, actor }, 'rule created');
    c.header('ETag', `"${row.version}"`);
    c.header('Location', `/api/rules/${row.id}`);
    return c.json(ruleView(row), 201);
  });

  app.get('/api/rules/:id', read, async (c) => {
    const q = parseQuery(ruleGetQuerySchema, c.req.query());
    const row = await findRule(db, c.req.param('id'), { includeDeleted: q.includeDeleted });
    if (!row) throw notFound(`rule ${c.req.param('id')} is not known`);
    c.header('ETag', `"${row.version}"`);
    return c.json(ruleView(row));
  });

  app.put('/api/rules/:id', write, async (c) => {
    const id = c.req.param('id');
    const body = await jsonBody(c);
    const parsed = parseWith(ruleUpdateSchema, body, 'the rule');
    const bodyVersion = parsed.version;
    const definition = validRule(stripReadOnly(body), secrets);
    requireAdminForCommands(c, definition, 'saving');
    const expected = parseIfMatch(c.req.header('if-match')) ?? bodyVersion;
    const actor = c.get('actor')!;
    const row = await inTransaction(async (trx) => {
      const current = await findRule(trx, id, { forUpdate: true });
      if (!current) throw notFound(`rule ${id} is not known`);
      staleCheck(current, expected);
      if (canonicalJson(current.definition) === canonicalJson(definition)) return current;
      if (definition.name !== current.name) await nameTaken(trx, definition.name, id);
      const next = await writeRuleVersion(trx, current, { name: definition.name, definition, enabled: definition.enabled, change: 'update', actor, at: new Date() });
      await writeAudit(trx, { actor, action: 'rule.update', entityType: 'rule', entityId: id, before: auditState(current), after: auditState(next) });
      return next;
    });
    c.header('ETag', `"${row.version}"`);
    return c.json(ruleView(row));
  });

  app.delete('/api/rules/:id', write, async (c) => {
    const id = c.req.param('id');
    const expected = parseIfMatch(c.req.header('if-match'));
    const actor = c.get('actor')!;
    const row = await inTransaction(async (trx) => {
      const current = await findRule(trx, id, { forUpdate: true });
      if (!current) throw notFound(`rule ${id} is not known`);
      if (expected !== undefined) staleCheck(current, expected);
      const at = new Date();
      const next = await writeRuleVersion(trx, current, {
        name: current.name,
        definition: current.definition,
        enabled: current.enabled,
        change: 'delete',
        actor,
        at,
        deletedAt: at,
      });
      await writeAudit(trx, { actor, action: 'rule.delete', entityType: 'rule', entityId: id, before: auditState(current), after: auditState(next) });
      return next;
    });
    return c.json(ruleView(row));
  });

  app.get('/api/rules/:id/versions', read, async (c) => {
    const id = c.req.param('id');
    const rule = await findRule(db, id, { includeDeleted: true });
    if (!rule) throw notFound(`rule ${id} is not known`);
    const versions = await listRuleVersions(db, id);
    return c.json({
      ruleId: id,
      currentVersion: rule.version,
      items: versions.map((v) => ({ version: v.version, change: v.change, actor: v.actor, createdAt: v.created_at, definition: v.definition })),
    });
  });

  app.get('/api/rules/:id/diff', read, async (c) => {
    const id = c.req.param('id');
    const q = parseQuery(ruleDiffQuerySchema, c.req.query());
    const rule = await findRule(db, id, { includeDeleted: true });
    if (!rule) throw notFound(`rule ${id} is not known`);
    const to = q.to ?? rule.version;
    const [a, b] = await Promise.all([findRuleVersion(db, id, q.from), findRuleVersion(db, id, to)]);
    const missing = [!a && { path: 'from', message: `version ${q.from} does not exist` }, !b && { path: 'to', message: `version ${to} does not exist` }].filter(
      (e): e is { path: string; message: string } => Boolean(e),
    );
    if (missing.length > 0 || !a || !b) throw notFound(`rule ${id}: ${missing.map((m) => m.message).join('; ')}`);
    return c.json({ ruleId: id, from: q.from, to, changes: diffJson(a.definition, b.definition) });
  });

  app.post('/api/rules/:id/rollback', write, async (c) => {
    const id = c.req.param('id');
    const input = parseWith(ruleRollbackSchema, await jsonBody(c), 'the request');
    const expected = parseIfMatch(c.req.header('if-match'));
    const actor = c.get('actor')!;
    const row = await inTransaction(async (trx) => {
      const current = await findRule(trx, id, { forUpdate: true });
      if (!current) throw notFound(`rule ${id} is not known`);
      if (expected !== undefined) staleCheck(current, expected);
      const old = await findRuleVersion(trx, id, input.version);
      if (!old) throw notFound(`rule ${id} has no version ${input.version}`);
      const reparsed = parseRuleInput(old.definition);
      if (!reparsed.ok) {
        throw conflict(`version ${input.version} is no longer a valid rule`, { errors: reparsed.issues.map((i) => ({ path: i.path || '(body)', message: i.message })) });
      }
      const definition = reparsed.value;
      const outside = secretRefIssues(definition, secrets);
      if (outside.length > 0) throw conflict(`version ${input.version} names secrets outside the allowed prefixes or directories`, { errors: outside });
      requireAdminForCommands(c, definition, 'rolling back to');
      if (definition.name !== current.name) await nameTaken(trx, definition.name, id);
      const next = await writeRuleVersion(trx, current, { name: definition.name, definition, enabled: definition.enabled, change: 'rollback', actor, at: new Date() });
      await writeAudit(trx, {
        actor,
        action: 'rule.rollback',
        entityType: 'rule',
        entityId: id,
        before: auditState(current),
        after: { ...auditState(next), rolledBackTo: input.version },
      });
      return next;
    });
    c.header('ETag', `"${row.version}"`);
    return c.json(ruleView(row));
  });

  app.post('/api/rules/:id/reset-breaker', write, async (c) => {
    const id = c.req.param('id');
    const actor = c.get('actor')!;
    const row = await db.transaction().execute(async (trx) => {
      const current = await findRule(trx, id, { forUpdate: true });
      if (!current) throw notFound(`rule ${id} is not known`);
      const next = await resetBreaker(trx, id, new Date());
      if (!next) throw notFound(`rule ${id} is not known`);
      const breaker = (r: RuleRow) => ({ state: r.breaker_state, consecutiveFailures: r.consecutive_failures, openedAt: r.breaker_opened_at });
      await writeAudit(trx, { actor, action: 'rule.reset-breaker', entityType: 'rule', entityId: id, before: breaker(current), after: breaker(next) });
      return next;
    });
    return c.json(ruleView(row));
  });

  app.post('/api/rules/:id/test', read, async (c) => {
    const id = c.req.param('id');
    const input = parseWith(ruleTestSchema, await jsonBody(c), 'the request');
    const row = await findRule(db, id);
    if (!row) throw notFound(`rule ${id} is not known`);
    return c.json(await runTest(storedRule(row), input));
  });

  async function runTest(rule: Rule, input: z.output<typeof ruleTestSchema>): Promise<RuleTestResult> {
    const now = input.now ? new Date(input.now) : new Date();
    if (input.payload !== undefined) {
      try {
        return testRuleWithPayload(rule, { payload: input.payload, alerts: input.alerts, environment: input.environment, eventType: input.eventType, now, extractors: deps.extractors });
      } catch (err) {
        throw err instanceof PayloadError ? badRequest(err.message, err.errors) : err;
      }
    }
    const incident = await findIncident(db, input.incidentId!);
    if (!incident) throw notFound(`incident ${input.incidentId} is not known`);
    const latest = await db
      .selectFrom('incident_events')
      .select(['event_type', 'payload'])
      .where('incident_id', '=', incident.id)
      .orderBy('occurred_at', 'desc')
      .orderBy('id', 'desc')
      .executeTakeFirst();
    const event = (latest?.payload as { event?: Record<string, unknown> } | undefined)?.event ?? {};
    const stored: Incident = {
      ...incident,
      alerts: input.alerts ?? incident.alerts,
      environment: { ...incident.environment, ...(input.environment ?? {}) },
    };
    return testRuleWithIncident(rule, stored, event, input.eventType ?? latest?.event_type ?? 'incident.triggered', now);
  }

  return app;
}

function stripReadOnly(body: unknown): unknown {
  if (!isPlainObject(body)) return body;
  const out: Record<string, unknown> = { ...body };
  for (const key of READ_ONLY_KEYS) delete out[key];
  return out;
}
