import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// A leaked admin token (a CI secret, a laptop) is revoked with DELETE /api/tokens/{id}. Whoever held it
// could first mint themselves another admin token with it, a year long and named like any other: before,
// revoking the leaked token left that one (and the tokens minted with it) working, so the attacker kept
// root on every VM after the revocation. A token now records the token it was minted with, and revoking a
// token revokes the live tokens minted with it, and those minted with them, each audited as token.revoke.
// Tokens the bootstrap admin token (or a dashboard session) minted are not touched. Cutting a user off
// (DELETE /api/sessions) likewise revokes the tokens minted with the tokens it revokes.

const ADMIN = 'token-revoke-minted-admin-0123456789abcdef';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('security: revoking a token revokes the tokens minted with it', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const suffix = randomUUID().slice(0, 8);

  const call = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; body: Doc }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, text, body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const mint = async (by: string, name: string, scopes: string[]) => {
    const res = await call(by, 'POST', '/api/tokens', { name: `${name}-${suffix}`, scopes });
    assert.equal(res.status, 201, res.text);
    return { id: res.body.id as string, token: res.body.token as string };
  };
  const works = async (token: string) => (await call(token, 'GET', '/api/teams')).status;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  it('a token minted with a leaked admin token, and one minted with that, stop working when the leaked one is revoked; audited', async function () {
    const leaked = await mint(ADMIN, 'ci-deploy', ['admin']);
    const sibling = await mint(ADMIN, 'ci-other', ['read']);
    const persistence = await mint(leaked.token, 'backup-job', ['admin']);
    const second = await mint(persistence.token, 'nightly', ['read']);
    for (const t of [leaked, sibling, persistence, second]) assert.equal(await works(t.token), 200);

    const revoked = await call(ADMIN, 'DELETE', `/api/tokens/${leaked.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(await works(leaked.token), 401);
    assert.equal(await works(persistence.token), 401, 'the token minted with the revoked token still works');
    assert.equal(await works(second.token), 401, 'the token minted with that one still works');
    assert.equal(await works(sibling.token), 200, 'a token the bootstrap admin token minted is not touched');
    assert.deepEqual(
      revoked.body.revokedWith.map((t: Doc) => t.id).sort(),
      [persistence.id, second.id].sort(),
      'the answer names the tokens revoked with it',
    );

    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'token.revoke').where('entity_id', 'in', [leaked.id, persistence.id, second.id]).execute();
    assert.deepEqual(audit.map((a) => a.entity_id).sort(), [leaked.id, persistence.id, second.id].sort());
    const cascaded = audit.find((a) => a.entity_id === persistence.id)!;
    assert.equal(cascaded.actor, 'admin-token');
    assert.deepEqual((cascaded.after as Doc).reason, 'minted with a revoked token');
    assert.equal((cascaded.after as Doc).mintedWith, leaked.id);
    assert.ok(!JSON.stringify(audit).includes(persistence.token), 'no token value in the audit log');
  });

  it("cutting a user off (DELETE /api/sessions) revokes the tokens minted with a token issued to them, and with those", async function () {
    const email = `mallory-${suffix}@example.com`;
    const issued = await call(ADMIN, 'POST', '/api/tokens', { name: `mallory-laptop-${suffix}`, scopes: ['admin'], owner: email });
    assert.equal(issued.status, 201, issued.text);
    const kept = await mint(issued.body.token, 'mallory-stash', ['admin']);
    const deeper = await mint(kept.token, 'mallory-stash-2', ['read']);
    const cut = await call(ADMIN, 'DELETE', `/api/sessions?email=${encodeURIComponent(email)}`);
    assert.equal(cut.status, 200, cut.text);
    assert.equal(await works(issued.body.token), 401);
    assert.equal(await works(kept.token), 401, 'a token minted with the cut-off user\'s token still works');
    assert.equal(await works(deeper.token), 401);
    assert.deepEqual(cut.body.tokens.map((t: Doc) => t.id).sort(), [issued.body.id, kept.id, deeper.id].sort());
  });

  it('an expired token between does not stop it: the token minted with an expired token minted with the leaked one stops working', async function () {
    // The attacker mints a short-lived token with the leaked one, a year-long one with that, and waits for
    // the short-lived one to expire (set in the past here, as the wait would).
    const leaked = await mint(ADMIN, 'ci-leaked', ['admin']);
    const short = await mint(leaked.token, 'short-lived', ['admin']);
    const kept = await mint(short.token, 'year-long', ['admin']);
    await db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 60_000) }).where('id', '=', short.id).execute();
    assert.equal(await works(kept.token), 200);

    const revoked = await call(ADMIN, 'DELETE', `/api/tokens/${leaked.id}`);
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(await works(kept.token), 401, 'the token minted with the expired token minted with the revoked one still works');
    assert.deepEqual(revoked.body.revokedWith.map((t: Doc) => t.id), [kept.id], 'the answer names the live token revoked with it (not the expired one)');
    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'token.revoke').where('entity_id', '=', kept.id).execute();
    assert.equal(audit.length, 1);
    assert.equal((audit[0]!.after as Doc).mintedWith, short.id);
  });

  it("an expired token between does not stop cutting a user off (DELETE /api/sessions)", async function () {
    const email = `eve-${suffix}@example.com`;
    const issued = await call(ADMIN, 'POST', '/api/tokens', { name: `eve-laptop-${suffix}`, scopes: ['admin'], owner: email });
    assert.equal(issued.status, 201, issued.text);
    const eveShort = await mint(issued.body.token, 'eve-short', ['admin']);
    const eveKept = await mint(eveShort.token, 'eve-year', ['admin']);
    await db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 60_000) }).where('id', '=', eveShort.id).execute();
    const cut = await call(ADMIN, 'DELETE', `/api/sessions?email=${encodeURIComponent(email)}`);
    assert.equal(cut.status, 200, cut.text);
    assert.equal(await works(eveKept.token), 401, 'the token minted with the cut-off user\'s expired minted token still works');
    assert.deepEqual(cut.body.tokens.map((t: Doc) => t.id).sort(), [issued.body.id, eveKept.id].sort());
  });

  it("cutting a user off revokes the tokens minted with their token after that token expired", async function () {
    const email = `trent-${suffix}@example.com`;
    const issued = await call(ADMIN, 'POST', '/api/tokens', { name: `trent-laptop-${suffix}`, scopes: ['admin'], owner: email });
    assert.equal(issued.status, 201, issued.text);
    const kept = await mint(issued.body.token, 'trent-year', ['admin']);
    await db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 60_000) }).where('id', '=', issued.body.id as string).execute();
    const cut = await call(ADMIN, 'DELETE', `/api/sessions?email=${encodeURIComponent(email)}`);
    assert.equal(cut.status, 200, cut.text);
    assert.equal(await works(kept.token), 401, 'the token minted with the cut-off user\'s expired token still works');
    assert.deepEqual(cut.body.tokens.map((t: Doc) => t.id), [kept.id]);
  });

  it('GET /api/tokens names the token each was minted with', async function () {
    const parent = await mint(ADMIN, 'parent', ['admin']);
    const child = await mint(parent.token, 'child', ['read']);
    const listed = await call(ADMIN, 'GET', '/api/tokens?limit=500');
    assert.equal(listed.status, 200, listed.text);
    const byId = new Map((listed.body.items as Doc[]).map((t) => [t.id, t]));
    assert.equal(byId.get(child.id)!.mintedWith, parent.id);
    assert.equal(byId.get(parent.id)!.mintedWith, null);
  });
});
