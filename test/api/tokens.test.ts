import assert from 'node:assert/strict';
import { hashToken } from '../../src/api/auth.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN, diskRule, routeHarness } from './rules.test.js';

describe('tokens API and scopes', function () {
  let db: TestDatabase;
  let h: Awaited<ReturnType<typeof routeHarness>>;

  before(async function () {
    db = await createTestDatabase();
    h = await routeHarness(db);
  });
  beforeEach(async () => db.truncate());
  after(async () => db?.close());

  const as = (token: string) => ({ authorization: `Bearer ${token}` });

  it('issues a token shown once, stored only as its hash, listed without secrets, audited', async () => {
    const res = await h.call('POST', '/api/tokens', { name: 'ci-bot', scopes: ['write'] });
    assert.equal(res.status, 201);
    const token = res.body.token as string;
    assert.match(token, /^shk_[A-Za-z0-9_-]{43}$/);

    const row = await db.db.selectFrom('api_tokens').selectAll().where('id', '=', res.body.id).executeTakeFirstOrThrow();
    assert.equal(row.token_hash, hashToken(token));
    assert.deepEqual(row.scopes, ['write']);
    assert.equal(row.created_by, 'admin-token');
    const { rows } = await db.pool.query('select * from api_tokens');
    assert.ok(!JSON.stringify(rows).includes(token), 'the token is never stored in clear');

    const listed = await h.call('GET', '/api/tokens');
    assert.equal(listed.body.items.length, 1);
    const text = JSON.stringify(listed.body);
    assert.ok(!text.includes(token) && !text.includes(row.token_hash) && !('token' in listed.body.items[0]));

    const audit = await db.db.selectFrom('audit_log').selectAll().execute();
    assert.deepEqual(audit.map((a) => a.action), ['token.create']);
    const auditText = JSON.stringify(audit);
    assert.ok(!auditText.includes(token) && !auditText.includes(row.token_hash), 'the audit log never holds the token');

    const bad = await h.call('POST', '/api/tokens', { name: '', scopes: ['root'] });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors.map((e: { path: string }) => e.path).sort(), ['name', 'scopes.0']);
  });

  it('lists tokens newest first in pages whose cursor walks every one once; state=live leaves out revoked and expired ones', async () => {
    // Tokens are never deleted: unpaged, a CI minting one per run made one answer of every token ever issued.
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      const created = await h.call('POST', '/api/tokens', { name: `paged-${i}`, scopes: ['read'] });
      assert.equal(created.status, 201);
      ids.push(created.body.id as string);
    }
    // Two created in the same microsecond still come once each, ordered by id.
    await db.db.updateTable('api_tokens').set({ created_at: new Date('2026-01-01T00:00:00.000Z') }).where('id', 'in', [ids[2]!, ids[3]!]).execute();
    await h.call('DELETE', `/api/tokens/${ids[1]}`);
    await db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', ids[4]!).execute();
    const walk = async (query: string) => {
      const seen: string[] = [];
      let cursor = '';
      for (let pages = 0; pages < 10; pages++) {
        const res = await h.call('GET', `/api/tokens?limit=3${query}${cursor}`);
        assert.equal(res.status, 200, JSON.stringify(res.body));
        assert.ok(res.body.items.length <= 3);
        seen.push(...(res.body.items as { id: string }[]).map((t) => t.id));
        if (res.body.nextCursor === null) return seen;
        cursor = `&cursor=${res.body.nextCursor}`;
      }
      throw new Error('the cursor never ended');
    };
    const sameSecond = [ids[2]!, ids[3]!].sort().reverse();
    assert.deepEqual(await walk(''), [ids[6], ids[5], ids[4], ids[1], ids[0], ...sameSecond]);
    assert.deepEqual(await walk('&state=live'), [ids[6], ids[5], ids[0], ...sameSecond]);
    const bad = await h.call('GET', '/api/tokens?limit=501');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].path, 'limit');
    assert.equal((await h.call('GET', '/api/tokens')).body.items.length, 7, 'a page of 100 by default');
  });

  it('401 without or with an unknown token, 403 with too small a scope, 201 with enough', async () => {
    const noToken = await h.app.request('/api/rules');
    assert.equal(noToken.status, 401);
    assert.equal(noToken.headers.get('content-type'), 'application/problem+json');
    assert.equal((await h.call('GET', '/api/rules', undefined, as('shk_unknown'))).status, 401);

    const reader = (await h.call('POST', '/api/tokens', { name: 'dash', scopes: ['read'] })).body.token as string;
    const writer = (await h.call('POST', '/api/tokens', { name: 'sre', scopes: ['write'] })).body.token as string;

    assert.equal((await h.call('GET', '/api/rules', undefined, as(reader))).status, 200);
    const denied = await h.call('POST', '/api/rules', diskRule(), as(reader));
    assert.equal(denied.status, 403);
    assert.match(denied.body.detail, /write/);
    assert.equal((await h.call('GET', '/api/tokens', undefined, as(writer))).status, 403);
    assert.equal((await h.call('GET', '/api/audit', undefined, as(writer))).status, 403);

    const created = await h.call('POST', '/api/rules', diskRule(), as(writer));
    assert.equal(created.status, 201);
    const version = await db.db.selectFrom('rule_versions').select('actor').executeTakeFirstOrThrow();
    assert.equal(version.actor, 'token:sre', 'the actor is the token name');
  });

  it('refuses a revoked token', async () => {
    const issued = (await h.call('POST', '/api/tokens', { name: 'temp', scopes: ['admin'] })).body;
    assert.equal((await h.call('GET', '/api/tokens', undefined, as(issued.token))).status, 200);
    const revoked = await h.call('DELETE', `/api/tokens/${issued.id}`);
    assert.equal(revoked.status, 200);
    assert.ok(revoked.body.revokedAt);
    assert.equal((await h.call('GET', '/api/rules', undefined, as(issued.token))).status, 401);
    assert.equal((await h.call('DELETE', '/api/tokens/00000000-0000-0000-0000-000000000000')).status, 404);
    const actions = (await db.db.selectFrom('audit_log').select('action').orderBy('id').execute()).map((a) => a.action);
    assert.deepEqual(actions, ['token.create', 'token.revoke']);
    assert.ok(ADMIN.length > 0);
  });
});
