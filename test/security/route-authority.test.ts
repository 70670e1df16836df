// Every route, walked from the OpenAPI document the app serves (so a route added later is walked too):
// - a `read` token is refused (403) by every operation that documents `write` or `admin`, and a `write`
//   token by every `admin` one, before anything is done;
// - with the dashboard session cookie (an admin's), every operation that changes something (POST, PUT,
//   PATCH, DELETE) is refused (403) without the session's CSRF token, and nothing changes;
// - no route is served that the document does not show (it would escape both walks).
// test/api/openapi.test.ts walks the same document anonymously (401); these are the callers with too little.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { createApp } from '../../src/api/app.js';
import { SCOPE_RANK, type Scope } from '../../src/services/actor.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN, issueToken } from '../helpers/stack.js';
import { insertTestSession, SSO_ISSUER, SSO_ORIGIN, ssoApp } from '../helpers/sessions.js';

const ORIGIN = SSO_ORIGIN;
const ISSUER = SSO_ISSUER;
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const;

interface Operation {
  method: (typeof METHODS)[number];
  path: string;
  scope: Scope | undefined;
  requiredQuery: string[];
}

describe('security: every route enforces the scope it documents, and every session write needs the CSRF token', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let operations: Operation[];
  const api = (path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization') && !headers.has('cookie')) headers.set('authorization', `Bearer ${ADMIN_TOKEN}`);
    if (init.body && !headers.has('content-type')) headers.set('content-type', 'application/json');
    return Promise.resolve(app.request(path, { ...init, headers }));
  };
  /** The operation called with harmless values: `x` for each path and required query parameter, `{}` as the body. */
  const call = (o: Operation, headers: Record<string, string>) => {
    const url = o.path.replace(/\{[^}]+\}/g, 'x') + (o.requiredQuery.length ? `?${o.requiredQuery.map((n) => `${n}=x`).join('&')}` : '');
    const body = o.method === 'get' || o.method === 'delete' ? {} : { body: '{}', headers: { 'content-type': 'application/json', ...headers } };
    return app.request(url, { method: o.method.toUpperCase(), headers, ...body });
  };

  before(async function () {
    db = await createTestDatabase();
    app = ssoApp(db, {
      OIDC_ROLE_MAP: 'sre-admins=admin',
    });
    const doc = (await (await app.request('/openapi.json')).json()) as {
      paths: Record<string, Partial<Record<Operation['method'], { 'x-required-scope'?: Scope; parameters?: { in: string; name: string; required?: boolean }[] }>>>;
    };
    operations = Object.entries(doc.paths).flatMap(([path, item]) =>
      METHODS.flatMap((method) => {
        const op = item[method];
        if (!op) return [];
        return [{ method, path, scope: op['x-required-scope'], requiredQuery: (op.parameters ?? []).filter((p) => p.in === 'query' && p.required).map((p) => p.name) }];
      }),
    );
  });
  after(async () => db?.close());

  it('serves no route the document does not show', function () {
    const documented = new Set(operations.map((o) => `${o.method.toUpperCase()} ${o.path.replace(/\{(\w+)\}/g, ':$1')}`));
    const hidden = app.routes.filter((r) => METHODS.includes(r.method.toLowerCase() as Operation['method']) && !documented.has(`${r.method} ${r.path}`)).map((r) => `${r.method} ${r.path}`);
    assert.deepEqual([...new Set(hidden)], []);
    assert.ok(operations.length > 40, `${operations.length} operations`);
  });

  it('a read token gets 403 from every write and admin operation, a write token from every admin one', async function () {
    const tokens = { read: await issueToken({ api }, `walk-read-${randomUUID().slice(0, 6)}`, ['read']), write: await issueToken({ api }, `walk-write-${randomUUID().slice(0, 6)}`, ['write']) };
    const wrong: string[] = [];
    let refusals = 0;
    for (const o of operations) {
      if (o.scope === undefined) continue;
      for (const held of ['read', 'write'] as const) {
        if (SCOPE_RANK[held] >= SCOPE_RANK[o.scope]) continue;
        const res = await call(o, { authorization: `Bearer ${tokens[held]}` });
        refusals++;
        if (res.status !== 403) wrong.push(`${o.method.toUpperCase()} ${o.path} (${o.scope}) answered a ${held} token ${res.status}`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(refusals > 30, `${refusals} refusals checked`);
    const tokensMade = await db.db.selectFrom('api_tokens').select('id').execute();
    assert.equal(tokensMade.length, 2, 'nothing was created by the refused calls (POST /api/tokens included)');
  });

  it("with an admin's session cookie, every POST, PUT, PATCH and DELETE without the CSRF token is 403 and changes nothing", async function () {
    const { id, cookie } = await insertTestSession(db.db, { issuer: ISSUER, subject: `sub-${randomUUID()}`, actor: 'user:ada@example.com', email: 'ada@example.com', scopes: ['admin'], groups: ['sre-admins'] });
    const auditBefore = (await db.db.selectFrom('audit_log').select('id').execute()).length;
    const wrong: string[] = [];
    let checked = 0;
    for (const o of operations) {
      // The webhook is authenticated by its signature, never by a session; every other write is a session's.
      if (o.method === 'get' || o.path === '/webhooks/pagerduty') continue;
      const attempts: Record<string, string>[] = [{ cookie }, { cookie, origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'x-csrf-token': 'not-the-token' }];
      for (const headers of attempts) {
        const res = await call(o, headers);
        checked++;
        if (res.status !== 403) wrong.push(`${o.method.toUpperCase()} ${o.path} answered ${res.status} to a session write ${'x-csrf-token' in headers ? 'with a wrong' : 'without a'} CSRF token`);
      }
    }
    assert.deepEqual(wrong, []);
    assert.ok(checked > 50, `${checked} writes checked`);
    assert.equal((await db.db.selectFrom('audit_log').select('id').execute()).length, auditBefore, 'nothing audited, so nothing changed');
    const live = await db.db.selectFrom('auth_sessions').select('revoked_at').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(live.revoked_at, null, 'not even signed out');
  });
});
