// The operator's destination lists (docs/security.md "Destination lists"): a `write` token chooses whom a
// notify.email action mails, which host a notify.webhook posts to and which GitHub repository a work item
// is filed in, and all carry incident details. With NOTIFY_EMAIL_ALLOW, NOTIFY_WEBHOOK_ALLOW or
// GITHUB_REPOS_ALLOW set, a rule (or job)
// naming anything else is refused when saved (400 naming each field; a rollback to such a version 409),
// and the worker refuses again before it contacts the peer, so a rule saved before the list sends nothing.
// A guard page address off the list stops the process at start. Real SMTP relay, real Postgres, a local
// webhook receiver and GitHub API peer.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { PlannedAction, RunActionInput } from '../../activities/types.js';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { ConfigError, loadConfig, openDestinationLists } from '../../src/config.js';
import { parseEmailAllow, parseRepoAllow, parseWebhookAllow, recipientRefused, repoRefused, webhookRefused } from '../../src/domain/destination-lists.js';
import { createLogger } from '../../src/logger.js';
import { actionActivities } from '../helpers/action-activities.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startGitHubPeer, startHttpPeer, type GitHubPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';

const ADMIN = 'email-recipients-admin-token-0123456789';
const ALLOW = 'example.com, *.corp.example, boss@partner.example';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

/** The API over `db`, with the settings of `env`. */
function api(db: TestDatabase, env: Record<string, string> = {}) {
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000', ...env });
  const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  return async (method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number; type: string | null; body: Doc }> => {
    const h: Record<string, string> = { authorization: `Bearer ${ADMIN}`, ...headers };
    if (body !== undefined) h['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers: h, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, type: res.headers.get('content-type'), body: text ? (JSON.parse(text) as Doc) : {} };
  };
}

function actionInput(action: Omit<PlannedAction, 'index' | 'when'>): RunActionInput {
  const incidentId = `Q${randomUUID().slice(0, 8).toUpperCase()}`;
  return { actionRunId: `${incidentId}:r-1:${action.id}:E${randomUUID()}`, incidentId, eventId: `E${randomUUID()}`, matchId: '1', ruleId: 'r-1', ruleVersion: 1, action: { index: 0, when: 'success', ...action }, dryRun: false, previous: [] };
}

/** The failure `p` ends with (undefined when it succeeds). */
const failureOf = (p: Promise<unknown>) =>
  p.then(
    () => undefined,
    (e: unknown) => e,
  );

describe('security: email goes only to recipients NOTIFY_EMAIL_ALLOW allows', function () {
  describe('the list', function () {
    const policy = (() => {
      const parsed = parseEmailAllow(ALLOW.split(',').map((s) => s.trim()));
      assert.ok('policy' in parsed && parsed.policy);
      return parsed.policy;
    })();

    it('allows an address at a listed domain, at a subdomain of a *.domain, and a listed address, in any case', function () {
      for (const ok of ['oncall@example.com', 'OnCall@EXAMPLE.com', 'sre@ops.corp.example', 'a@b.ops.corp.example', 'Boss@partner.example']) {
        assert.equal(recipientRefused(ok, policy), undefined, ok);
      }
    });

    it('refuses look-alikes: another domain ending in the name, the parent of a *.domain, a sibling address, a Unicode look-alike', function () {
      for (const bad of ['x@evilexample.com', 'x@example.com.evil.example', 'x@corp.example', 'x@evilcorp.example', 'intern@partner.example', 'x@exаmple.com']) {
        assert.match(recipientRefused(bad, policy) ?? '', /NOTIFY_EMAIL_ALLOW/, bad);
      }
    });

    it('refuses a recipient string the mail library would read as more than one address or as a display name', function () {
      for (const smuggled of ['ok@example.com,leak@evil.example', 'ok@example.com;leak@evil.example', 'Ops <leak@evil.example>', '"ok@example.com" <leak@evil.example>', 'ok@example.com leak@evil.example']) {
        assert.match(recipientRefused(smuggled, policy) ?? '', /not a plain email address/, smuggled);
      }
    });

    it('without a list any address may be emailed; a bad entry is a configuration error naming it', function () {
      assert.equal(recipientRefused('anyone@anywhere.example', undefined), undefined);
      assert.throws(() => loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'example.com, not a domain' }), (e: Error) => e instanceof ConfigError && /NOTIFY_EMAIL_ALLOW .*"not a domain"/.test(e.message));
      assert.throws(() => loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'x@y@z.example' }), /NOTIFY_EMAIL_ALLOW/);
    });

    it('a guard page address off the list stops the process at start, not at the moment the page must go out', function () {
      assert.throws(
        () => loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'example.com', SELFHEAL_GUARD_PAGE_EMAIL: 'sre@example.com,pager@elsewhere.example' }),
        (e: Error) => e instanceof ConfigError && /SELFHEAL_GUARD_PAGE_EMAIL: pager@elsewhere\.example is not a recipient NOTIFY_EMAIL_ALLOW allows/.test(e.message),
      );
      assert.deepEqual(loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'example.com', SELFHEAL_GUARD_PAGE_EMAIL: 'sre@example.com' }).guards.page.email, ['sre@example.com']);
    });
  });

  describe('saving', function () {
    let db: TestDatabase;
    before(async () => {
      db = await createTestDatabase();
    });
    after(async () => db?.close());

    const email = (id: string, to: string[]) => ({ id, type: 'notify.email', to, subject: 'incident {{incident.id}}', body: '{{incident.title}}' });
    const rulesNamed = (name: string) => db.db.selectFrom('rules').select('id').where('name', '=', name).execute();

    it('a rule mailing outside the list: 400 problem+json naming each refused recipient (actions and onUnverified), nothing stored', async function () {
      const call = api(db, { NOTIFY_EMAIL_ALLOW: ALLOW });
      const name = `mail-out-${randomUUID().slice(0, 6)}`;
      const rule = {
        name,
        services: ['PMAIL'],
        actions: [{ id: 'fix', type: 'script.agent', script: 'disk/cleanup.sh' }, email('tell', ['oncall@example.com', 'leak@evil.example'])],
        verify: { within: '10m', onUnverified: [email('escalate', ['Ops@Partner.Example', 'sre@ops.corp.example'])] },
      };
      const refused = await call('POST', '/api/rules', rule);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.type ?? '', /^application\/problem\+json/);
      assert.deepEqual(
        refused.body.errors.map((e: Doc) => e.path),
        ['actions.1.to.1', 'verify.onUnverified.0.to.0'],
      );
      assert.match(refused.body.errors[0].message, /^leak@evil\.example is not a recipient NOTIFY_EMAIL_ALLOW allows/);
      assert.deepEqual(await rulesNamed(name), [], 'nothing stored');

      // The same rule with only listed recipients is saved; replacing it with an outside one is refused.
      const fine = { ...rule, actions: [rule.actions[0], email('tell', ['oncall@example.com'])], verify: { within: '10m', onUnverified: [email('escalate', ['boss@partner.example'])] } };
      const created = await call('POST', '/api/rules', fine);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const replaced = await call('PUT', `/api/rules/${created.body.id}`, rule, { 'if-match': '"1"' });
      assert.equal(replaced.status, 400, JSON.stringify(replaced.body));
      assert.deepEqual(replaced.body.errors.map((e: Doc) => e.path), ['actions.1.to.1', 'verify.onUnverified.0.to.0']);
      assert.equal((await db.db.selectFrom('rules').select('version').where('id', '=', created.body.id).executeTakeFirstOrThrow()).version, 1);
    });

    it('a rollback to a version saved before the list: 409 naming the recipient, nothing written; without the list it rolls back', async function () {
      const open = api(db);
      const name = `mail-rollback-${randomUUID().slice(0, 6)}`;
      const v1 = { name, services: ['PMAIL'], actions: [email('tell', ['leak@evil.example'])] };
      const created = await open('POST', '/api/rules', v1);
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.equal((await open('PUT', `/api/rules/${id}`, { ...v1, actions: [email('tell', ['oncall@example.com'])] }, { 'if-match': '"1"' })).status, 200);
      const audits = async () => (await db.db.selectFrom('audit_log').select('id').where('entity_id', '=', id).execute()).length;
      const before = await audits();

      const refused = await api(db, { NOTIFY_EMAIL_ALLOW: ALLOW })('POST', `/api/rules/${id}/rollback`, { version: 1 });
      assert.equal(refused.status, 409, JSON.stringify(refused.body));
      assert.match(refused.body.detail, /^version 1 sends to destinations the operator's lists do not allow \(NOTIFY_EMAIL_ALLOW, NOTIFY_WEBHOOK_ALLOW, GITHUB_REPOS_ALLOW\)/);
      assert.deepEqual(refused.body.errors.map((e: Doc) => e.path), ['actions.0.to.0']);
      assert.equal((await db.db.selectFrom('rules').select('version').where('id', '=', id).executeTakeFirstOrThrow()).version, 2);
      assert.equal(await audits(), before, 'no audit entry');
      assert.equal((await open('POST', `/api/rules/${id}/rollback`, { version: 1 })).status, 200, 'the list is what refused');
    });

    it('a job whose failure notice mails outside the list: 400 naming notifyOnFailure.email.<i>, no job stored', async function () {
      const call = api(db, { NOTIFY_EMAIL_ALLOW: ALLOW });
      const id = `mail-job-${randomUUID().slice(0, 6)}`;
      const job = { id, name: id, schedule: { cron: '0 3 * * *' }, targets: { environments: ['prod-1'] }, script: 'check-passwords.sh', notifyOnFailure: { email: ['sre@example.com', 'leak@evil.example'] } };
      const refused = await call('POST', '/api/jobs', job);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.type ?? '', /^application\/problem\+json/);
      assert.deepEqual(refused.body.errors.map((e: Doc) => e.path), ['notifyOnFailure.email.1']);
      assert.match(refused.body.detail, /notifyOnFailure\.email\.1: leak@evil\.example is not a recipient NOTIFY_EMAIL_ALLOW allows/);
      assert.equal((await db.db.selectFrom('jobs').select('id').where('id', '=', id).execute()).length, 0);
    });
  });

  describe('sending (the worker, against a real relay)', function () {
    let db: TestDatabase;
    let smtp: SmtpPeer;
    before(async () => {
      db = await createTestDatabase();
    });
    beforeEach(async () => {
      smtp = await startSmtpPeer();
    });
    afterEach(async () => smtp?.close());
    after(async () => db?.close());

    const activities = (extra: Record<string, string>) => actionActivities(db, { SMTP_URL: `smtp://127.0.0.1:${smtp.port}?plaintext=true`, SMTP_FROM: 'selfheal@example.com', ...extra });
    const input = (to: string[]) => actionInput({ id: 'tell', type: 'notify.email', params: { to, subject: `disk full ${randomUUID()}`, body: 'db-7: /var at 97%' } });

    it('an action stored before the list, naming one listed and one outside recipient: fails for good, the relay is never contacted', async function () {
      const i = input(['oncall@example.com', 'leak@evil.example']);
      const err = await failureOf(activities({ NOTIFY_EMAIL_ALLOW: ALLOW }).executeAction(i));
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /email not sent to anyone: leak@evil\.example is not a recipient NOTIFY_EMAIL_ALLOW allows/);
      assert.equal(smtp.connections, 0, 'no SMTP conversation at all');
      assert.equal(smtp.messages.length, 0);
      const effect = await db.db.selectFrom('side_effects').select(['state']).where('key', '=', i.actionRunId).executeTakeFirstOrThrow();
      assert.equal(effect.state, 'failed', 'known not sent (never unknown)');
    });

    it('listed recipients are mailed as before; without the list, anyone', async function () {
      const listed = input(['OnCall@example.com', 'sre@ops.corp.example']);
      await activities({ NOTIFY_EMAIL_ALLOW: ALLOW }).executeAction(listed);
      const anyone = input(['someone@elsewhere.example']);
      await activities({}).executeAction(anyone);
      const got = await smtp.waitFor(2);
      assert.deepEqual(
        got.map((m) => m.envelope.to),
        [['OnCall@example.com', 'sre@ops.corp.example'], ['someone@elsewhere.example']],
      );
    });
  });
});

describe('security: GitHub work items go only to repositories GITHUB_REPOS_ALLOW allows', function () {
  const REPOS = 'acme/ops, Platform/*';

  it('allows a listed owner/name and any repository of an owner/*, in any case; refuses the rest', function () {
    const parsed = parseRepoAllow(REPOS.split(',').map((s) => s.trim()));
    assert.ok('policy' in parsed && parsed.policy);
    for (const ok of ['acme/ops', 'ACME/Ops', 'platform/db', 'PLATFORM/anything']) assert.equal(repoRefused(ok, parsed.policy), undefined, ok);
    for (const bad of ['acme/ops-public', 'acme/other', 'platform-evil/db', 'attacker/acme', 'torvalds/linux']) assert.match(repoRefused(bad, parsed.policy) ?? '', /is not a repository GITHUB_REPOS_ALLOW allows/, bad);
    assert.equal(repoRefused('torvalds/linux', undefined), undefined, 'without a list, any repository the token reaches');
    for (const entry of ['acme', 'acme/ops/x', '*/ops', 'acme/..', 'https://github.com/acme/ops']) {
      assert.throws(() => loadConfig({ NODE_ENV: 'test', GITHUB_REPOS_ALLOW: `acme/ops,${entry}` }), (e: Error) => e instanceof ConfigError && /GITHUB_REPOS_ALLOW .*neither owner\/name nor owner\/\*/.test(e.message), entry);
    }
  });

  describe('saving and sending', function () {
    let db: TestDatabase;
    let gh: GitHubPeer;
    before(async () => {
      db = await createTestDatabase();
    });
    beforeEach(async () => {
      gh = await startGitHubPeer({ owner: 'acme', repo: 'ops' });
    });
    afterEach(async () => gh?.close());
    after(async () => db?.close());

    const issue = (id: string, repo: string) => ({ id, type: 'workitem', provider: 'github', repo, title: 'Disk full: {{incident.title}}', description: '{{incident.id}}' });

    it('a rule filing in a repository off the list: 400 naming actions.<i>.repo and verify.onUnverified.<i>.repo; a rollback to one 409', async function () {
      const call = api(db, { GITHUB_REPOS_ALLOW: REPOS });
      const name = `gh-out-${randomUUID().slice(0, 6)}`;
      const rule = { name, services: ['PGH'], actions: [issue('ticket', 'attacker/public-dump')], verify: { within: '10m', onUnverified: [issue('escalate', 'acme/ops-public')] } };
      const refused = await call('POST', '/api/rules', rule);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.type ?? '', /^application\/problem\+json/);
      assert.deepEqual(refused.body.errors.map((e: Doc) => [e.path, e.message]), [
        ['actions.0.repo', 'attacker/public-dump is not a repository GITHUB_REPOS_ALLOW allows (owner/name or owner/* on the list)'],
        ['verify.onUnverified.0.repo', 'acme/ops-public is not a repository GITHUB_REPOS_ALLOW allows (owner/name or owner/* on the list)'],
      ]);
      assert.equal((await db.db.selectFrom('rules').select('id').where('name', '=', name).execute()).length, 0);

      // Saved while no list was set, then the list came: rolling back to that version is refused.
      const open = api(db);
      const created = await open('POST', '/api/rules', { name, services: ['PGH'], actions: [issue('ticket', 'attacker/public-dump')] });
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const id = created.body.id as string;
      assert.equal((await call('PUT', `/api/rules/${id}`, { name, services: ['PGH'], actions: [issue('ticket', 'Platform/db')] }, { 'if-match': '"1"' })).status, 200, 'an owner/* repository is saved');
      const rollback = await call('POST', `/api/rules/${id}/rollback`, { version: 1 });
      assert.equal(rollback.status, 409, JSON.stringify(rollback.body));
      assert.deepEqual(rollback.body.errors.map((e: Doc) => e.path), ['actions.0.repo']);
      assert.equal((await db.db.selectFrom('rules').select('version').where('id', '=', id).executeTakeFirstOrThrow()).version, 2);
    });

    it('a stored action filing off the list fails for good and GitHub is never called; a listed repository gets its issue', async function () {
      const env = { GITHUB_API_URL: gh.apiUrl, GITHUB_TOKEN: gh.token, GITHUB_REPOS_ALLOW: REPOS };
      const outside = actionInput({ id: 'ticket', type: 'workitem', params: { provider: 'github', repo: 'attacker/public-dump', title: 'Disk full on db-7', description: 'root password rotated' } });
      const err = await failureOf(actionActivities(db, env).executeAction(outside));
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /GitHub issue not filed: attacker\/public-dump is not a repository GITHUB_REPOS_ALLOW allows/);
      assert.equal(gh.requests.length, 0, 'no call to GitHub at all (not even the duplicate search)');

      const listed = actionInput({ id: 'ticket', type: 'workitem', params: { provider: 'github', repo: 'acme/ops', title: 'Disk full on db-7', description: 'cleanup failed' } });
      await actionActivities(db, env).executeAction(listed);
      assert.deepEqual(gh.issues.map((i) => i.title), ['Disk full on db-7']);
    });
  });
});

describe('security: notify.webhook posts only to hosts NOTIFY_WEBHOOK_ALLOW allows', function () {
  const HOSTS = 'hooks.example.com, *.corp.example, 127.0.0.1';

  it('allows a listed host (any case), a subdomain of a *.domain and a listed IP address at any port; refuses look-alikes and userinfo tricks', function () {
    const parsed = parseWebhookAllow(HOSTS.split(',').map((s) => s.trim()));
    assert.ok('policy' in parsed && parsed.policy);
    for (const ok of ['https://hooks.example.com/incident', 'https://HOOKS.Example.com:8443/x', 'https://ci.corp.example/hook', 'http://127.0.0.1:9000/in']) {
      assert.equal(webhookRefused(ok, parsed.policy), undefined, ok);
    }
    for (const bad of ['https://x.hooks.example.com/', 'https://hooks.example.com.evil.example/', 'https://evilcorp.example/', 'https://corp.example/', 'https://hooks.example.com@collector.evil.example/', 'https://hooks.exаmple.com/', 'http://127.0.0.2/']) {
      assert.match(webhookRefused(bad, parsed.policy) ?? '', /is not a host NOTIFY_WEBHOOK_ALLOW allows/, bad);
    }
    assert.equal(webhookRefused('https://anywhere.example/', undefined), undefined, 'without a list, any host the egress rules let through');
    for (const entry of ['https://hooks.example.com', 'hooks.example.com:443', 'hooks.example.com/path', 'user@hooks.example.com']) {
      assert.throws(() => loadConfig({ NODE_ENV: 'test', NOTIFY_WEBHOOK_ALLOW: `hooks.example.com,${entry}` }), (e: Error) => e instanceof ConfigError && /NOTIFY_WEBHOOK_ALLOW .*no scheme, port or path/.test(e.message), entry);
    }
  });

  describe('saving and sending', function () {
    let db: TestDatabase;
    let sink: HttpPeer;
    before(async () => {
      db = await createTestDatabase();
    });
    beforeEach(async () => {
      sink = await startHttpPeer([{ method: 'POST', path: '/in', handle: () => ({ status: 204 }) }]);
    });
    afterEach(async () => sink?.close());
    after(async () => db?.close());

    const hook = (id: string, url: string) => ({ id, type: 'notify.webhook', url, body: '{"incident":"{{incident.id}}"}' });

    it('a rule posting to a host off the list: 400 naming actions.<i>.url and verify.onUnverified.<i>.url, nothing stored', async function () {
      const call = api(db, { NOTIFY_WEBHOOK_ALLOW: HOSTS });
      const name = `hook-out-${randomUUID().slice(0, 6)}`;
      const rule = { name, services: ['PHOOK'], actions: [hook('post', 'https://collector.evil.example/in')], verify: { within: '10m', onUnverified: [hook('shout', 'https://hooks.example.com@collector.evil.example/in')] } };
      const refused = await call('POST', '/api/rules', rule);
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
      assert.match(refused.type ?? '', /^application\/problem\+json/);
      assert.deepEqual(refused.body.errors.map((e: Doc) => [e.path, e.message]), [
        ['actions.0.url', 'collector.evil.example is not a host NOTIFY_WEBHOOK_ALLOW allows (a host or *.domain on the list)'],
        ['verify.onUnverified.0.url', 'collector.evil.example is not a host NOTIFY_WEBHOOK_ALLOW allows (a host or *.domain on the list)'],
      ]);
      assert.equal((await db.db.selectFrom('rules').select('id').where('name', '=', name).execute()).length, 0);
      const fine = await call('POST', '/api/rules', { name, services: ['PHOOK'], actions: [hook('post', 'https://ci.corp.example/in')] });
      assert.equal(fine.status, 201, JSON.stringify(fine.body));
    });

    it('a stored action posting off the list fails for good and the receiver sees nothing; a listed host gets the delivery', async function () {
      // Loopback is let through the egress rules here, so only the list stands between the rule and the receiver.
      const env = { ACTION_EGRESS_ALLOW: '127.0.0.0/8', NOTIFY_WEBHOOK_ALLOW: 'hooks.example.com' };
      const post = () => actionInput({ id: 'post', type: 'notify.webhook', params: { url: `${sink.url}/in`, body: '{"incident":"Q1","title":"root password expiring on db-7"}' } });
      const outside = post();
      const err = await failureOf(actionActivities(db, env).executeAction(outside));
      assert.ok(err instanceof ApplicationFailure, String(err));
      assert.equal(err.nonRetryable, true);
      assert.match(err.message, /webhook not sent: 127\.0\.0\.1 is not a host NOTIFY_WEBHOOK_ALLOW allows/);
      assert.equal(sink.requests.length, 0, 'the receiver saw no request');
      const effect = await db.db.selectFrom('side_effects').select(['state']).where('key', '=', outside.actionRunId).executeTakeFirstOrThrow();
      assert.equal(effect.state, 'failed', 'known not sent');

      await actionActivities(db, { ...env, NOTIFY_WEBHOOK_ALLOW: 'hooks.example.com,127.0.0.1' }).executeAction(post());
      assert.equal(sink.requests.length, 1);
    });
  });
});

describe('security: unset destination lists are named at start', function () {
  it('the API names each list left open (it warns in production), and none once all are set', function () {
    assert.deepEqual(openDestinationLists(loadConfig({ NODE_ENV: 'test' })), ['NOTIFY_EMAIL_ALLOW', 'NOTIFY_WEBHOOK_ALLOW', 'GITHUB_REPOS_ALLOW']);
    assert.deepEqual(openDestinationLists(loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'example.com' })), ['NOTIFY_WEBHOOK_ALLOW', 'GITHUB_REPOS_ALLOW']);
    assert.deepEqual(openDestinationLists(loadConfig({ NODE_ENV: 'test', NOTIFY_EMAIL_ALLOW: 'example.com', NOTIFY_WEBHOOK_ALLOW: '*.example.com', GITHUB_REPOS_ALLOW: 'acme/*' })), []);
  });
});
