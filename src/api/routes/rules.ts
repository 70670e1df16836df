// /api/rules: thin routes over the rule service (src/services/rules.ts), which owns validation against
// the secret policy, versioning, stale checks, audit and transactions.
import { ruleInputSchema } from '../../domain/rules/index.js';
import { argWarningsOf } from '../../domain/script-args.js';
import { ruleService } from '../../services/rules.js';
import type { AppDeps } from '../env.js';
import { badRequest } from '../problem.js';
import { actorOf, authOf, guard, json, jsonBody, newRouter, op, problemResponse } from '../router.js';
import { ifMatchHeader, pageOf, pathParams, textParam } from '../schemas/common.js';
import { LIST_PAGE_BYTES } from '../../services/list-pages.js';
import {
  argWarningsSchema,
  READ_ONLY_KEYS,
  ruleDiffQuerySchema,
  ruleDiffSchema,
  ruleGetQuerySchema,
  ruleListQuerySchema,
  ruleRollbackSchema,
  ruleTestResultSchema,
  ruleTestSchema,
  ruleUpdateSchema,
  ruleSavedSchema,
  ruleVersionsSchema,
  ruleView,
  ruleViewSchema,
  unsavedRuleTestSchema,
} from '../schemas/rules.js';
import { z } from '../../domain/zod.js';

/** `"3"`, `W/"3"` or `3` → 3. */
export function parseIfMatch(header: string | undefined): number | undefined {
  if (header === undefined) return undefined;
  const m = /^\s*(?:W\/)?"?(\d+)"?\s*$/.exec(header);
  if (!m) throw badRequest('If-Match must be the rule version as an entity tag, e.g. "3"', [{ path: 'If-Match', message: 'not a version' }]);
  return Number(m[1]);
}

const idParam = pathParams(['id', 'rule id']);
const tags = ['rules'];
const unknownRule = { 404: problemResponse('Unknown or deleted.') };
const versionsQuery = z.object({
  limit: z.coerce.number().int().min(1).max(100).default(50).describe('Versions on the page (1 to 100).'),
  cursor: textParam(20).optional().describe('nextCursor of the previous page.'),
});

/** A saved rule as POST, PUT and rollback answer it: the view, with the hints POST /api/rules/validate gives. */
function saved(row: Parameters<typeof ruleView>[0]) {
  const view = ruleView(row);
  return { ...view, warnings: argWarningsOf(view) };
}

export function ruleRoutes(deps: AppDeps) {
  const app = newRouter();
  const rules = ruleService({ db: deps.db, secrets: deps.config.secretRefs, emailAllow: deps.config.emailAllow, webhookAllow: deps.config.webhookAllow, githubReposAllow: deps.config.github.reposAllow, extractors: deps.extractors });
  const auth = authOf(deps);
  const read = guard(auth, 'read');
  const readRule = guard(auth, 'read', { body: true, invalidBody: 'the rule is not valid' });
  const readRequest = guard(auth, 'read', { body: true, invalidBody: 'the request is not valid' });
  const write = guard(auth, 'write');
  const writeRule = guard(auth, 'write', { body: true, invalidBody: 'the rule is not valid' });
  const writeRequest = guard(auth, 'write', { body: true, invalidBody: 'the request is not valid' });

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/rules',
      tags,
      summary: 'List rules, by name, paged by cursor',
      description: `A page holds \`limit\` rules at most, and no more than ${LIST_PAGE_BYTES / (1024 * 1024)} MiB of definitions (one rule at least): follow \`nextCursor\` until it is null. The filters apply to every page.`,
      request: { query: ruleListQuerySchema },
      responses: { 200: json('A page of rules.', pageOf(ruleViewSchema)) },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const { rows, nextCursor } = await rules.list(actorOf(c), { enabled: q.enabled, service: q.service, includeDeleted: q.includeDeleted }, { limit: q.limit, cursor: q.cursor });
      return c.json({ items: rows.map(ruleView), nextCursor }, 200);
    },
  );

  app.openapi(
    op(readRule, {
      method: 'post',
      path: '/api/rules/validate',
      tags,
      summary: 'Validate a rule without saving it',
      request: { body: jsonBody(ruleInputSchema) },
      responses: {
        200: json(
          'Valid; the rule with defaults applied, and hints about what a run may still refuse (the rule saves with them).',
          z.object({
            valid: z.literal(true),
            rule: ruleInputSchema,
            warnings: argWarningsSchema,
          }),
        ),
      },
    }),
    (c) => {
      const rule = rules.validate(c.req.valid('json'));
      return c.json({ valid: true as const, rule, warnings: argWarningsOf(rule) }, 200);
    },
  );

  app.openapi(
    op(readRequest, {
      method: 'post',
      path: '/api/rules/test',
      tags,
      summary: 'Test an unsaved rule against a payload (nothing runs)',
      request: { body: jsonBody(unsavedRuleTestSchema) },
      responses: { 200: json('Whether it matches, and why.', ruleTestResultSchema) },
    }),
    async (c) => {
      const { rule, ...input } = c.req.valid('json');
      return c.json(await rules.testUnsaved(rule, input), 200);
    },
  );

  app.openapi(
    op(writeRule, {
      method: 'post',
      path: '/api/rules',
      tags,
      summary: 'Create a rule',
      request: { body: jsonBody(ruleInputSchema) },
      responses: { 201: json('Created; warnings as POST /api/rules/validate gives them.', ruleSavedSchema), 409: problemResponse('A rule with this name exists.') },
    }),
    async (c) => {
      const row = await rules.create(actorOf(c), c.req.valid('json'));
      c.get('logger').info({ ruleId: row.id, name: row.name, actor: c.get('actor') }, 'rule created');
      c.header('ETag', `"${row.version}"`);
      c.header('Location', `/api/rules/${row.id}`);
      return c.json(saved(row), 201);
    },
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/rules/{id}',
      tags,
      summary: 'One rule',
      request: { params: idParam, query: ruleGetQuerySchema },
      responses: { 200: json('The rule; ETag is its version.', ruleViewSchema), ...unknownRule },
    }),
    async (c) => {
      const row = await rules.get(actorOf(c), c.req.param('id'), { includeDeleted: c.req.valid('query').includeDeleted });
      c.header('ETag', `"${row.version}"`);
      return c.json(ruleView(row), 200);
    },
  );

  app.openapi(
    op(writeRule, {
      method: 'put',
      path: '/api/rules/{id}',
      tags,
      summary: 'Replace a rule (optimistic concurrency)',
      request: { params: idParam, headers: ifMatchHeader, body: jsonBody(ruleUpdateSchema) },
      responses: {
        200: json('The new version (unchanged when the body equals the current definition); warnings as POST /api/rules/validate gives them.', ruleSavedSchema),
        ...unknownRule,
        409: problemResponse('Stale version (currentVersion tells the current one) or name taken.'),
        428: problemResponse('Neither If-Match nor version was sent.'),
      },
    }),
    async (c) => {
      const body: Record<string, unknown> = { ...c.req.valid('json') };
      const bodyVersion = body.version as number | undefined;
      for (const key of READ_ONLY_KEYS) delete body[key];
      const expected = parseIfMatch(c.req.header('if-match')) ?? bodyVersion;
      const row = await rules.update(actorOf(c), c.req.param('id'), body, expected);
      c.header('ETag', `"${row.version}"`);
      return c.json(saved(row), 200);
    },
  );

  app.openapi(
    op(write, {
      method: 'delete',
      path: '/api/rules/{id}',
      tags,
      summary: 'Soft-delete a rule (history kept)',
      request: { params: idParam, headers: ifMatchHeader },
      responses: { 200: json('The deleted rule.', ruleViewSchema), ...unknownRule },
    }),
    async (c) => c.json(ruleView(await rules.remove(actorOf(c), c.req.param('id'), parseIfMatch(c.req.header('if-match')))), 200),
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/rules/{id}/versions',
      tags,
      summary: 'Version history, oldest first, paged by cursor',
      description: 'A page holds `limit` versions at most, and no more than 8 MiB of definitions (one version at least): follow `nextCursor` until it is null.',
      request: { params: idParam, query: versionsQuery },
      responses: { 200: json('A page of versions, oldest first.', ruleVersionsSchema), ...unknownRule },
    }),
    async (c) => {
      const id = c.req.param('id');
      const { rule, versions, nextCursor } = await rules.versions(actorOf(c), id, c.req.valid('query'));
      const items = versions.map((v) => ({ version: v.version, change: v.change, actor: v.actor, createdAt: v.created_at, definition: v.definition }));
      return c.json({ ruleId: id, currentVersion: rule.version, items, nextCursor }, 200);
    },
  );

  app.openapi(
    op(read, {
      method: 'get',
      path: '/api/rules/{id}/diff',
      tags,
      summary: 'Changed paths between two versions',
      request: { params: idParam, query: ruleDiffQuerySchema },
      responses: { 200: json('Changes.', ruleDiffSchema), 404: problemResponse('Unknown rule or version.') },
    }),
    async (c) => {
      const q = c.req.valid('query');
      const id = c.req.param('id');
      return c.json({ ruleId: id, ...(await rules.diff(actorOf(c), id, q.from, q.to)) }, 200);
    },
  );

  app.openapi(
    op(writeRequest, {
      method: 'post',
      path: '/api/rules/{id}/rollback',
      tags,
      summary: 'Make an old version current again (as a new version)',
      request: { params: idParam, headers: ifMatchHeader, body: jsonBody(ruleRollbackSchema) },
      responses: { 200: json('The new version; warnings as POST /api/rules/validate gives them.', ruleSavedSchema), ...unknownRule },
    }),
    async (c) => {
      const row = await rules.rollback(actorOf(c), c.req.param('id'), c.req.valid('json').version, parseIfMatch(c.req.header('if-match')));
      c.header('ETag', `"${row.version}"`);
      return c.json(saved(row), 200);
    },
  );

  app.openapi(
    op(write, { method: 'post', path: '/api/rules/{id}/reset-breaker', tags, summary: 'Close an open circuit breaker', request: { params: idParam }, responses: { 200: json('The rule.', ruleViewSchema), ...unknownRule } }),
    async (c) => c.json(ruleView(await rules.resetBreaker(actorOf(c), c.req.param('id'))), 200),
  );

  app.openapi(
    op(readRequest, {
      method: 'post',
      path: '/api/rules/{id}/test',
      tags,
      summary: 'Test a stored rule against a payload or a stored incident (nothing runs)',
      request: { params: idParam, body: jsonBody(ruleTestSchema) },
      responses: { 200: json('Whether it matches, and why.', ruleTestResultSchema), ...unknownRule },
    }),
    async (c) => c.json(await rules.testStored(actorOf(c), c.req.param('id'), c.req.valid('json')), 200),
  );

  return app;
}
