import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { createApp } from '../../src/api/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertTestSession, SSO_ISSUER, SSO_ORIGIN, ssoApp } from '../helpers/sessions.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { MAX_MINTER_NAMES } from '../../src/services/tokens.js';

// Four eyes on shell commands: the author of a rule version may not approve its gated actions. A token
// minted from a dashboard session records that session (api_tokens.session_*: the user's subject and
// address, `mintedFrom`), so the API knows whose token it is. An admin signed in with single sign-on who
// writes a shell command, then mints herself a token (no `owner`) from the same session, must not be able
// to approve her own command with it, nor the other way round.
describe('security: a token minted from a session is its user for the four-eyes rule', function () {
  const ORIGIN = SSO_ORIGIN;
  const ISSUER = SSO_ISSUER;
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    // Temporal is never reached: a recorded decision answers delivered: false.
    app = ssoApp(db, {
      OIDC_ROLE_MAP: 'sre-admins=admin',
    });
  });
  after(async () => db?.close());

  const alice = () => insertTestSession(db.db, { issuer: ISSUER, actor: 'user:alice@example.com', subject: '00u1alice', email: 'alice@example.com', scopes: ['admin'], groups: ['sre-admins'] });
  const asSession = (s: { cookie: string; csrf: string }) => ({ cookie: s.cookie, 'x-csrf-token': s.csrf, origin: ORIGIN, 'sec-fetch-site': 'same-origin', 'content-type': 'application/json' });
  const asToken = (t: string) => ({ authorization: `Bearer ${t}`, 'content-type': 'application/json' });
  const shellRule = (name: string) => ({
    name,
    services: ['PREVIEW1'],
    actions: [{ id: 'shell', type: 'script.ssh', command: 'id', approval: { required: true, onTimeout: 'reject' } }],
  });

  async function waiting(ruleId: string, version: number): Promise<{ incident: string; run: string }> {
    const incident = `PREV${randomUUID().slice(0, 6)}`;
    const run = `${incident}:${ruleId}:shell`;
    await db.db.insertInto('incidents').values({ id: incident, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
    await db.db
      .insertInto('action_runs')
      .values({ id: run, idempotency_key: run, incident_id: incident, rule_id: ruleId, rule_version: version, action_index: 0, action_id: 'shell', action_type: 'script.ssh', status: 'awaiting_approval' })
      .execute();
    return { incident, run };
  }
  const approval = async (id: string) => (await db.db.selectFrom('action_runs').select('approval').where('id', '=', id).executeTakeFirstOrThrow()).approval;

  it('refuses the approval of her own shell command with a token she minted from her session', async function () {
    const session = await alice();
    const created = await app.request('/api/rules', { method: 'POST', headers: asSession(session), body: JSON.stringify(shellRule(`shell-${randomUUID().slice(0, 8)}`)) });
    assert.equal(created.status, 201, await created.clone().text());
    const rule = (await created.json()) as { id: string; version: number };

    // No owner: the admin chooses not to name herself; the token still records the session it came from.
    const minted = await app.request('/api/tokens', { method: 'POST', headers: asSession(session), body: JSON.stringify({ name: 'deploy-bot', scopes: ['write'] }) });
    assert.equal(minted.status, 201, await minted.clone().text());
    const token = (await minted.json()) as { token: string; mintedFrom: { subject: string; email: string | null } | null };
    assert.deepEqual({ subject: token.mintedFrom?.subject, email: token.mintedFrom?.email }, { subject: '00u1alice', email: 'alice@example.com' }, 'the API knows whose token it is');

    const { incident, run } = await waiting(rule.id, rule.version);
    const res = await app.request(`/api/incidents/${incident}/approvals/${run}`, { method: 'POST', headers: asToken(token.token), body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(res.status, 403, `the author approved her own shell command through her minted token: ${res.status} ${await res.clone().text()}`);
    assert.equal(await approval(run), null, 'nothing recorded');
  });

  it('refuses, signed in, the approval of a shell command she saved with a token minted from her session', async function () {
    const session = await alice();
    const minted = await app.request('/api/tokens', { method: 'POST', headers: asSession(session), body: JSON.stringify({ name: 'ci-admin', scopes: ['admin'] }) });
    assert.equal(minted.status, 201, await minted.clone().text());
    const { token } = (await minted.json()) as { token: string };
    const created = await app.request('/api/rules', { method: 'POST', headers: asToken(token), body: JSON.stringify(shellRule(`shell-${randomUUID().slice(0, 8)}`)) });
    assert.equal(created.status, 201, await created.clone().text());
    const rule = (await created.json()) as { id: string; version: number };

    const { incident, run } = await waiting(rule.id, rule.version);
    const res = await app.request(`/api/incidents/${incident}/approvals/${run}`, { method: 'POST', headers: asSession(await alice()), body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(res.status, 403, `the author approved, signed in, the shell command she saved with her minted token: ${res.status} ${await res.clone().text()}`);
    assert.equal(await approval(run), null, 'nothing recorded');
  });

  it('refuses the approval of a shell command saved with a token she minted with a token issued to her', async function () {
    // Her own admin token, issued to her by name; with it she mints one without an owner, a "service".
    const issued = await app.request('/api/tokens', { method: 'POST', headers: asToken(ADMIN_TOKEN), body: JSON.stringify({ name: 'alice-admin', scopes: ['admin'], owner: 'alice@example.com' }) });
    assert.equal(issued.status, 201, await issued.clone().text());
    const own = ((await issued.json()) as { token: string }).token;
    const minted = await app.request('/api/tokens', { method: 'POST', headers: asToken(own), body: JSON.stringify({ name: 'ci-bot', scopes: ['admin'] }) });
    assert.equal(minted.status, 201, await minted.clone().text());
    const bot = ((await minted.json()) as { token: string }).token;
    const created = await app.request('/api/rules', { method: 'POST', headers: asToken(bot), body: JSON.stringify(shellRule(`shell-${randomUUID().slice(0, 8)}`)) });
    assert.equal(created.status, 201, await created.clone().text());
    const rule = (await created.json()) as { id: string; version: number };

    for (const approver of [asToken(own), asSession(await alice())]) {
      const { incident, run } = await waiting(rule.id, rule.version);
      const res = await app.request(`/api/incidents/${incident}/approvals/${run}`, { method: 'POST', headers: approver, body: JSON.stringify({ decision: 'approve' }) });
      assert.equal(res.status, 403, `the author approved the shell command she saved with the token she minted with her own: ${res.status} ${await res.clone().text()}`);
      assert.equal(await approval(run), null, 'nothing recorded');
    }
  });

  it('refuses the mint that would drop her name from a chain of tokens each given another owner', async function () {
    // Each minter names the new token's owner, and a token keeps at most MAX_MINTER_NAMES names of those
    // behind it: a chain one longer would have dropped hers (the farthest), so its last token could save a
    // shell command she approves herself. That mint is refused instead.
    const tag = randomUUID().slice(0, 8);
    const issued = await app.request('/api/tokens', { method: 'POST', headers: asToken(ADMIN_TOKEN), body: JSON.stringify({ name: `alice-root-${tag}`, scopes: ['admin'], owner: 'alice@example.com' }) });
    assert.equal(issued.status, 201, await issued.clone().text());
    const own = ((await issued.json()) as { token: string }).token;
    let current = own;
    for (let i = 1; i <= MAX_MINTER_NAMES; i++) {
      const res = await app.request('/api/tokens', { method: 'POST', headers: asToken(current), body: JSON.stringify({ name: `link-${i}-${tag}`, scopes: ['admin'], owner: `x${i}-${tag}@example.com` }) });
      assert.equal(res.status, 201, `link ${i}: ${await res.clone().text()}`);
      current = ((await res.json()) as { token: string }).token;
    }
    // The last link still carries her name: she cannot approve what it saves.
    const created = await app.request('/api/rules', { method: 'POST', headers: asToken(current), body: JSON.stringify(shellRule(`shell-${tag}`)) });
    assert.equal(created.status, 201, await created.clone().text());
    const rule = (await created.json()) as { id: string; version: number };
    const { incident, run } = await waiting(rule.id, rule.version);
    const approved = await app.request(`/api/incidents/${incident}/approvals/${run}`, { method: 'POST', headers: asToken(own), body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(approved.status, 403, await approved.clone().text());

    const past = await app.request('/api/tokens', { method: 'POST', headers: asToken(current), body: JSON.stringify({ name: `link-past-${tag}`, scopes: ['admin'], owner: `x-past-${tag}@example.com` }) });
    assert.equal(past.status, 409, `the mint that drops her name from the chain was accepted: ${past.status} ${await past.clone().text()}`);
    assert.match(past.headers.get('content-type') ?? '', /application\/problem\+json/);
    assert.match(((await past.json()) as { detail: string }).detail, /four-eyes/);
  });

  it('someone else still approves', async function () {
    const session = await alice();
    const created = await app.request('/api/rules', { method: 'POST', headers: asSession(session), body: JSON.stringify(shellRule(`shell-${randomUUID().slice(0, 8)}`)) });
    const rule = (await created.json()) as { id: string; version: number };
    const bob = await insertTestSession(db.db, { issuer: ISSUER, actor: 'user:bob@example.com', subject: '00u2bob', email: 'bob@example.com', scopes: ['admin'], groups: ['sre-admins'] });
    const minted = await app.request('/api/tokens', { method: 'POST', headers: asSession(bob), body: JSON.stringify({ name: 'bob-bot', scopes: ['write'] }) });
    const { token } = (await minted.json()) as { token: string };
    const { incident, run } = await waiting(rule.id, rule.version);
    const res = await app.request(`/api/incidents/${incident}/approvals/${run}`, { method: 'POST', headers: asToken(token), body: JSON.stringify({ decision: 'approve' }) });
    assert.equal(res.status, 202, await res.clone().text());
    assert.equal((await approval(run) as { actor: string }).actor, 'token:bob-bot');
  });
});
