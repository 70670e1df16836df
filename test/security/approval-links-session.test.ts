import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { mintApprovalLinks } from '../../src/services/approvals.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertTestSession } from '../helpers/sessions.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

// An approval link followed from Slack in a browser signed in with single sign-on: the GET shows a
// confirmation form carrying the session's CSRF token; only that form, posted from the dashboard's own
// origin, decides. A forged cross-site post, a post without the token, a read-only session and the rule's
// author are refused, and nothing is recorded for them.
describe('approval links with the dashboard session (CSRF)', function () {
  const ORIGIN = 'https://selfheal.example.com';
  const ISSUER = 'https://login.example.com/realms/sre';
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const temporal = await testTemporal();
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: temporal.address,
      SELFHEAL_PUBLIC_URL: ORIGIN,
      OIDC_ISSUER_URL: ISSUER,
      OIDC_CLIENT_ID: 'selfheal',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'sre=write,viewers=read',
    });
    app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  async function signedIn(actor: string, scopes: string[], who: { subject?: string; email?: string } = {}): Promise<{ cookie: string; csrf: string }> {
    return insertTestSession(db.db, { issuer: ISSUER, actor, ...who, scopes, groups: scopes.map((s) => (s === 'write' ? 'sre' : 'viewers')) });
  }

  async function waitingAction(): Promise<{ actionRunId: string; approve: URL }> {
    const ruleId = `rule-${randomUUID().slice(0, 8)}`;
    const incidentId = `PINC${randomUUID().slice(0, 6)}`;
    const actionRunId = `${incidentId}:${ruleId}:fix:E1`;
    await db.db.insertInto('incidents').values({ id: incidentId, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incidentId}` }).execute();
    await db.db.insertInto('rules').values({ id: ruleId, name: ruleId, version: 1, definition: '{}' }).execute();
    await db.db.insertInto('rule_versions').values({ rule_id: ruleId, version: 1, definition: '{}', change: 'create', actor: 'user:alice@example.com' }).execute();
    await db.db
      .insertInto('action_runs')
      .values({ id: actionRunId, idempotency_key: actionRunId, incident_id: incidentId, rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'fix', action_type: 'notify.webhook', status: 'awaiting_approval' })
      .execute();
    const links = await mintApprovalLinks(db.db, { actionRunId, publicUrl: ORIGIN, expiresAt: new Date(Date.now() + 600_000) });
    return { actionRunId, approve: new URL(links.approve) };
  }
  const approvalOf = async (id: string) => (await db.db.selectFrom('action_runs').select('approval').where('id', '=', id).executeTakeFirstOrThrow()).approval as { actor: string; via: string } | null;
  const post = (fields: Record<string, string>, headers: Record<string, string>) =>
    app.request('/approvals/link', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body: new URLSearchParams(fields).toString() });

  it('the page carries the session CSRF token; the form posted from our origin approves, once', async function () {
    const { actionRunId, approve } = await waitingAction();
    const bob = await signedIn('user:bob@example.com', ['write']);
    const page = await app.request(`${approve.pathname}${approve.search}`, { headers: { cookie: bob.cookie, 'sec-fetch-site': 'cross-site' } });
    assert.equal(page.status, 200, await page.clone().text());
    const html = await page.text();
    assert.ok(html.includes(`name="csrf" value="${bob.csrf}"`), 'the form carries the CSRF token of this session');
    assert.match(page.headers.get('content-security-policy') ?? '', /form-action 'self'/);

    const fields = { action: actionRunId, token: approve.searchParams.get('token')!, csrf: bob.csrf };
    // As a browser posts the form of a page served with Referrer-Policy: no-referrer: `Origin: null`, with
    // the fetch metadata saying same-origin. Before, that was refused (403): no approver could use a link.
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    const sameOrigin = { cookie: bob.cookie, origin: 'null', 'sec-fetch-site': 'same-origin' };
    const res = await post(fields, sameOrigin);
    assert.equal(res.status, 200, await res.clone().text());
    assert.match(await res.text(), /user:bob@example\.com approved/);
    const recorded = await approvalOf(actionRunId);
    assert.deepEqual([recorded?.actor, recorded?.via], ['user:bob@example.com', 'link']);
    const link = await db.db.selectFrom('approval_links').select(['used_by', 'decision']).where('action_run_id', '=', actionRunId).where('used_at', 'is not', null).execute();
    assert.deepEqual(link, [{ used_by: 'user:bob@example.com', decision: 'approve' }]);
    assert.equal((await post(fields, sameOrigin)).status, 410, 'a second use is refused');
  });

  it('refuses a forged post (another site, another origin, no token), a read-only session and the rule author; nothing is recorded', async function () {
    const { actionRunId, approve } = await waitingAction();
    const bob = await signedIn('user:bob@example.com', ['write']);
    const base = { action: actionRunId, token: approve.searchParams.get('token')! };
    const cases: [string, Record<string, string>, Record<string, string>][] = [
      ['no CSRF token', base, { cookie: bob.cookie, origin: ORIGIN }],
      ['a CSRF token of another session', { ...base, csrf: (await signedIn('user:eve@example.com', ['write'])).csrf }, { cookie: bob.cookie, origin: ORIGIN }],
      ['posted from another site', { ...base, csrf: bob.csrf }, { cookie: bob.cookie, 'sec-fetch-site': 'cross-site' }],
      ['posted from another origin', { ...base, csrf: bob.csrf }, { cookie: bob.cookie, origin: 'https://evil.example.com' }],
      // An opaque origin (a sandboxed frame) elsewhere: null, and not same-origin by the browser's word.
      ['an opaque origin from another site', { ...base, csrf: bob.csrf }, { cookie: bob.cookie, origin: 'null', 'sec-fetch-site': 'cross-site' }],
      ['an opaque origin without fetch metadata', { ...base, csrf: bob.csrf }, { cookie: bob.cookie, origin: 'null' }],
    ];
    for (const [what, fields, headers] of cases) {
      const res = await post(fields, headers);
      assert.equal(res.status, 403, what);
    }
    const reader = await signedIn('user:rita@example.com', ['read']);
    assert.equal((await post({ ...base, csrf: reader.csrf }, { cookie: reader.cookie, origin: ORIGIN })).status, 403, 'the read scope cannot decide');
    const author = await signedIn('user:alice@example.com', ['write']);
    const own = await post({ ...base, csrf: author.csrf }, { cookie: author.cookie, origin: ORIGIN });
    assert.equal(own.status, 403);
    assert.match(((await own.json()) as { detail: string }).detail, /user:alice@example\.com wrote version 1/);
    assert.equal((await post(base, {})).status, 401, 'no session, no token');
    assert.equal(await approvalOf(actionRunId), null, 'nothing recorded');
    const used = await db.db.selectFrom('approval_links').select('id').where('action_run_id', '=', actionRunId).where('used_at', 'is not', null).execute();
    assert.deepEqual(used, [], 'the link is still unused');
  });

  it('refuses the rule author under another name of theirs: their address in other letter case, or their subject when the version was recorded under their e-mail', async function () {
    // The version's author is user:alice@example.com (waitingAction). Before single sign-on named users by
    // a verified e-mail only, a provider without email_verified (Entra ID) recorded Alice that way; now the
    // same person signs in as user:<sub>.
    const { actionRunId, approve } = await waitingAction();
    const base = { action: actionRunId, token: approve.searchParams.get('token')! };
    const cases: [string, { cookie: string; csrf: string }, RegExp][] = [
      ['the address in other letter case', await signedIn('user:Alice@Example.COM', ['write']), /user:alice@example\.com \(which is user:Alice@Example\.COM\) wrote version 1/],
      [
        'named by subject, carrying the address (unverified)',
        await signedIn('user:00u1alice', ['write'], { subject: '00u1alice', email: 'alice@example.com' }),
        /user:alice@example\.com \(which is user:00u1alice\) wrote version 1/,
      ],
    ];
    for (const [what, who, detail] of cases) {
      const res = await post({ ...base, csrf: who.csrf }, { cookie: who.cookie, origin: ORIGIN });
      assert.equal(res.status, 403, what);
      assert.match(((await res.json()) as { detail: string }).detail, detail, what);
    }
    assert.equal(await approvalOf(actionRunId), null, 'nothing recorded');
    // Someone else, named by subject with an address of their own, still approves.
    const bob = await signedIn('user:00u2bob', ['write'], { subject: '00u2bob', email: 'bob@example.com' });
    const res = await post({ ...base, csrf: bob.csrf }, { cookie: bob.cookie, origin: ORIGIN });
    assert.equal(res.status, 200, await res.clone().text());
    assert.equal((await approvalOf(actionRunId))?.actor, 'user:00u2bob');
  });
});
