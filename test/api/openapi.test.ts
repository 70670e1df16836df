import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { diskRule, routeHarness } from './rules.test.js';

/** `GET/POST /api/rules`, `GET/PUT/DELETE /api/rules/{id}` → [[GET,/api/rules],[POST,/api/rules],...] */
function designRoutes(): [string, string][] {
  const design = readFileSync(new URL('../../../shared/DESIGN.md', import.meta.url), 'utf8');
  const table = design.slice(design.indexOf('HTTP:'), design.indexOf('- `/api/*` takes'));
  const out: [string, string][] = [];
  for (const cell of table.matchAll(/`((?:GET|POST|PUT|DELETE|PATCH)(?:\/(?:GET|POST|PUT|DELETE|PATCH))*) (\/[^`]*)`/g)) {
    for (const method of cell[1]!.split('/')) out.push([method, cell[2]!]);
  }
  return out;
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

  it('is OpenAPI 3.1 and documents every route of the DESIGN.md table that the app serves', () => {
    assert.equal(doc.openapi, '3.1.0');
    const served = new Set(h.app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`));
    const table = designRoutes();
    assert.ok(table.length > 20, 'the DESIGN.md table was read');
    let checked = 0;
    for (const [method, path] of table) {
      const honoPath = path.replace(/\{(\w+)\}/g, ':$1');
      if (!served.has(`${method} ${honoPath}`)) continue;
      checked++;
      assert.ok(doc.paths[path]?.[method.toLowerCase()], `${method} ${path} is served but not documented`);
    }
    assert.ok(checked >= 14, `only ${checked} routes checked`);
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
