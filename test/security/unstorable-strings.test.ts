// JSON can spell U+0000 and lone UTF-16 surrogates ("\u0000", "\ud800"); Postgres text and jsonb hold
// neither. Before, any such string in a body the API stores was a 500 from the database (rules,
// environments, jobs, tokens); now it is a 400 naming the field, and nothing is written. The webhook is
// not covered here: it stores such events (NUL replaced) or records them as rejected
// (test/e2e/poison.test.ts).
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

const TOKEN = 'unstorable-admin-token-0123456789abcdef';
const NUL = 'a\u0000b';
const LONE = 'x\ud800y';

describe('security: strings Postgres cannot store are a 400 naming the field', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  const send = (method: string, path: string, body: unknown) =>
    app.request(path, { method, headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const rule = (extra: Record<string, unknown>) => ({ name: `r-${Math.random().toString(36).slice(2, 8)}`, services: ['PABC123'], actions: [{ id: 'n', type: 'pagerduty.note', content: 'hi' }], ...extra });

  const cases: [string, string, unknown, string][] = [
    ['POST', '/api/rules', rule({ description: NUL }), 'description'],
    ['POST', '/api/rules', rule({ description: LONE }), 'description'],
    ['POST', '/api/rules', rule({ conditions: { all: [{ field: 'incident.title', op: 'equals', value: NUL }] } }), 'conditions.all[0].value'],
    ['POST', '/api/rules', rule({ actions: [{ id: 'n', type: 'pagerduty.note', content: `note ${LONE}` }] }), 'actions[0].content'],
    ['POST', '/api/rules/validate', rule({ description: NUL }), 'description'],
    ['POST', '/api/environments', { name: 'env-nul', description: NUL }, 'description'],
    ['POST', '/api/environments', { name: 'env-nul-label', labels: { [`k${'\u0000'}`]: 'v' } }, 'labels.k\uFFFD'],
    ['POST', '/api/tokens', { name: NUL, scopes: ['read'] }, 'name'],
    ['POST', '/api/jobs', { id: 'job-nul', name: NUL, schedule: { interval: '6h' }, targets: { environments: ['x'] }, script: 'probe.sh' }, 'name'],
  ];

  for (const [method, path, body, field] of cases) {
    it(`${method} ${path}: ${field}`, async function () {
      const res = await send(method, path, body);
      assert.equal(res.status, 400, await res.clone().text());
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const problem = (await res.json()) as { detail: string; errors: { path: string; message: string }[] };
      assert.deepEqual(
        problem.errors.map((e) => e.path),
        [field],
      );
      assert.match(problem.detail, /cannot be stored/);
    });
  }

  it('nothing was written, and the same bodies without the character are accepted', async function () {
    assert.equal((await db.db.selectFrom('rules').select('id').execute()).length, 0);
    assert.equal((await db.db.selectFrom('environments').select('name').execute()).length, 0);
    const ok = await send('POST', '/api/rules', rule({ description: 'a\uFFFDb 😀' }));
    assert.equal(ok.status, 201, await ok.clone().text());
    const env = await send('POST', '/api/environments', { name: 'env-ok', description: 'fine' });
    assert.equal(env.status, 201, await env.clone().text());
  });
});
