import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { SIGNALS, incidentWorkflowId } from '../../src/contracts/index.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { startSmtpPeer, type SmtpPeer } from '../helpers/smtp-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { insertTestSession } from '../helpers/sessions.js';
import { eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

// Approval gates as a user and an attacker see them: who may approve (never the author of the rule version),
// what approves (only a decision recorded in Postgres through the API), when (409 once it is too late), and
// who is told (the rule's Slack channel and the PagerDuty incident, with a link to the incident's page).
describe('approval gates end to end', function () {
  const PD_TOKEN = 'pd-approvals-token';
  const PUBLIC_URL = 'https://selfheal.example.com';
  const ISSUER = 'https://login.example.com/realms/sre';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let slack: SlackPeer;
  let hook: HttpPeer;
  let smtp: SmtpPeer;
  let alice: string;
  let bob: string;
  const failing = new Set<string>();

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    slack = await startSlackPeer();
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: (req) => ({ status: failing.has(req.params.name!) ? 500 : 204 }) }]);
    smtp = await startSmtpPeer();
    process.env.SELFHEAL_SECRET_TEST_APPROVALS_SLACK = slack.webhookUrl;
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32',
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: PD_TOKEN,
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        SELFHEAL_PUBLIC_URL: PUBLIC_URL,
        SMTP_URL: `smtp://${smtp.host}:${smtp.port}?plaintext=true`,
        SMTP_FROM: 'selfheal@example.com',
        // Signed-in users (sessions written by insertTestSession) beside the tokens.
        OIDC_ISSUER_URL: ISSUER,
        OIDC_CLIENT_ID: 'selfheal',
        OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
        OIDC_ROLE_MAP: 'sre=write',
      },
      extractors: { extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] },
    });
    alice = await issueToken(stack, 'alice', ['write']);
    bob = await issueToken(stack, 'bob', ['write']);
  });
  after(async function () {
    await stack?.stop();
    await Promise.all([pd?.close(), slack?.close(), hook?.close(), smtp?.close()]);
    delete process.env.SELFHEAL_SECRET_TEST_APPROVALS_SLACK;
  });

  const hits = (name: string) => hook.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const waiting = (id: string) => eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `an action of ${id} awaiting approval`);
  const decide = (id: string, runId: string, decision: 'approve' | 'reject', token?: string) =>
    stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(runId)}`, {
      method: 'POST',
      body: JSON.stringify({ decision }),
      ...(token ? { headers: { authorization: `Bearer ${token}` } } : {}),
    });
  const slackSaid = (pattern: RegExp) => slack.messages.filter((m) => pattern.test(m.text));

  function gatedDoc(name: string, approval: { timeoutMinutes: number; onTimeout: 'approve' | 'reject' }, svc: string, extra: Partial<RuleInputDocument> = {}): RuleInputDocument {
    return {
      name: `${name}-${randomUUID().slice(0, 6)}`,
      services: [svc],
      actions: [
        { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/${name}`, body: '{}', approval: { required: true, ...approval } },
        { id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_APPROVALS_SLACK', text: '{{ rule.name }} done on {{ environment.host }}', when: 'always' },
        { id: 'mail', type: 'notify.email', to: [`oncall-${name}@example.com`], subject: 'done', body: 'done', when: 'always' },
      ],
      ...extra,
    } as RuleInputDocument;
  }
  async function gatedRule(name: string, approval: { timeoutMinutes: number; onTimeout: 'approve' | 'reject' }, extra: Partial<RuleInputDocument> = {}, author = 'token:alice') {
    const svc = newServiceId();
    const ruleId = await insertRule(stack.db.db, gatedDoc(name, approval, svc, extra), { author });
    return { svc, ruleId };
  }
  async function trigger(svc: string, host = 'db-1'): Promise<string> {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: `[${host}] replica lag`, service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    return id;
  }

  it('announces the wait with a link; the author of the rule version gets 403, someone else approves, the action runs once', async function () {
    const { svc } = await gatedRule('author', { timeoutMinutes: 30, onTimeout: 'reject' });
    const id = await trigger(svc);
    const run = await waiting(id);
    const link = `${PUBLIC_URL}/ui#/incidents/${id}`;
    await eventually(async () => slackSaid(/^\[self-healing\] Approval needed: /).some((m) => m.text.includes(link) && m.text.includes(id)), 30_000, 'the approval request in Slack');
    await eventually(async () => pd.notes(id).some((n) => n.content.startsWith('[self-healing] Approval needed') && n.content.includes(link)), 30_000, 'the approval request on the incident');
    await eventually(
      async () => smtp.messages.some((m) => m.envelope.to.includes('oncall-author@example.com') && /^\[self-healing\] Approval needed: fix of /.test(m.subject ?? '') && m.body.includes(link)),
      30_000,
      'the approval request by email',
    );

    const own = await decide(id, run.id, 'approve', alice);
    assert.equal(own.status, 403);
    assert.equal(own.headers.get('content-type'), 'application/problem+json');
    assert.match(((await own.json()) as { detail: string }).detail, /token:alice wrote version 1 of rule .*: its gated actions need the approval of someone else/);
    assert.equal((await runsOf(id))[0]!.approval, null, 'nothing recorded');

    const res = await decide(id, run.id, 'approve', bob);
    assert.equal(res.status, 202);
    assert.deepEqual(await res.json(), { actionRunId: run.id, decision: 'approve', actor: 'token:bob', delivered: true });
    await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 3 && r.every((x) => x.finished_at);
    }, 30_000, 'the run to finish');
    const runs = await runsOf(id);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['fix', 'succeeded'], ['chat', 'succeeded'], ['mail', 'succeeded']]);
    assert.equal((runs[0]!.approval as { actor: string }).actor, 'token:bob');
    assert.equal(hits('author'), 1, 'the gated action ran once');
    assert.equal((await decide(id, run.id, 'approve', bob)).status, 409, 'a second approval is too late');
    const audit = await stack.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', '=', run.id).execute();
    assert.deepEqual(audit, [{ actor: 'token:bob', action: 'approval.approve' }]);
  });

  it('an approval given after the incident resolved, before the resolve has cancelled the run, starts nothing', async function () {
    // The resolve is stored (triage committed it) and its cancellation is on its way to the rule run (the
    // incident's worker died before completing its task, say): an approval landing then must not run the
    // fix. Before, the approved action started without looking, and a quick side effect finished first.
    const { svc } = await gatedRule('resolved-wait', { timeoutMinutes: 30, onTimeout: 'reject' });
    const id = await trigger(svc);
    const run = await waiting(id);
    await stack.db.db.updateTable('incidents').set({ status: 'resolved' }).where('id', '=', id).execute();
    const res = await decide(id, run.id, 'approve', bob);
    assert.equal(res.status, 202);
    const runs = await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 3 && r.every((x) => x.finished_at) ? r : undefined;
    }, 30_000, 'the run to end');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['fix', 'cancelled'], ['chat', 'cancelled'], ['mail', 'cancelled']]);
    assert.equal(runs[0]!.error, 'not run: the incident resolved before the action started');
    assert.equal(runs[0]!.started_at, null, 'never started');
    assert.equal(hits('resolved-wait'), 0, 'the approved fix did not reach its peer');
  });

  it('the admin token cannot approve a rule it wrote either', async function () {
    const { svc } = await gatedRule('admin-author', { timeoutMinutes: 30, onTimeout: 'reject' }, {}, 'admin-token');
    const id = await trigger(svc);
    const run = await waiting(id);
    assert.equal((await decide(id, run.id, 'approve')).status, 403);
    assert.equal((await decide(id, run.id, 'reject', alice)).status, 202);
    await eventually(async () => (await runsOf(id))[0]?.status === 'rejected', 30_000, 'rejected');
    assert.equal(hits('admin-author'), 0);
  });

  it('a token issued to a person and their sign-in are one author: neither approves what the other wrote; someone else decides, and only then the action runs', async function () {
    // An admin issues Alice a token for her scripts, naming her; Alice also signs in, by subject (her
    // provider does not verify addresses), carrying her address.
    const issued = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: 'alice-ci', scopes: ['write'], owner: 'Alice@Example.com' }) });
    assert.equal(issued.status, 201);
    const aliceCi = ((await issued.json()) as { token: string }).token;
    const session = await insertTestSession(stack.db.db, { issuer: ISSUER, actor: 'user:00u1alice', subject: '00u1alice', email: 'alice@example.com', scopes: ['write'], groups: ['sre'] });
    const asAlice = (path: string, body: unknown) =>
      stack.app.request(path, { method: 'POST', headers: { cookie: session.cookie, 'x-csrf-token': session.csrf, origin: PUBLIC_URL, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const decideAsAlice = (id: string, runId: string, decision: 'approve' | 'reject') => asAlice(`/api/incidents/${id}/approvals/${encodeURIComponent(runId)}`, { decision });
    const ruleBy = async (name: string, create: (doc: RuleInputDocument) => Response | Promise<Response>) => {
      const svc = newServiceId();
      const res = await create(gatedDoc(name, { timeoutMinutes: 30, onTimeout: 'reject' }, svc));
      assert.equal(res.status, 201, await res.clone().text());
      const { id } = (await res.json()) as { id: string };
      return { svc, ruleId: id };
    };

    // Written with the token: Alice's sign-in may not approve it (nor reject it); Bob approves.
    const byToken = await ruleBy('owned-token', (doc) => stack.api('/api/rules', { method: 'POST', headers: { authorization: `Bearer ${aliceCi}` }, body: JSON.stringify(doc) }));
    const version = await stack.db.db.selectFrom('rule_versions').select(['actor', 'actor_aliases']).where('rule_id', '=', byToken.ruleId).executeTakeFirstOrThrow();
    assert.deepEqual(version, { actor: 'token:alice-ci', actor_aliases: ['user:alice@example.com'] });
    const first = await trigger(byToken.svc);
    const firstRun = await waiting(first);
    for (const decision of ['approve', 'reject'] as const) {
      const own = await decideAsAlice(first, firstRun.id, decision);
      assert.equal(own.status, 403, decision);
      assert.match(((await own.json()) as { detail: string }).detail, /token:alice-ci \(which is user:00u1alice\) wrote version 1 of rule/);
    }
    assert.equal((await runsOf(first))[0]!.approval, null, 'nothing recorded');
    assert.equal(hits('owned-token'), 0);
    assert.equal((await decide(first, firstRun.id, 'approve', bob)).status, 202);
    await eventually(async () => hits('owned-token') === 1, 30_000, 'the action to run on Bob\'s approval');

    // Written in the dashboard: the token issued to Alice may not approve it; Bob rejects, nothing runs.
    const bySession = await ruleBy('owned-session', (doc) => asAlice('/api/rules', doc));
    const second = await trigger(bySession.svc);
    const secondRun = await waiting(second);
    const own = await decide(second, secondRun.id, 'approve', aliceCi);
    assert.equal(own.status, 403);
    assert.match(((await own.json()) as { detail: string }).detail, /user:00u1alice \(which is token:alice-ci\) wrote version 1 of rule/);
    assert.equal((await decide(second, secondRun.id, 'reject', bob)).status, 202);
    await eventually(async () => (await runsOf(second))[0]?.status === 'rejected', 30_000, 'rejected');
    assert.equal(hits('owned-session'), 0, 'the gated action never ran');
    const audit = await stack.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', 'in', [firstRun.id, secondRun.id]).orderBy('id').execute();
    assert.deepEqual(audit, [{ actor: 'token:bob', action: 'approval.approve' }, { actor: 'token:bob', action: 'approval.reject' }], 'only Bob decided');
  });

  it('an approval signalled straight to Temporal, with no record in Postgres, approves nothing', async function () {
    const { svc } = await gatedRule('forged', { timeoutMinutes: 30, onTimeout: 'reject' });
    const id = await trigger(svc);
    const run = await waiting(id);
    assert.ok(run.workflow_id, 'the rule run that owns the action is recorded');
    // Anyone with Temporal access (a compromised agent's credentials) signals the rule run and the incident run.
    const forged = { actionRunId: run.id, decision: 'approve', actor: 'token:bob' };
    await stack.temporal.client.workflow.getHandle(run.workflow_id!).signal(SIGNALS.approval, forged);
    await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).signal(SIGNALS.approval, forged).catch(() => undefined);
    // The rule run read Postgres, found nothing, and goes on waiting.
    await eventually(async () => {
      const events = (await stack.temporal.client.workflow.getHandle(run.workflow_id!).fetchHistory()).events ?? [];
      const signalled = events.findIndex((e) => e.workflowExecutionSignaledEventAttributes);
      return signalled >= 0 && events.slice(signalled).some((e) => e.markerRecordedEventAttributes) ? true : undefined;
    }, 30_000, 'the forged signal handled');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal((await runsOf(id))[0]!.status, 'awaiting_approval');
    assert.equal(hits('forged'), 0, 'the gated action did not run');

    assert.equal((await decide(id, run.id, 'approve', bob)).status, 202);
    await eventually(async () => (await runsOf(id))[0]?.status === 'succeeded', 30_000, 'the real approval to run the action');
    assert.equal(hits('forged'), 1);
  });

  // The two cases below wait out a one-minute deadline (the shortest a rule may ask for), the same minute:
  // the late one's incident is triggered first, and its run waits while the other case runs.
  describe('at a deadline', function () {
    let lateCase: { id: string; run: { id: string } };
    before(async function () {
      const { svc } = await gatedRule('late', { timeoutMinutes: 1, onTimeout: 'reject' });
      const id = await trigger(svc);
      lateCase = { id, run: await waiting(id) };
    });

    // An admin who disables (or deletes, or replaces) a harmful rule stops its waiting approvals too. Before,
    // an approval checked only the version's author and team: approving went on being accepted, and
    // `onTimeout: approve` ran the old version at the deadline.
    // Its timeout notice is sent before the run checks whether the action may still start: before, it said
    // "so it runs now" in Slack and on the incident, and then nothing ran.
    it('disabling the rule while an action waits: approving gets 409, and its onTimeout: approve runs nothing, recorded skipped naming why; the timeout notice does not promise it runs', async function () {
      this.timeout(180_000);
      const svc = newServiceId();
      const doc = gatedDoc('disabled', { timeoutMinutes: 1, onTimeout: 'approve' }, svc);
      const ruleId = await insertRule(stack.db.db, doc, { author: 'token:alice' });
      const id = await trigger(svc);
      const run = await waiting(id);
      const disabled = await stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc, enabled: false }) });
      assert.equal(disabled.status, 200, await disabled.clone().text());

      const res = await decide(id, run.id, 'approve', bob);
      assert.equal(res.status, 409);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const refused = (await res.json()) as { detail: string; status: unknown };
      assert.equal(refused.status, 409, 'the problem says 409, not the action run\'s status');
      assert.match(refused.detail, new RegExp(`^rule ${ruleId} was disabled after version 1 planned action run .*: it can no longer be approved`));
      assert.equal((await runsOf(id))[0]!.approval, null, 'nothing recorded');

      const fix = await eventually(async () => (await runsOf(id)).find((r) => r.action_id === 'fix' && r.finished_at), 120_000, 'the deadline to pass');
      assert.equal(fix.status, 'skipped');
      assert.equal(fix.error, 'not run: its rule was disabled while this action waited for its approval (version 1 planned it)');
      assert.equal(fix.started_at, null, 'never started');
      assert.deepEqual(fix.approval && (fix.approval as { actor: string }).actor, 'timeout');
      assert.equal(hits('disabled'), 0, 'the approved-by-timeout action did not reach its peer');
      const honest = "the rule says approve, so it runs now unless its rule was stopped or changed, automation is paused, its circuit breaker is open or a guard stops it; the incident's action runs say what happened.";
      const notice = await eventually(async () => slackSaid(/^\[self-healing\] Approval timed out: /).find((m) => m.text.includes(id)), 30_000, 'the timeout announced in Slack');
      assert.ok(notice.text.endsWith(honest), `the Slack notice says what may still stop it: ${notice.text}`);
      const note = await eventually(async () => pd.notes(id).find((n) => n.content.startsWith('[self-healing] Approval timed out')), 30_000, 'and on the incident');
      assert.ok(note.content.includes(honest), `the incident's note too: ${note.content}`);
    });

    it('at the deadline the rule decides, says so in Slack and on the incident, and a late approval gets 409', async function () {
      this.timeout(180_000);
      const { id, run } = lateCase;
      const rejected = await eventually(async () => (await runsOf(id)).find((r) => r.status === 'rejected'), 120_000, 'the deadline to pass');
      assert.deepEqual(rejected.approval && { decision: (rejected.approval as { decision: string }).decision, actor: (rejected.approval as { actor: string }).actor }, { decision: 'reject', actor: 'timeout' });
      await eventually(async () => slackSaid(/^\[self-healing\] Approval timed out: /).some((m) => m.text.includes(id)), 30_000, 'the timeout announced in Slack');
      await eventually(async () => pd.notes(id).some((n) => n.content.startsWith('[self-healing] Approval timed out')), 30_000, 'and on the incident');
      const late = await decide(id, run.id, 'approve', bob);
      assert.equal(late.status, 409);
      assert.match(((await late.json()) as { detail: string }).detail, /already decided \(reject by timeout\)/);
      assert.equal(hits('late'), 0);
    });
  });

  it('a remediation chained after an approved notification does not run on a fleet paused while the notification waited: PagerDuty is never written', async function () {
    const svc = newServiceId();
    await insertRule(
      stack.db.db,
      {
        name: `behind-${randomUUID().slice(0, 6)}`,
        services: [svc],
        actions: [
          { id: 'ask', type: 'notify.webhook', url: `${hook.url}/hook/behind-ask`, body: '{}', approval: { required: true, timeoutMinutes: 60, onTimeout: 'reject' } },
          { id: 'ack', type: 'pagerduty.acknowledge', when: 'success' },
        ],
      } as RuleInputDocument,
      { author: 'token:alice' },
    );
    const id = await trigger(svc, 'behind-1');
    const run = await waiting(id);
    // While the notification waits, a guard crossed elsewhere pauses the fleet.
    assert.ok(await insertPause(stack.db.db, { scope: 'fleet', environment: '', guard: 'fleet.maxTargets', reason: 'test', incidentId: 'PELSEWHERE', at: new Date() }));
    try {
      const res = await decide(id, run.id, 'approve', bob);
      assert.equal(res.status, 202, await res.clone().text());
      const runs = await eventually(async () => {
        const r = await runsOf(id);
        return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
      }, 60_000, 'both actions settled');
      assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
        ['ask', 'succeeded'],
        ['ack', 'skipped'],
      ]);
      assert.match(runs[1]!.error ?? '', /^not run: automation was paused \(a guard crossed\) while the run waited for the approval of an earlier action/);
      assert.equal(hits('behind-ask'), 1, 'the approved notification went out');
      assert.equal(pd.requests.filter((r) => r.method === 'PUT' && r.path.startsWith(`/incidents/${id}`)).length, 0, 'PagerDuty was never asked to acknowledge');
      assert.notEqual(pd.incident(id)?.status, 'acknowledged');
    } finally {
      await resumePauses(stack.db.db, { scope: 'fleet', environment: '', actor: 'admin', at: new Date() });
    }
  });

  it('a rule replaced by another version, or deleted, while an action waits: approving gets 409, rejecting still works', async function () {
    const replacedSvc = newServiceId();
    const doc = gatedDoc('replaced', { timeoutMinutes: 30, onTimeout: 'approve' }, replacedSvc);
    const replacedId = await insertRule(stack.db.db, doc, { author: 'token:alice' });
    const first = await trigger(replacedSvc);
    const firstRun = await waiting(first);
    const replaced = await stack.api(`/api/rules/${replacedId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc, description: 'v2' }) });
    assert.equal(replaced.status, 200, await replaced.clone().text());
    const approve = await decide(first, firstRun.id, 'approve', bob);
    assert.equal(approve.status, 409);
    assert.match(((await approve.json()) as { detail: string }).detail, /was replaced by version 2 after version 1 planned action run .*: it can no longer be approved/);
    assert.equal((await decide(first, firstRun.id, 'reject', bob)).status, 202);
    await eventually(async () => (await runsOf(first))[0]?.status === 'rejected', 30_000, 'rejected');

    const { svc, ruleId } = await gatedRule('deleted', { timeoutMinutes: 30, onTimeout: 'approve' });
    const second = await trigger(svc);
    const secondRun = await waiting(second);
    assert.equal((await stack.api(`/api/rules/${ruleId}`, { method: 'DELETE', headers: { 'if-match': '"1"' } })).status, 200);
    const late = await decide(second, secondRun.id, 'approve', bob);
    assert.equal(late.status, 409);
    assert.match(((await late.json()) as { detail: string }).detail, /was deleted after version 1 planned action run/);
    assert.equal((await decide(second, secondRun.id, 'reject', bob)).status, 202);
    await eventually(async () => (await runsOf(second))[0]?.status === 'rejected', 30_000, 'rejected');
    assert.equal(hits('replaced') + hits('deleted'), 0);
  });

  it('a resolve during the wait cancels the rule: no side effect, Slack and the incident are told, the breaker counts what failed, approving then gets 409', async function () {
    failing.add('before-gate');
    const svc = newServiceId();
    const ruleId = await insertRule(
      stack.db.db,
      {
        name: `resolve-${randomUUID().slice(0, 6)}`,
        services: [svc],
        policies: { circuitBreaker: { failureThreshold: 1 } },
        actions: [
          { id: 'probe', type: 'notify.webhook', url: `${hook.url}/hook/before-gate`, body: '{}', retry: { maximumAttempts: 1 } },
          { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/resolve`, body: '{}', when: 'always', approval: { required: true, timeoutMinutes: 30, onTimeout: 'approve' } },
          { id: 'chat', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_TEST_APPROVALS_SLACK', text: 'done', when: 'always' },
        ],
      },
      { author: 'token:alice' },
    );
    const id = newIncidentId();
    const data = { title: '[db-9] down', service: { id: svc, type: 'service_reference', summary: 's' } };
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data, occurredAt: '2026-08-01T10:00:00Z' }));
    const run = await waiting(id);
    await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { data: { service: data.service }, occurredAt: '2026-08-01T10:05:00Z' }));
    const runs = await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 3 && r.every((x) => x.finished_at) ? r : undefined;
    }, 30_000, 'the cancelled run recorded');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['probe', 'failed'], ['fix', 'cancelled'], ['chat', 'skipped']]);
    assert.equal(runs[2]!.reason, 'not run: the rule was cancelled when the incident resolved');
    await eventually(async () => slackSaid(/^\[self-healing\] Cancelled: /).some((m) => m.text.includes(id) && m.text.includes('not run: fix, chat')), 30_000, 'the cancel announced in Slack');
    await eventually(async () => pd.notes(id).some((n) => n.content.includes('was cancelled when the incident resolved')), 30_000, 'the summary note');
    // The failure before the gate counts: threshold 1 opens the breaker, and that is announced too.
    const rule = await stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
    assert.deepEqual(rule, { breaker_state: 'open', consecutive_failures: 1 });
    await eventually(async () => slackSaid(/^\[self-healing\] Circuit breaker opened: /).some((m) => m.text.includes(id)), 30_000, 'the breaker announced');
    assert.equal((await decide(id, run.id, 'approve', bob)).status, 409);
    assert.equal(hits('resolve'), 0, 'the gated action never ran');
    assert.equal(slackSaid(/^done$/).length, 0);
    // The rule run told the incident run it ended: nothing is left running.
    await eventually(async () => ((await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { runningRules: string[] }).runningRules.length === 0, 30_000, 'no rule run left running');
  });
});
