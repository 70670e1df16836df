// JSON can spell U+0000 and lone UTF-16 surrogates ("\u0000", "\ud800"); Postgres text and jsonb hold
// neither. Before, any such string in a body the API stores was a 500 from the database (rules,
// environments, jobs, tokens); now it is a 400 naming the field, and nothing is written. The webhook is
// not covered here: it stores such events (NUL replaced) or records them as rejected
// (test/e2e/poison.test.ts).
//
// Path and query parameters too: a read token sending %00 in an id or filter, an incident cursor whose id
// holds U+0000, a rule version past Postgres' int4 or an audit cursor past its int8 got a 500 (logged as
// "unhandled error"); now each is a 400 naming the parameter.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { pathParams } from '../../src/api/schemas/common.js';
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

describe('security: path and query parameters Postgres cannot hold are a 400 naming the parameter', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let reader: string;
  let ruleId: string;
  const logged: string[] = [];

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const logger = createLogger({ level: 'error', destination: { write: (line: string) => void logged.push(line) } });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger }, allRoutes);
    const post = async (path: string, body: unknown) =>
      (await (await app.request(path, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as Record<string, string>;
    reader = (await post('/api/tokens', { name: 'reader', scopes: ['read'] })).token!;
    ruleId = (await post('/api/rules', { name: 'r1', services: ['*'], actions: [{ type: 'pagerduty.note', content: 'x' }] })).id!;
  });
  after(async () => db?.close());

  const call = (token: string, method: string, path: string, body?: unknown) =>
    app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const cursorOf = (raw: string) => Buffer.from(raw).toString('base64url');

  const cases: [string, () => string, string, string, string, unknown?][] = [
    ['a rule id holding U+0000', () => reader, 'GET', '/api/rules/%00', 'id'],
    ['an incident id holding U+0000', () => reader, 'GET', '/api/incidents/a%00b', 'id'],
    ['an environment name holding U+0000', () => reader, 'GET', '/api/environments/%00', 'name'],
    ['a job id holding U+0000', () => reader, 'GET', '/api/jobs/%00', 'id'],
    ["a rule's stats id holding U+0000", () => reader, 'GET', '/api/rules/%00/stats', 'id'],
    ['a team member token id holding U+0000', () => TOKEN, 'DELETE', '/api/teams/default/members/%00', 'tokenId'],
    ['a rule id of 201 characters', () => reader, 'GET', `/api/rules/${'r'.repeat(201)}`, 'id'],
    ['the rules service filter holding U+0000', () => reader, 'GET', '/api/rules?service=%00', 'service'],
    ['the incidents service filter holding U+0000', () => reader, 'GET', '/api/incidents?service=P%00', 'service'],
    ['the incidents environment filter holding U+0000', () => reader, 'GET', '/api/incidents?environment=a%00', 'environment'],
    ['an incident cursor whose id holds U+0000', () => reader, 'GET', `/api/incidents?cursor=${cursorOf('2024-01-01T00:00:00.000Z|a\u0000b')}`, 'cursor'],
    ['an incident cursor before Postgres timestamps begin', () => reader, 'GET', `/api/incidents?cursor=${cursorOf('-100000-01-01T00:00:00.000Z|Q1')}`, 'cursor'],
    ['a diff version past int4', () => reader, 'GET', '/api/rules/{rule}/diff?from=99999999999', 'from'],
    ['a diff target version past int4', () => reader, 'GET', '/api/rules/{rule}/diff?from=1&to=2147483648', 'to'],
    ['a rollback version past int4', () => TOKEN, 'POST', '/api/rules/{rule}/rollback', 'version', { version: 99_999_999_999 }],
    ['an audit cursor past int8', () => TOKEN, 'GET', '/api/audit?cursor=9999999999999999999', 'cursor'],
    ['an audit actor filter holding U+0000', () => TOKEN, 'GET', '/api/audit?actor=a%00', 'actor'],
  ];

  for (const [what, token, method, path, param, body] of cases) {
    it(`${what}: ${method} ${path.slice(0, 60)}`, async function () {
      const res = await call(token(), method, path.replace('{rule}', ruleId), body);
      const text = await res.text();
      assert.equal(res.status, 400, text);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const problem = JSON.parse(text) as { errors: { path: string; message: string }[] };
      assert.deepEqual(
        problem.errors.map((e) => e.path),
        [param],
      );
      assert.deepEqual(
        logged.filter((line) => line.includes('unhandled error')),
        [],
      );
    });
  }

  it('values at the bounds still reach the lookup: unknown ids and versions are 404, an 18-digit audit cursor a page', async function () {
    for (const path of ['/api/rules/a%EF%BF%BDb', `/api/rules/${'r'.repeat(200)}`, `/api/rules/${ruleId}/diff?from=2147483647`]) {
      const res = await call(reader, 'GET', path);
      assert.equal(res.status, 404, `${path}: ${await res.text()}`);
    }
    const page = await call(reader, 'GET', `/api/incidents?service=P1&environment=prod&cursor=${cursorOf('2024-01-01T00:00:00.000Z|Q1')}`);
    assert.equal(page.status, 200, await page.text());
    const audit = await call(TOKEN, 'GET', '/api/audit?cursor=999999999999999999');
    assert.equal(audit.status, 200, await audit.text());
  });

  it('refuses a lone surrogate in a parameter too (a URL cannot carry one, so through the schema)', function () {
    const parsed = pathParams(['id', 'rule id']).safeParse({ id: 'x\ud800y' });
    assert.equal(parsed.success, false);
    assert.match(parsed.error!.issues[0]!.message, /lone UTF-16 surrogate/);
  });
});
