import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { createLogger } from '../../src/logger.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { startHttpPeer, startSlackPeer, type HttpPeer, type SlackPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// docs/guarantees.md, Approvals: "If the API cannot reach the rule run after recording a decision, it answers
// 202 with `delivered: false`; the run applies the decision at its deadline at the latest." An API replica
// whose way to Temporal is cut (its connection goes through a TCP proxy that is down) records Bob's approval
// and cannot nudge the rule run. The rule says `onTimeout: reject`, so a run that ignored what Postgres holds
// at its deadline would reject: the webhook would never be called and the decision would say "timeout".
// Also: with the author of the planning version not recorded, nobody may decide, the admin token included.
describe('an approval that cannot reach its rule run', function () {
  this.timeout(240_000);
  const SLACK_REF = 'SELFHEAL_SECRET_TEST_UNDELIVERED_SLACK';
  let stack: Stack;
  let hook: HttpPeer;
  let slack: SlackPeer;
  let proxy: TcpProxy;
  let cutClient: Client;
  let cutApi: ReturnType<typeof createApp>;
  let bob: string;

  before(async function () {
    hook = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
    stack = await startStack({ env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
    bob = await issueToken(stack, 'bob', ['write']);
    // A second API on the same database and configuration, whose Temporal client goes through the proxy.
    const [host, port] = stack.temporal.address.split(':');
    proxy = await startTcpProxy(host!, Number(port));
    cutClient = await lazyTemporalClient({ address: `127.0.0.1:${proxy.port}`, namespace: 'default' });
    cutApi = createApp({ config: stack.config, db: stack.db.db, temporal: cutClient, logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) }, allRoutes);
  });
  after(async function () {
    await cutClient?.connection.close().catch(() => undefined);
    await proxy?.close();
    await stack?.stop();
    await Promise.all([hook?.close(), slack?.close()]);
    delete process.env[SLACK_REF];
  });

  const hits = (name: string) => hook.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const waiting = (id: string) => eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `an action of ${id} awaiting approval`);
  const decideVia = (app: { request: typeof cutApi.request }, id: string, runId: string, decision: 'approve' | 'reject', token: string) =>
    Promise.resolve(
      app.request(`/api/incidents/${id}/approvals/${encodeURIComponent(runId)}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ decision }),
      }),
    );

  async function gated(name: string, timeoutMinutes: number): Promise<{ ruleId: string; id: string }> {
    const svc = newServiceId();
    const ruleId = await insertRule(
      stack.db.db,
      {
        name: `${name}-${randomUUID().slice(0, 6)}`,
        services: [svc],
        actions: [
          { id: 'fix', type: 'notify.webhook', url: `${hook.url}/hook/${name}`, body: '{}', approval: { required: true, timeoutMinutes, onTimeout: 'reject' } },
          // The rule's Slack channel gets its approval notices (and would get "Approval timed out").
          { id: 'chat', type: 'notify.slack', webhookUrlRef: `env:${SLACK_REF}`, text: `${name} done`, when: 'always' },
        ],
      },
      { author: 'token:alice' },
    );
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    return { ruleId, id };
  }

  it('answers 202 delivered: false; nothing runs before the deadline, and at the deadline the run applies the recorded approval (not its onTimeout: reject)', async function () {
    const { id } = await gated('undelivered', 1);
    const run = await waiting(id);
    // The rule run is asleep on its deadline timer: only a signal or the timer wakes it.
    await eventually(
      async () => ((await stack.temporal.client.workflow.getHandle(run.workflow_id!).fetchHistory()).events ?? []).some((e) => e.timerStartedEventAttributes),
      30_000,
      'the rule run waiting on its deadline',
    );
    await eventually(async () => slack.messages.some((m) => m.text.startsWith('[self-healing] Approval needed: ') && m.text.includes(id)), 30_000, 'the approval request in Slack');

    // This API replica reached Temporal once; then its way there is cut.
    await cutClient.workflowService.getSystemInfo({});
    proxy.down();
    const started = Date.now();
    const res = await decideVia(cutApi, id, run.id, 'approve', bob);
    const took = Date.now() - started;
    assert.equal(res.status, 202, await res.clone().text());
    assert.deepEqual(await res.json(), { actionRunId: run.id, decision: 'approve', actor: 'token:bob', delivered: false });
    assert.ok(took < 20_000, `the answer came after ${took} ms`);
    const recorded = (await runsOf(id))[0]!;
    assert.equal(recorded.status, 'awaiting_approval');
    assert.deepEqual(recorded.approval && [(recorded.approval as { decision: string }).decision, (recorded.approval as { actor: string }).actor], ['approve', 'token:bob'], 'the decision is recorded');

    // Not nudged: nothing reaches the peer before the deadline.
    const { rows } = await sql<{ at: Date }>`select approval_deadline as at from action_runs where id = ${run.id}`.execute(stack.db.db);
    const deadline = new Date(rows[0]!.at).getTime();
    while (Date.now() < deadline - 2000) {
      assert.equal(hits('undelivered'), 0, 'the webhook was called before the deadline');
      await new Promise((r) => setTimeout(r, 500));
    }
    assert.equal(hits('undelivered'), 0, 'the webhook was called before the deadline');
    assert.equal((await runsOf(id))[0]!.status, 'awaiting_approval', 'still waiting just before the deadline');

    // At the deadline the run reads Postgres, finds Bob's approval, and runs the action once.
    const runs = await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 90_000, 'the run to finish after its deadline');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['fix', 'succeeded'], ['chat', 'succeeded']]);
    const approval = runs[0]!.approval as { decision: string; actor: string };
    assert.deepEqual([approval.decision, approval.actor], ['approve', 'token:bob'], 'the person\'s decision, not the timeout\'s');
    assert.ok(Date.now() >= deadline - 2000, 'it ran at the deadline');
    assert.equal(hits('undelivered'), 1, 'the webhook was called once');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(hits('undelivered'), 1, 'and only once');
    assert.equal(slack.messages.filter((m) => m.text.startsWith('[self-healing] Approval timed out') && m.text.includes(id)).length, 0, 'no timeout announced');
    assert.ok(slack.messages.some((m) => m.text === 'undelivered done'));
    const audit = await stack.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', '=', run.id).execute();
    assert.deepEqual(audit, [{ actor: 'token:bob', action: 'approval.approve' }]);
    proxy.up();
  });

  it('the author not recorded: the admin token and another approver get 403, approving or rejecting; nothing is recorded and nothing runs', async function () {
    const { ruleId, id } = await gated('unauthored', 30);
    const run = await waiting(id);
    assert.equal(run.rule_version, 1);
    const deleted = await stack.db.db.deleteFrom('rule_versions').where('rule_id', '=', ruleId).where('version', '=', 1).executeTakeFirst();
    assert.equal(Number(deleted.numDeletedRows), 1);
    try {
      for (const [token, decision] of [
        [ADMIN_TOKEN, 'approve'],
        [bob, 'approve'],
        [ADMIN_TOKEN, 'reject'],
        [bob, 'reject'],
      ] as const) {
        const res = await decideVia(stack.app, id, run.id, decision, token);
        assert.equal(res.status, 403, `${decision} with ${token === ADMIN_TOKEN ? 'the admin token' : 'bob'}`);
        assert.equal(res.headers.get('content-type'), 'application/problem+json');
        assert.match(((await res.json()) as { detail: string }).detail, /the author of the rule version that planned .* is not recorded, so nobody can be shown to be someone else: it cannot be approved/);
      }
      const now = (await runsOf(id))[0]!;
      assert.equal(now.status, 'awaiting_approval');
      assert.equal(now.approval, null, 'nothing recorded');
      const audit = await stack.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', '=', run.id).execute();
      assert.deepEqual(audit, []);
      await new Promise((r) => setTimeout(r, 1000));
      assert.equal(hits('unauthored'), 0, 'the gated action did not run');
    } finally {
      await stack.temporal.client.workflow.getHandle(run.workflow_id!).terminate('test over').catch(() => undefined);
    }
  });
});
