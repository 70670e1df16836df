import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Worker } from '@temporalio/worker';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { buildMainWorker } from '../../src/worker.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// docs/guarantees.md, Side effects: "An action given up as "outcome unknown" is recorded `failed` with that
// reason (so `when: failure` actions run and the rule's breaker counts it), its `side_effects` row is
// `unknown`, and no later attempt or replay calls the provider for it again." Through the real stack and
// worker: Slack takes the post and its answer is lost (the connection dropped after the message was
// made). What the people see: one Slack message, never a second; the rule's failure note on the incident.
describe('a Slack post whose answer is lost, end to end', function () {
  this.timeout(180_000);
  const PD_TOKEN = 'pd-outcome-unknown-token';
  const SLACK_REF = 'SELFHEAL_SECRET_TEST_OUTCOME_UNKNOWN_SLACK';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let slack: SlackPeer;
  let restarted: { worker: Worker; running: Promise<void> } | undefined;
  let child: ChildRoot | undefined;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
    });
  });
  after(async function () {
    await child?.stop();
    if (restarted?.worker.getState() === 'RUNNING') restarted.worker.shutdown();
    await restarted?.running.catch(() => undefined);
    await stack?.stop();
    await Promise.all([pd?.close(), slack?.close()]);
    delete process.env[SLACK_REF];
  });

  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const slackPosts = () => slack.requests.filter((r) => r.method === 'POST').length;
  const postsOf = (marker: string) => slack.requests.filter((r) => r.method === 'POST' && r.rawBody.includes(marker)).length;
  /** The in-process main worker in use stopped, and a new one started on the stack's task queue. */
  async function replaceWorker(): Promise<void> {
    const current = restarted?.worker ?? stack.worker;
    if (current.getState() === 'RUNNING') current.shutdown();
    await eventually(async () => current.getState() === 'STOPPED', 30_000, 'the worker stopped');
    await restarted?.running.catch(() => undefined);
    const worker = await buildMainWorker({ config: stack.config, db: stack.db.db, logger: createLogger({ level: 'silent' }), connection: stack.temporal.nativeConnection, extractors: {} });
    restarted = { worker, running: worker.run() };
  }

  it('is sent once and never again: the action fails "outcome unknown", the when: failure note is written, the breaker counts it, and a restarted worker sends nothing', async function () {
    const svc = newServiceId();
    const marker = randomUUID().slice(0, 8);
    const ruleId = await insertRule(stack.db.db, {
      name: `outcome-unknown-${marker}`,
      services: [svc],
      // A threshold above one failure: the breaker counts it without opening (an opening would be announced in Slack).
      policies: { circuitBreaker: { failureThreshold: 3 } },
      actions: [
        { id: 'chat', type: 'notify.slack', webhookUrlRef: `env:${SLACK_REF}`, text: `db-1 restarted ${marker}` },
        { id: 'tell', type: 'pagerduty.note', when: 'failure', content: `the Slack post ${marker} may not have gone out` },
      ],
    });
    // Slack makes the message, then the connection drops before its answer.
    slack.loseNextAnswer('drop', { method: 'POST' });
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } });
    assert.equal((await stack.deliver(payload)).status, 202);

    const runs = await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, 'both actions finished');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['chat', 'failed'], ['tell', 'succeeded']]);
    const chat = runs[0]!;
    assert.match(chat.error ?? '', /outcome unknown/);
    assert.equal(slack.lost, 1, 'the answer was lost');
    assert.equal(slackPosts(), 1, 'one request reached Slack');
    assert.deepEqual(slack.messages.map((m) => m.text), [`db-1 restarted ${marker}`], 'one message in the channel');

    // The when: failure action ran: its note is on the incident.
    await eventually(async () => pd.notes(id).some((n) => n.content.startsWith(`the Slack post ${marker} may not have gone out`)), 30_000, 'the failure note on the incident');
    assert.equal(pd.notes(id).filter((n) => n.content.startsWith(`the Slack post ${marker}`)).length, 1);

    // The breaker counted the failure.
    const rule = await eventually(async () => {
      const r = await stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
      return r.consecutive_failures > 0 ? r : undefined;
    }, 30_000, 'the breaker to count the run');
    assert.deepEqual(rule, { breaker_state: 'closed', consecutive_failures: 1 });

    const effect = await stack.db.db.selectFrom('side_effects').selectAll().where('key', '=', chat.id).executeTakeFirstOrThrow();
    assert.equal(effect.state, 'unknown');
    assert.equal(effect.attempts, 1);

    // The worker is replaced. The new one replays the incident's and the rule run's histories (queries
    // run on it), and the same event is delivered again (PagerDuty redelivers): nothing is posted again.
    await replaceWorker();
    const ruleRun = stack.temporal.client.workflow.getHandle(chat.workflow_id!);
    assert.equal(((await ruleRun.query('state')) as { ruleId: string }).ruleId, ruleId, 'the rule run replayed on the new worker');
    await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state');
    const redelivered = await stack.deliver(payload);
    assert.equal(redelivered.status, 200, 'the redelivery is taken as a duplicate');
    assert.equal(((await redelivered.json()) as { status: string }).status, 'duplicate');
    await new Promise((r) => setTimeout(r, 5000));

    assert.equal(slackPosts(), 1, 'nothing more reached Slack');
    assert.equal(slack.messages.length, 1);
    const after = await runsOf(id);
    assert.deepEqual(after.map((r) => [r.id, r.status, r.error]), runs.map((r) => [r.id, r.status, r.error]), 'the runs are as they were');
    const again = await stack.db.db.selectFrom('side_effects').select(['state', 'attempts']).where('key', '=', chat.id).executeTakeFirstOrThrow();
    assert.deepEqual(again, { state: 'unknown', attempts: 1 });
    assert.equal(pd.notes(id).filter((n) => n.content.startsWith(`the Slack post ${marker}`)).length, 1, 'the failure note is not written twice');
  });

  it('a worker killed while Slack holds its answer: the retry on a new worker does not post again; the action fails "outcome unknown" and the when: failure note is written', async function () {
    // Only a real worker process polls the task queue, and it is SIGKILLed mid-call: nothing of the
    // attempt is recorded but its claim (`attempting`). The retry comes on an in-process worker.
    const current = restarted?.worker ?? stack.worker;
    if (current.getState() === 'RUNNING') current.shutdown();
    await eventually(async () => current.getState() === 'STOPPED', 30_000, 'the in-process worker stopped');
    child = startChildRoot('src/worker.ts', {
      TEMPORAL_ADDRESS: stack.temporal.address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      DATABASE_URL: stack.db.url,
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      PAGERDUTY_API_URL: pd.url,
      PAGERDUTY_API_TOKEN: PD_TOKEN,
      PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
      [SLACK_REF]: slack.webhookUrl,
    });
    await child.waitFor(/worker started/);

    const svc = newServiceId();
    const marker = randomUUID().slice(0, 8);
    const ruleId = await insertRule(stack.db.db, {
      name: `outcome-killed-${marker}`,
      services: [svc],
      policies: { circuitBreaker: { failureThreshold: 3 } },
      actions: [
        { id: 'chat', type: 'notify.slack', webhookUrlRef: `env:${SLACK_REF}`, text: `db-2 restarted ${marker}`, timeoutSeconds: 10 },
        { id: 'tell', type: 'pagerduty.note', when: 'failure', content: `the Slack post ${marker} may not have gone out` },
      ],
    });
    // Slack makes the message and holds its answer far longer than any attempt waits.
    slack.loseNextAnswer({ delayMs: 600_000 }, { method: 'POST' });
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);
    await eventually(async () => slack.messages.some((m) => m.text.includes(marker)), 60_000, 'the message made at Slack');
    const claimed = await stack.db.db.selectFrom('side_effects').select(['state']).where('incident_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(claimed.state, 'attempting', 'the answer is not recorded');
    await child.kill();
    await replaceWorker();

    const runs = await eventually(async () => {
      const r = await runsOf(id);
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, 'both actions finished on the new worker');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['chat', 'failed'], ['tell', 'succeeded']]);
    assert.match(runs[0]!.error ?? '', /outcome unknown/);
    assert.equal(postsOf(marker), 1, 'one request reached Slack');
    assert.equal(slack.messages.filter((m) => m.text.includes(marker)).length, 1, 'one message in the channel');
    await eventually(async () => pd.notes(id).some((n) => n.content.startsWith(`the Slack post ${marker} may not have gone out`)), 30_000, 'the failure note on the incident');
    const effect = await stack.db.db.selectFrom('side_effects').select(['state', 'attempts']).where('key', '=', runs[0]!.id).executeTakeFirstOrThrow();
    assert.equal(effect.state, 'unknown');
    assert.ok(effect.attempts >= 2, `a later attempt read the record (attempts ${effect.attempts})`);
    const rule = await eventually(async () => {
      const r = await stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
      return r.consecutive_failures > 0 ? r : undefined;
    }, 30_000, 'the breaker to count the run');
    assert.deepEqual(rule, { breaker_state: 'closed', consecutive_failures: 1 });
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(postsOf(marker), 1, 'and nothing more');
  });
});
