import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { mintApprovalLinks } from '../../src/services/approvals.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal } from '../helpers/temporal.js';

// Team ownership through the API (issue 24): the audit log's team and actor, approvals per team, moving
// objects between teams, jobs confined to their team's environments, legacy tokens on the default team,
// and the guards on memberships. Cross-team refusals route by route are in test/security/teams.test.ts.

const ADMIN = 'teams-api-admin-token-0123456789ab';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('teams API: ownership, audit, approvals, moves', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const t: Record<string, { id: string; token: string }> = {};

  const call = async (token: string, method: string, path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const h: Record<string, string> = { authorization: `Bearer ${token}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers: h, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Doc };
  };
  const ok = async (token: string, method: string, path: string, body: unknown, status: number, headers: Record<string, string> = {}) => {
    const res = await call(token, method, path, body, headers);
    assert.equal(res.status, status, `${method} ${path}: ${JSON.stringify(res.body)}`);
    return res.body;
  };
  const rule = (name: string, team?: string) => ({ name, ...(team ? { team } : {}), actions: [{ type: 'pagerduty.note', content: 'hi' }] });
  const auditOf = (entityId: string, action: string) =>
    db.db.selectFrom('audit_log').select(['actor', 'team', 'before', 'after']).where('entity_id', '=', entityId).where('action', '=', action).orderBy('id', 'desc').executeTakeFirst();

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    // A non-admin's environment create asks Temporal whether an agent already polls the queue (503 without it).
    app = createApp({ config, db: db.db, temporal: (await testTemporal()).client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const name of ['pay', 'shop']) await ok(ADMIN, 'POST', '/api/teams', { name }, 201);
    const grants: Record<string, Doc> = {
      payEditor: { teams: ['pay:editor'] },
      payApprover: { teams: ['pay:approver'] },
      shopApprover: { teams: ['shop:approver'] },
      payAdmin: { teams: ['pay:admin'] },
      bothAdmin: { teams: ['pay:admin', 'shop:admin'] },
      legacy: { scopes: ['write'] },
    };
    for (const [name, grant] of Object.entries(grants)) {
      const created = await ok(ADMIN, 'POST', '/api/tokens', { name, ...grant }, 201);
      t[name] = { id: created.id, token: created.token };
    }
  });
  after(async () => db?.close());

  it('a token created with --team holds exactly those roles and the scope they need; unknown teams and roles are named', async () => {
    const listed = (await ok(ADMIN, 'GET', '/api/tokens', undefined, 200)).items as Doc[];
    const payEditor = listed.find((x) => x.id === t.payEditor!.id)!;
    assert.deepEqual(payEditor.teams, ['pay:editor']);
    assert.deepEqual(payEditor.scopes, ['write']);
    assert.deepEqual(listed.find((x) => x.id === t.legacy!.id)!.teams, []);
    const bad = await call(ADMIN, 'POST', '/api/tokens', { name: 'x', teams: ['nowhere:editor'] });
    assert.equal(bad.status, 400);
    assert.deepEqual(bad.body.errors, [{ path: 'teams.0', message: 'no team named "nowhere"' }]);
    const role = await call(ADMIN, 'POST', '/api/tokens', { name: 'x', teams: ['pay:owner'] });
    assert.equal(role.status, 400);
    assert.equal(role.body.errors[0].path, 'teams.0');
    assert.match(role.body.errors[0].message, /role "owner" is not one of viewer, editor, approver, admin/);
    const neither = await call(ADMIN, 'POST', '/api/tokens', { name: 'x' });
    assert.equal(neither.status, 400);
    assert.equal(neither.body.errors[0].path, 'scopes');
  });

  it('lists teams and members a page at a time, by name: a token with several roles is never split across pages', async () => {
    for (const name of ['pg-a', 'pg-b', 'pg-c']) await ok(ADMIN, 'POST', '/api/teams', { name }, 201);
    const pages = async (path: string, token = ADMIN) => {
      const seen: Doc[][] = [];
      let cursor: string | null = null;
      do {
        const page: Doc = await ok(token, 'GET', `${path}?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, undefined, 200);
        assert.ok(page.items.length <= 2);
        seen.push(page.items);
        cursor = page.nextCursor;
      } while (cursor);
      return seen;
    };
    const names = (await db.db.selectFrom('teams').select('name').orderBy('name').execute()).map((r) => r.name);
    const teams = await pages('/api/teams');
    assert.ok(teams.length >= 3, 'more than one page');
    assert.deepEqual(teams.flat().map((t) => t.name), names);
    // A team admin pages through what it may read, no more.
    assert.deepEqual((await pages('/api/teams', t.payAdmin!.token)).flat().map((x) => x.name), ['pay']);

    const whole: Doc = await ok(ADMIN, 'GET', '/api/teams/pay/members?limit=500', undefined, 200);
    assert.equal(whole.nextCursor, null);
    const both = whole.items.find((m: Doc) => m.tokenName === 'payApprover');
    await ok(ADMIN, 'PUT', `/api/teams/pay/members/${t.payApprover!.id}`, { roles: ['approver', 'viewer'] }, 200);
    const paged = (await pages('/api/teams/pay/members')).flat();
    assert.ok(paged.length >= 4);
    assert.deepEqual(paged.map((m) => m.tokenId), whole.items.map((m: Doc) => m.tokenId));
    assert.deepEqual(paged.find((m) => m.tokenId === both.tokenId)!.roles, ['approver', 'viewer']);
    await ok(ADMIN, 'PUT', `/api/teams/pay/members/${t.payApprover!.id}`, { roles: both.roles }, 200);

    for (const bad of ['limit=0', 'limit=501', 'limit=many', `cursor=${'x'.repeat(101)}`]) {
      const res = await call(ADMIN, 'GET', `/api/teams?${bad}`);
      assert.equal(res.status, 400, bad);
      assert.match(JSON.stringify(res.body), /limit|cursor/, bad);
    }
  });

  it('audit rows record the team and the actor of each change', async () => {
    const created = await ok(t.payEditor!.token, 'POST', '/api/rules', rule(`audited-${randomUUID().slice(0, 6)}`, 'pay'), 201);
    assert.equal(created.team, 'pay');
    assert.deepEqual(await auditOf(created.id, 'rule.create').then((a) => [a?.actor, a?.team]), ['token:payEditor', 'pay']);
    await ok(t.payEditor!.token, 'DELETE', `/api/rules/${created.id}`, undefined, 200);
    assert.deepEqual(await auditOf(created.id, 'rule.delete').then((a) => [a?.actor, a?.team]), ['token:payEditor', 'pay']);
    const env = `pay-audited-${randomUUID().slice(0, 6)}`;
    await ok(t.payEditor!.token, 'POST', '/api/environments', { name: env, team: 'pay' }, 201);
    assert.deepEqual(await auditOf(env, 'environment.create').then((a) => [a?.actor, a?.team]), ['token:payEditor', 'pay']);
    const page = (await ok(ADMIN, 'GET', '/api/audit?team=pay&limit=500', undefined, 200)).items as Doc[];
    assert.ok(page.length >= 3 && page.every((e) => e.team === 'pay'), 'GET /api/audit?team= answers that team only');
    assert.ok(page.some((e) => e.entityId === env && e.actor === 'token:payEditor' && e.action === 'environment.create'));
  });

  it("an approver of another team cannot decide a team's gated action; its own team's approver can, audited under the team", async () => {
    const r = await ok(t.payEditor!.token, 'POST', '/api/rules', rule(`gated-${randomUUID().slice(0, 6)}`, 'pay'), 201);
    const incident = `QT${randomUUID().slice(0, 6).toUpperCase()}`;
    await db.db.insertInto('incidents').values({ id: incident, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
    const run = `${incident}:gate`;
    await db.db
      .insertInto('action_runs')
      .values({ id: run, idempotency_key: run, incident_id: incident, rule_id: r.id, rule_version: 1, action_index: 0, action_id: 'gate', action_type: 'pagerduty.note', status: 'awaiting_approval' })
      .execute();
    const path = `/api/incidents/${incident}/approvals/${run}`;
    for (const who of ['shopApprover', 'payEditor', 'legacy']) {
      const res = await call(t[who]!.token, 'POST', path, { decision: 'approve' });
      assert.equal(res.status, 403, `${who}: ${JSON.stringify(res.body)}`);
    }
    assert.equal((await db.db.selectFrom('action_runs').select('approval').where('id', '=', run).executeTakeFirstOrThrow()).approval, null, 'no decision was recorded');
    const decided = await ok(t.payApprover!.token, 'POST', path, { decision: 'reject', comment: 'not now' }, 202);
    assert.equal(decided.actor, 'token:payApprover');
    assert.deepEqual(await auditOf(run, 'approval.reject').then((a) => [a?.actor, a?.team]), ['token:payApprover', 'pay']);
  });

  it("an approval link decides only for an approver of the rule's team: another team's approver is refused and the link stays unused", async () => {
    const r = await ok(t.payEditor!.token, 'POST', '/api/rules', rule(`linked-${randomUUID().slice(0, 6)}`, 'pay'), 201);
    const incident = `QL${randomUUID().slice(0, 6).toUpperCase()}`;
    await db.db.insertInto('incidents').values({ id: incident, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
    const run = `${incident}:gate`;
    await db.db
      .insertInto('action_runs')
      .values({ id: run, idempotency_key: run, incident_id: incident, rule_id: r.id, rule_version: 1, action_index: 0, action_id: 'gate', action_type: 'pagerduty.note', status: 'awaiting_approval' })
      .execute();
    const links = await mintApprovalLinks(db.db, { actionRunId: run, publicUrl: 'https://selfheal.example', expiresAt: new Date(Date.now() + 3_600_000) });
    const token = new URL(links.approve).searchParams.get('token')!;
    const refused = await call(t.shopApprover!.token, 'POST', '/approvals/link', { action: run, token });
    assert.equal(refused.status, 403, JSON.stringify(refused.body));
    assert.match(String(refused.body.detail), /team "pay"; this needs the approver role/);
    assert.equal((await db.db.selectFrom('action_runs').select('approval').where('id', '=', run).executeTakeFirstOrThrow()).approval, null, 'no decision was recorded');
    assert.equal((await db.db.selectFrom('approval_links').select('used_at').where('action_run_id', '=', run).where('decision', '=', 'approve').executeTakeFirstOrThrow()).used_at, null, 'the link is still unused');
    const decided = await ok(t.payApprover!.token, 'POST', '/approvals/link', { action: run, token }, 202);
    assert.equal(decided.actor, 'token:payApprover');
    assert.deepEqual(await auditOf(run, 'approval.approve').then((a) => [a?.actor, a?.team]), ['token:payApprover', 'pay']);
  });

  it('moving an object between teams needs admin of both; the move is audited with the team before and after', async () => {
    const r = await ok(t.payEditor!.token, 'POST', '/api/rules', rule(`mover-${randomUUID().slice(0, 6)}`, 'pay'), 201);
    const move = (token: string, version: number) => call(token, 'PUT', `/api/rules/${r.id}`, { ...rule(r.name), team: 'shop' }, { 'if-match': `"${version}"` });
    for (const who of ['payEditor', 'payAdmin']) {
      const res = await move(t[who]!.token, 1);
      assert.equal(res.status, 403, `${who}: ${JSON.stringify(res.body)}`);
      assert.deepEqual(res.body.errors, [{ path: 'team', message: 'needs admin of "pay" and of "shop"' }]);
    }
    assert.equal((await db.db.selectFrom('rules').select('team').where('id', '=', r.id).executeTakeFirstOrThrow()).team, 'pay');
    const moved = await move(t.bothAdmin!.token, 1);
    assert.equal(moved.status, 200, JSON.stringify(moved.body));
    assert.equal(moved.body.team, 'shop');
    const a = await auditOf(r.id, 'rule.update');
    assert.equal(a?.team, 'shop');
    assert.equal((a?.before as Doc).team, 'pay');
    assert.equal((a?.after as Doc).team, 'shop');
    assert.equal((await call(t.payEditor!.token, 'GET', `/api/rules/${r.id}`)).status, 404, 'gone from pay');
    const unknown = await call(ADMIN, 'PUT', `/api/rules/${r.id}`, { ...rule(r.name), team: 'nowhere' }, { 'if-match': '"2"' });
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.errors[0].path, 'team');
  });

  it("a job may target only its team's environments", async () => {
    const mine = `pay-vm-${randomUUID().slice(0, 6)}`;
    const theirs = `shop-vm-${randomUUID().slice(0, 6)}`;
    await ok(t.payEditor!.token, 'POST', '/api/environments', { name: mine, team: 'pay' }, 201);
    await ok(t.bothAdmin!.token, 'POST', '/api/environments', { name: theirs, team: 'shop' }, 201);
    const res = await call(t.payEditor!.token, 'POST', '/api/jobs', { name: `reach ${mine}`, team: 'pay', schedule: { interval: '1h' }, targets: { environments: [mine, theirs] }, script: 'probe.sh' });
    assert.equal(res.status, 400);
    assert.deepEqual(res.body.errors, [{ path: 'targets.environments', message: `${theirs} belongs to another team` }]);
    assert.equal((await db.db.selectFrom('jobs').select('id').where('name', '=', `reach ${mine}`).execute()).length, 0);
  });

  it("another team's job naming an environment before it existed neither blocks its deletion nor shows that job's id", async () => {
    const name = `shop-later-${randomUUID().slice(0, 6)}`;
    // The API refuses a target that is not registered now; this job stands for one pay's editor wrote before
    // that (its row as the API stored it). At run time a job reaches only its own team's environments.
    const definition = { id: `reach-${name}`, name: `reach ${name}`, team: 'pay', schedule: { interval: '1h' }, targets: { environments: [name] }, script: 'probe.sh', enabled: false };
    const refused = await call(t.payEditor!.token, 'POST', '/api/jobs', definition);
    assert.equal(refused.status, 400, JSON.stringify(refused.body));
    const job = { id: definition.id };
    await db.db.insertInto('jobs').values({ id: job.id, name: definition.name, definition: JSON.stringify(definition), enabled: false, schedule_id: `job-${job.id}`, team: 'pay' }).execute();
    await ok(t.bothAdmin!.token, 'POST', '/api/environments', { name, team: 'shop' }, 201);
    const gone = await call(t.bothAdmin!.token, 'DELETE', `/api/environments/${name}`);
    assert.equal(gone.status, 204, JSON.stringify(gone.body));
    assert.ok(!JSON.stringify(gone.body ?? '').includes(String(job.id)));
    // Its own team's job still holds it.
    const own = `pay-held-${randomUUID().slice(0, 6)}`;
    await ok(t.payEditor!.token, 'POST', '/api/environments', { name: own, team: 'pay' }, 201);
    await ok(t.payEditor!.token, 'POST', '/api/jobs', { name: `reach ${own}`, team: 'pay', schedule: { interval: '1h' }, targets: { environments: [own] }, script: 'probe.sh', enabled: false }, 201);
    assert.equal((await call(t.payEditor!.token, 'DELETE', `/api/environments/${own}`)).status, 409);
  });

  it("a rule name taken by another team's rule answers 409 without that rule's id; its own team's, with it", async () => {
    const name = `shop-only-${randomUUID().slice(0, 6)}`;
    const theirs = await ok(t.bothAdmin!.token, 'POST', '/api/rules', rule(name, 'shop'), 201);
    const res = await call(t.payEditor!.token, 'POST', '/api/rules', rule(name, 'pay'));
    assert.equal(res.status, 409);
    assert.match(res.body.detail, /already exists in a team you cannot read/);
    assert.equal(res.body.ruleId, undefined);
    assert.ok(!JSON.stringify(res.body).includes(String(theirs.id)), JSON.stringify(res.body));
    // Renaming its own rule to the taken name: the same.
    const mine = await ok(t.payEditor!.token, 'POST', '/api/rules', rule(`${name}-pay`, 'pay'), 201);
    const renamed = await call(t.payEditor!.token, 'PUT', `/api/rules/${mine.id}`, rule(name, 'pay'), { 'if-match': `"${mine.version}"` });
    assert.equal(renamed.status, 409);
    assert.ok(!JSON.stringify(renamed.body).includes(String(theirs.id)), JSON.stringify(renamed.body));
    // A reader of the team holding it is told which rule.
    const seen = await call(t.bothAdmin!.token, 'POST', '/api/rules', rule(name, 'pay'));
    assert.equal(seen.status, 409);
    assert.equal(seen.body.ruleId, theirs.id);
  });

  it('a token without memberships acts on the default team by its scope: creates there, not elsewhere', async () => {
    const created = await ok(t.legacy!.token, 'POST', '/api/rules', rule(`legacy-${randomUUID().slice(0, 6)}`), 201);
    assert.equal(created.team, 'default');
    assert.equal((await call(t.legacy!.token, 'POST', '/api/rules', rule(`legacy-${randomUUID().slice(0, 6)}`, 'pay'))).status, 403);
    assert.equal((await call(t.payEditor!.token, 'GET', `/api/rules/${created.id}`)).status, 404, "a team token does not see default's objects");
    const teams = (await ok(t.legacy!.token, 'GET', '/api/teams', undefined, 200)).items as Doc[];
    assert.deepEqual(teams.map((x) => [x.name, x.roles]), [['default', ['approver', 'editor']]]);
  });

  it("a team admin manages its team's memberships, but may not give a legacy token its first one (404: not its team's) nor take a token's last", async () => {
    const member = await ok(ADMIN, 'POST', '/api/tokens', { name: 'member', teams: ['pay:viewer'] }, 201);
    const set = await ok(t.payAdmin!.token, 'PUT', `/api/teams/pay/members/${member.id}`, { roles: ['editor', 'viewer'] }, 200);
    assert.deepEqual(set.roles, ['editor', 'viewer']);
    assert.deepEqual(await auditOf(member.id, 'team.membership').then((a) => [a?.actor, a?.team, a?.before, a?.after]), [
      'token:payAdmin',
      'pay',
      { roles: ['viewer'] },
      { roles: ['editor', 'viewer'] },
    ]);
    const last = await call(t.payAdmin!.token, 'DELETE', `/api/teams/pay/members/${member.id}`);
    assert.equal(last.status, 403);
    assert.match(last.body.detail, /no team, acting on the default team/);
    const first = await call(t.payAdmin!.token, 'PUT', `/api/teams/pay/members/${t.legacy!.id}`, { roles: ['viewer'] });
    assert.equal(first.status, 404, JSON.stringify(first.body));
    assert.equal(first.body.detail, `token ${t.legacy!.id} is not known`);
    const members = (await ok(t.payAdmin!.token, 'GET', '/api/teams/pay/members', undefined, 200)).items as Doc[];
    assert.deepEqual(members.find((m) => m.tokenId === member.id)?.roles, ['editor', 'viewer']);
    assert.ok(!members.some((m) => m.tokenId === t.legacy!.id));
    const bad = await call(t.payAdmin!.token, 'PUT', `/api/teams/pay/members/${member.id}`, { roles: ['owner'] });
    assert.equal(bad.status, 400);
    assert.equal(bad.body.errors[0].path, 'roles.0');
    assert.match(bad.body.type ?? '', /problems/);
  });

  it("an expired token is no team's member: not listed, and setting or removing its roles is 404 with nothing audited", async () => {
    // The members list and the role changes filtered out revoked tokens only: an expired one was listed as
    // a member and took roles (200, audited) that it could never use.
    const expired = await ok(ADMIN, 'POST', '/api/tokens', { name: 'expired-member', teams: ['pay:viewer', 'shop:viewer'] }, 201);
    await db.db.updateTable('api_tokens').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', expired.id).execute();
    const members = (await ok(t.payAdmin!.token, 'GET', '/api/teams/pay/members', undefined, 200)).items as Doc[];
    assert.ok(!members.some((m) => m.tokenId === expired.id), JSON.stringify(members));
    for (const [method, body] of [['PUT', { roles: ['editor'] }], ['DELETE', undefined]] as const) {
      const res = await call(t.bothAdmin!.token, method, `/api/teams/pay/members/${expired.id}`, body);
      assert.equal(res.status, 404, `${method}: ${JSON.stringify(res.body)}`);
    }
    assert.equal(await auditOf(expired.id, 'team.membership'), undefined);
    assert.deepEqual((await db.db.selectFrom('team_memberships').select('role').where('token_id', '=', expired.id).where('team', '=', 'pay').execute()).map((r) => r.role), ['viewer']);
  });

  it("removing a token from a team it is not in is 404: neither its name in the answer nor an entry in the team's audit", async () => {
    // It answered 200 with the other team's token named and wrote a team.membership entry under pay for a
    // change that was none.
    const shopOnly = await ok(ADMIN, 'POST', '/api/tokens', { name: 'shop-only-member', teams: ['shop:editor'] }, 201);
    const res = await call(t.payAdmin!.token, 'DELETE', `/api/teams/pay/members/${shopOnly.id}`);
    assert.equal(res.status, 404, JSON.stringify(res.body));
    assert.match(res.body.detail, /is not known$/);
    assert.ok(!JSON.stringify(res.body).includes('shop-only-member'), JSON.stringify(res.body));
    assert.equal(await auditOf(shopOnly.id, 'team.membership'), undefined);
    // Nor for a global admin; a legacy token (no team at all) is the same 404, not a 403 naming it.
    const byAdmin = await call(ADMIN, 'DELETE', `/api/teams/pay/members/${shopOnly.id}`);
    assert.equal(byAdmin.status, 404);
    assert.match(byAdmin.body.detail, /is not a member of team pay/);
    const legacy = await call(t.payAdmin!.token, 'DELETE', `/api/teams/pay/members/${t.legacy!.id}`);
    assert.equal(legacy.status, 404, JSON.stringify(legacy.body));
    assert.deepEqual((await db.db.selectFrom('team_memberships').select(['team', 'role']).where('token_id', '=', shopOnly.id).execute()), [{ team: 'shop', role: 'editor' }]);
  });

  it("the members cursor is a position, not a key: another team's token id, an unknown one and garbage are the same 400, and a made-up position reaches the team's own members only", async () => {
    // Before, the cursor was a token id looked up among every token: another team's id gave a page (whose
    // members told where that token's name sorted) and an unknown id an empty one, an existence oracle.
    const shopOnly = await ok(ADMIN, 'POST', '/api/tokens', { name: 'cursor-shop-only', teams: ['shop:viewer'] }, 201);
    const answers: Doc[] = [];
    for (const cursor of [shopOnly.id, randomUUID(), 'not-a-cursor']) {
      const res = await call(t.payAdmin!.token, 'GET', `/api/teams/pay/members?cursor=${encodeURIComponent(cursor)}`);
      assert.equal(res.status, 400, `${cursor}: ${JSON.stringify(res.body)}`);
      answers.push({ ...res.body, instance: undefined, requestId: undefined });
    }
    assert.deepEqual(answers[0], answers[1]);
    assert.deepEqual(answers[0], answers[2]);
    assert.deepEqual(answers[0]!.errors, [{ path: 'cursor', message: 'not a cursor this listing gave' }]);
    // A position made up from any name is only a place in pay's list.
    const made = Buffer.from(JSON.stringify(['a', '0'])).toString('base64url');
    const page = await ok(t.payAdmin!.token, 'GET', `/api/teams/pay/members?limit=500&cursor=${made}`, undefined, 200);
    const whole = await ok(t.payAdmin!.token, 'GET', '/api/teams/pay/members?limit=500', undefined, 200);
    assert.ok(!JSON.stringify(page).includes('cursor-shop-only'));
    assert.deepEqual(page.items.map((m: Doc) => m.tokenId), whole.items.filter((m: Doc) => m.tokenName > 'a').map((m: Doc) => m.tokenId));
  });

  it("a team admin cannot learn a token's name from its id: another team's token, one of no team and an unknown id are the same 404, and nothing changes", async () => {
    // Before, PUT answered 200 with another team's token named (and gave it a role in pay), and 403 naming a
    // token of no team: any token id told a team admin the name behind it.
    const shopOnly = await ok(ADMIN, 'POST', '/api/tokens', { name: 'shop-secret-name', teams: ['shop:viewer'] }, 201);
    const noTeam = await ok(ADMIN, 'POST', '/api/tokens', { name: 'no-team-secret-name', scopes: ['read'] }, 201);
    for (const id of [shopOnly.id, noTeam.id, randomUUID()]) {
      for (const [method, body] of [['PUT', { roles: ['viewer'] }], ['DELETE', undefined]] as const) {
        const res = await call(t.payAdmin!.token, method, `/api/teams/pay/members/${id}`, body);
        assert.equal(res.status, 404, `${method} ${id}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.detail, `token ${id} is not known`);
        assert.ok(!JSON.stringify(res.body).includes('secret-name'), JSON.stringify(res.body));
      }
    }
    for (const id of [shopOnly.id, noTeam.id]) assert.equal(await auditOf(id, 'team.membership'), undefined);
    assert.deepEqual(await db.db.selectFrom('team_memberships').select(['team', 'role']).where('token_id', '=', shopOnly.id).execute(), [{ team: 'shop', role: 'viewer' }]);
    // An admin of both teams reaches it through shop, and a global admin reaches any token.
    assert.equal((await ok(t.bothAdmin!.token, 'PUT', `/api/teams/pay/members/${shopOnly.id}`, { roles: ['viewer'] }, 200)).tokenName, 'shop-secret-name');
    assert.equal((await ok(ADMIN, 'PUT', `/api/teams/pay/members/${noTeam.id}`, { roles: ['viewer'] }, 200)).tokenName, 'no-team-secret-name');
  });

  it("two team admins removing a token from their two teams at once cannot together take its last team", async () => {
    // Unlocked, each removal saw the other team's membership still there and both went through: the token
    // was left in no team, acting on the default team by the write scope its editor roles had given it.
    const defaultRule = await ok(ADMIN, 'POST', '/api/rules', rule('default-team-rule'), 201);
    const target = await ok(ADMIN, 'POST', '/api/tokens', { name: 'raced', teams: ['pay:editor', 'shop:editor'] }, 201);
    for (let round = 0; round < 8; round++) {
      const answers = await Promise.all(['pay', 'shop'].map((team) => call(t.bothAdmin!.token, 'DELETE', `/api/teams/${team}/members/${target.id}`)));
      assert.deepEqual(answers.map((a) => a.status).sort(), [200, 403], `round ${round}: ${JSON.stringify(answers.map((a) => a.body))}`);
      const left = await db.db.selectFrom('team_memberships').select('team').where('token_id', '=', target.id).execute();
      assert.equal(left.length, 1, `round ${round}: the token kept one team`);
      const lost = left[0]!.team === 'pay' ? 'shop' : 'pay';
      await ok(t.bothAdmin!.token, 'PUT', `/api/teams/${lost}/members/${target.id}`, { roles: ['editor'] }, 200);
    }
    assert.equal((await call(target.token, 'GET', `/api/rules/${defaultRule.id}`)).status, 404, 'still no reach into the default team');
  });
});
