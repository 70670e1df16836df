import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { diskRule, routeHarness } from './rules.test.js';

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

  it('documents every /api route the app serves', () => {
    for (const r of h.app.routes) {
      if (r.method === 'ALL' || !r.path.startsWith('/api/')) continue;
      const path = r.path.replace(/:(\w+)/g, '{$1}');
      const op = doc.paths[path]?.[r.method.toLowerCase()];
      assert.ok(op, `${r.method} ${path} is not documented`);
      // Routes other groups add later appear as stubs until described; these groups are fully described.
      if (/^\/api\/(rules|tokens|audit)\b/.test(path)) {
        assert.ok(!/not yet described/.test(op.summary), `${r.method} ${path} has only a stub`);
      }
    }
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
