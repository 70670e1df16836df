import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Client } from '@temporalio/client';
import { z } from '../../src/domain/zod.js';
import { createApp } from '../../src/api/app.js';
import { json, newRouter, op, open } from '../../src/api/router.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN, diskRule, routeHarness } from './rules.test.js';

/**
 * The README's HTTP table: cells naming a method and a path (`GET /api/incidents/{id}` → [GET, /api/incidents/{id}])
 * and cells naming a family of routes (`/api/rules…`, `/api/tokens` → /api/rules, /api/tokens).
 */
function readmeRoutes(): { routes: [string, string][]; families: string[] } {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### The HTTP interface');
  assert.ok(start >= 0, 'README has a section "### The HTTP interface"');
  const table = readme.slice(start, readme.indexOf('\n\n', readme.indexOf('| method and path |', start)));
  const routes: [string, string][] = [];
  const families: string[] = [];
  for (const cell of table.matchAll(/`(?:(GET|POST|PUT|PATCH|DELETE) )?(\/[^`…\s]*)…?`/g)) {
    if (cell[1]) routes.push([cell[1], cell[2]!]);
    else families.push(cell[2]!);
  }
  return { routes, families };
}

describe('OpenAPI document and /docs', function () {
  let db: TestDatabase;
  let h: Awaited<ReturnType<typeof routeHarness>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  let doc: any;

  before(async function () {
    db = await createTestDatabase();
    h = await routeHarness(db);
    const res = await h.app.request('/openapi.json');
    assert.equal(res.status, 200, await res.clone().text());
    doc = await res.json();
  });
  after(async () => db?.close());

  it('is OpenAPI 3.1 and documents every route the README table names', () => {
    assert.equal(doc.openapi, '3.1.0');
    const served = new Set(h.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const { routes, families } = readmeRoutes();
    assert.ok(routes.length >= 7 && families.length >= 5, `the README table was read: ${routes.length} routes, ${families.length} families`);
    for (const [method, path] of routes) {
      assert.ok(served.has(`${method} ${path.replace(/\{(\w+)\}/g, ':$1')}`), `the README names ${method} ${path}, which the app does not serve`);
      // The document and its explorer are not operations of the API they describe.
      if (path === '/openapi.json' || path === '/docs') continue;
      assert.ok(doc.paths[path]?.[method.toLowerCase()], `${method} ${path} is in the README but not documented`);
    }
    for (const family of families) {
      const documented = Object.keys(doc.paths).filter((p) => p === family || p.startsWith(`${family}/`));
      assert.ok(documented.length > 0, `the README names ${family}…, which has no documented route`);
    }
  });

  it('is generated from the routers: every route the app serves is in it, and nothing else', () => {
    const served = new Set(h.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method.toLowerCase()} ${r.path.replace(/:(\w+)/g, '{$1}')}`));
    const documented = new Set(Object.entries(doc.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m} ${path}`)));
    assert.ok(served.size >= 50, `the app serves ${served.size} routes`);
    assert.deepEqual([...served].filter((r) => !documented.has(r)), [], 'served but not documented');
    assert.deepEqual([...documented].filter((r) => !served.has(r)), [], 'documented but not served');
    for (const [path, ops] of Object.entries(doc.paths as Record<string, Record<string, { summary?: string; responses?: object }>>)) {
      for (const [method, o] of Object.entries(ops)) assert.ok(o.summary && o.responses, `${method} ${path} has a summary and responses`);
    }
  });

  it('documents a route group added to the app without anything else to write', async () => {
    const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const extra = () => {
      const r = newRouter();
      r.openapi(op(open(), { method: 'get', path: '/api/extra/{id}', tags: ['extra'], summary: 'A group the document was never told about', request: { params: z.object({ id: z.string() }) }, responses: { 200: json('It.', z.object({ id: z.string() })) } }), (c) => c.json({ id: c.req.param('id') }, 200));
      return r;
    };
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, [...allRoutes, extra]);
    const served = (await (await app.request('/api/extra/7')).json()) as { id: string };
    assert.equal(served.id, '7');
    const extended = (await (await app.request('/openapi.json')).json()) as typeof doc;
    assert.deepEqual(extended.paths['/api/extra/{id}'].get.parameters.map((p: { name: string; in: string }) => [p.name, p.in]), [['id', 'path']]);
    assert.equal(Object.keys(extended.paths).length, Object.keys(doc.paths).length + 1);
  });

  it('is a valid OpenAPI 3.1 document (its own JSON schema)', async () => {
    const validator = new Validator();
    const result = await validator.validate(structuredClone(doc));
    assert.equal(validator.version, '3.1');
    assert.ok(result.valid, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
    // and it would notice a broken one
    const broken = structuredClone(doc);
    broken.paths['/api/rules'].get.responses = 'none';
    assert.equal((await new Validator().validate(broken)).valid, false);
  });

  it('answers a validation failure of any route as problem+json naming the field', async () => {
    const bad = await h.call('GET', '/api/audit?limit=0');
    assert.equal(bad.status, 400);
    assert.equal(bad.headers.get('content-type'), 'application/problem+json');
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path), ['limit']);
    const body = await h.call('POST', '/api/tokens', { name: 'x', scopes: ['root'], extra: 1 });
    assert.equal(body.status, 400);
    assert.deepEqual(body.body.errors.map((e: { path: string }) => e.path).sort(), ['extra', 'scopes.0']);
    assert.equal(body.body.detail, 'the token request is not valid');
    const env = await h.call('POST', '/api/environments', { name: 'e', labels: { a: 1 } });
    assert.equal(env.status, 400);
    assert.match(env.body.detail, /^invalid request body: labels\.a: /);
    // Bodies are read as JSON whatever their Content-Type (as before the routers validated them), within the same bounds.
    const send = (body: string, headers: Record<string, string>) => h.app.request('/api/rules/validate', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, ...headers }, body });
    const plain = await send(JSON.stringify(diskRule('plain')), { 'content-type': 'text/plain' });
    assert.equal(plain.status, 200, await plain.clone().text());
    assert.equal(((await plain.json()) as { valid: boolean }).valid, true);
    const bare = await send(JSON.stringify(diskRule('bare')), {});
    assert.equal(bare.status, 200, await bare.clone().text());
    const deep = await send('['.repeat(70) + ']'.repeat(70), { 'content-type': 'application/json' });
    assert.equal(deep.status, 400);
    assert.match(((await deep.json()) as { detail: string }).detail, /nests deeper than 64 levels/);
  });

  it('declares security exactly where an anonymous caller is refused: every operation, called without credentials', async () => {
    // A client (or a reviewer) reads who may call what from the document: an operation documented as open
    // must answer an anonymous caller, and one documented as guarded must refuse it with 401 naming the
    // scope it needs (x-required-scope), documenting that 401 too.
    const methods = ['get', 'post', 'put', 'patch', 'delete'] as const;
    const checked: string[] = [];
    const wrong: string[] = [];
    const expect = (ok: boolean, message: string) => {
      if (!ok) wrong.push(message);
    };
    for (const [path, item] of Object.entries(doc.paths as Record<string, Record<string, { security?: { bearer: string[] }[]; 'x-required-scope'?: string; responses: Record<string, unknown>; parameters?: { in: string; name: string; required?: boolean }[] }>>)) {
      for (const method of methods) {
        const op = item[method];
        if (!op) continue;
        const label = `${method.toUpperCase()} ${path}`;
        const url = path.replace(/\{[^}]+\}/g, 'x');
        // Required query parameters get a harmless value, so a route that validates before it authenticates still reaches its guard.
        const query = (op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => `${p.name}=x`);
        const res = await h.app.request(query.length ? `${url}?${query.join('&')}` : url, {
          method: method.toUpperCase(),
          ...(method === 'get' || method === 'delete' ? {} : { headers: { 'content-type': 'application/json' }, body: '{}' }),
        });
        const scopes = (op.security ?? []).flatMap((s) => s.bearer);
        if (scopes.length > 0) {
          expect(res.status === 401, `${label} declares bearer ${scopes.join(',')} but answered an anonymous caller ${res.status}`);
          expect(Boolean(op.responses['401']), `${label} does not document its 401`);
          expect(op['x-required-scope'] === scopes[0], `${label} does not name its scope in x-required-scope`);
        } else {
          // Only the sign-in endpoints answer 401 while open: "not signed in" is their answer, not a guard.
          expect(res.status !== 401 || (path.startsWith('/auth/') && Boolean(op.responses['401'])), `${label} is documented as open but refused an anonymous caller (401)`);
          expect(op['x-required-scope'] === undefined, `${label} names a scope without declaring security`);
        }
        checked.push(label);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked.length > 40, `checked ${checked.length} operations`);
    assert.ok(checked.includes('GET /api/automation') && checked.includes('GET /api/stats') && checked.includes('POST /approvals/link'), checked.join(', '));
  });

  it('the rule schema component accepts exactly what POST /api/rules accepts', async () => {
    const op = doc.paths['/api/rules'].post;
    assert.equal(op.requestBody.content['application/json'].schema.$ref, '#/components/schemas/RuleInput');
    assert.deepEqual(op.security, [{ bearer: ['write'] }]);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    addFormats.default(ajv);
    for (const [name, schema] of Object.entries(doc.components.schemas)) ajv.addSchema(schema as object, `#/components/schemas/${name}`);
    const validate = ajv.getSchema('#/components/schemas/RuleInput')!;

    const cases: [string, unknown][] = [
      ['valid', diskRule()],
      ['unknown key', { ...diskRule('b'), stopOnMatches: true }],
      ['bad name', { ...diskRule('c'), name: 'Not A Slug' }],
      ['no actions', { ...diskRule('d'), actions: [] }],
      ['bad action type', { ...diskRule('e'), actions: [{ type: 'rm -rf' }] }],
      ['bad priority', { ...diskRule('f'), priority: 1.5 }],
      ['minimal', { name: 'g', actions: [{ type: 'pagerduty.acknowledge' }] }],
    ];
    for (const [what, body] of cases) {
      const schemaOk = validate(body) as boolean;
      const api = await h.call('POST', '/api/rules', body);
      assert.equal(api.status === 201, schemaOk, `${what}: schema says ${schemaOk}, API answered ${api.status} ${JSON.stringify(api.body.errors ?? '')}`);
    }
  });

  it('lists query parameters from the same schemas and marks required ones', () => {
    const diff = doc.paths['/api/rules/{id}/diff'].get.parameters;
    assert.deepEqual(diff.map((p: { name: string; in: string; required: boolean }) => [p.name, p.in, p.required]), [
      ['id', 'path', true],
      ['from', 'query', true],
      ['to', 'query', false],
    ]);
    assert.ok(doc.paths['/webhooks/pagerduty'].post.responses['413']);
    assert.ok(doc.paths['/healthz'].get);
  });

  it('serves a self-contained explorer: no external resource, strict CSP', async () => {
    const res = await h.app.request('/docs');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /text\/html/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /connect-src 'self'/);
    const html = await res.text();
    assert.ok(!/\b(src|href)=["']?(https?:)?\/\//i.test(html), 'nothing loads from elsewhere');
    assert.match(html, /fetch\('\/openapi\.json'\)/);
    assert.match(html, /Authorization/);
  });
});
