import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import { HOST_ENVIRONMENT_TITLE, makeAgentHost, type AgentHost } from '../helpers/agent-host.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// A rule run is scored by its remediation, not by the messages around it. Attacks, each observed where a
// user would look (the PagerDuty peer, the Doctor agent's host, the Slack peer, the rule's breaker):
// - a fix that a pause stopped at its approval must not let the rest of the remediation run: before, the
//   `when: success` resolve after it ran (a skipped action counts for neither side) and PagerDuty showed the
//   incident resolved though nothing was fixed;
// - a half-open trial whose fix was rejected must not close the breaker on the strength of its escalation
//   and note, nor verify a host nobody touched;
// - an approval's timeout lands when the notice said, however long the notice took to send.
describe('remediation decides a rule run: pauses at an approval, notifications, the approval deadline', function () {
  const PD_TOKEN = 'pd-scoring-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let slack: SlackPeer;
  let doctor: AgentHost;
  const env = `scoring-${randomUUID().slice(0, 6)}`;

  before(async function () {
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    slack = await startSlackPeer();
    doctor = await makeAgentHost('scoring');
    // Every run on a host leaves a file: what the host saw.
    await doctor.script('fix.sh', `touch "${doctor.markerDir}/fixed-$1"; echo "fixed $1"`);
    await doctor.script('check.sh', `touch "${doctor.markerDir}/checked-$1"; exit 0`);
    process.env.SELFHEAL_SECRET_SCORING_SLACK = slack.webhookUrl;
    stack = await startStack({
      env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32', PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' },
      extractors: HOST_ENVIRONMENT_TITLE,
    });
    await doctor.serve(stack, env);
  });

  after(async function () {
    await doctor?.close();
    await stack?.stop();
    await Promise.all([pd?.close(), slack?.close()]);
    delete process.env.SELFHEAL_SECRET_SCORING_SLACK;
  });

  const title = (host: string) => `[${host}] ${env}: service down`;
  const rule = (svc: string, doc: Partial<RuleInputDocument>) => insertRule(stack.db.db, { name: `scoring-${svc.toLowerCase()}`, services: [svc], actions: [], ...doc } as RuleInputDocument);
  async function trigger(svc: string, host: string): Promise<string> {
    const id = newIncidentId();
    pd.seedIncident(id, { serviceId: svc, title: title(host) });
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: title(host), service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    return id;
  }
  const runsOf = (id: string) => stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const waiting = (id: string) => eventually(async () => (await runsOf(id)).find((r) => r.status === 'awaiting_approval'), 30_000, `an action of ${id} awaiting approval`);
  const decide = async (id: string, actionRunId: string, decision: 'approve' | 'reject') => {
    const res = await stack.api(`/api/incidents/${id}/approvals/${encodeURIComponent(actionRunId)}`, { method: 'POST', body: JSON.stringify({ decision }) });
    assert.equal(res.status, 202, await res.text());
  };
  const ended = (id: string, n: number) =>
    eventually(async () => {
      const r = await runsOf(id);
      return r.length === n && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, `${n} finished action runs of ${id}`);
  /** The match once its run was scored for the breaker (after its last action). */
  const scoredMatch = (id: string) =>
    eventually(async () => {
      const row = await stack.db.db.selectFrom('rule_matches').select(['breaker_outcome', 'verification']).where('incident_id', '=', id).executeTakeFirstOrThrow();
      return row.breaker_outcome ? row : undefined;
    }, 60_000, `the run of ${id} to be scored`);
  const breakerOf = (ruleId: string) => stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
  const hostSaw = async (what: string, host: string) => (await readdir(doctor.markerDir)).includes(`${what}-${host}`);
  const resolvesAtPeer = (id: string) =>
    pd.requests.filter((r) => r.method === 'PUT' && r.path === `/incidents/${id}` && (r.body as { incident?: { status?: string } } | undefined)?.incident?.status === 'resolved');

  it('a fix approved while its environment is paused stops the rest of the remediation: PagerDuty is never told the incident resolved', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      actions: [
        { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], approval: { required: true, timeoutMinutes: 30, onTimeout: 'approve' } },
        { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
        { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_SCORING_SLACK', text: 'rule done on {{ environment.host }}: fix {{ results.fix.status }}', when: 'always' },
      ],
    });
    // One failure counted before: a run scored a success would reset it.
    await stack.db.db.updateTable('rules').set({ consecutive_failures: 1 }).where('id', '=', ruleId).execute();
    const id = await trigger(svc, 'paused-1');
    const fix = await waiting(id);
    // While the fix waits, a guard crossed by another incident pauses remediation in this environment.
    assert.ok(await insertPause(stack.db.db, { scope: 'environment', environment: env, guard: 'environment.maxTargets', reason: 'test', incidentId: 'PELSEWHERE', at: new Date() }));
    try {
      await decide(id, fix.id, 'approve');
      const runs = await ended(id, 3);
      await scoredMatch(id);
      // What the on-call sees: the incident is not resolved in PagerDuty, the host was not touched, the
      // notification still went out.
      assert.deepEqual(resolvesAtPeer(id).map((r) => r.body), [], 'no PUT /incidents/{id} resolving the incident reached PagerDuty');
      assert.equal(pd.incident(id)?.status, 'triggered');
      assert.equal(await hostSaw('fixed', 'paused-1'), false, 'the fix never ran on the host');
      assert.ok(slack.messages.some((m) => m.text === 'rule done on paused-1: fix skipped'), 'the notification ran');
      // And the rows say why.
      assert.deepEqual(
        runs.map((r) => [r.action_id, r.status]),
        [
          ['fix', 'skipped'],
          ['resolve', 'skipped'],
          ['tell', 'succeeded'],
        ],
        JSON.stringify(runs.map((r) => [r.action_id, r.status, r.error ?? r.reason])),
      );
      assert.match(runs[1]!.reason ?? '', /^not run: the remediation stopped at fix, which did not start: automation was paused/);
      // The run proved nothing (inconclusive): not counted as a success, which would reset the count.
      assert.deepEqual(await breakerOf(ruleId), { breaker_state: 'closed', consecutive_failures: 1 });
    } finally {
      await resumePauses(stack.db.db, { scope: 'environment', environment: env, actor: 'test', at: new Date() });
    }
  });

  it('a half-open trial whose fix was rejected stays open and verifies nothing, though its escalation and note went out', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 60 } },
      actions: [
        { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } },
        { id: 'escalate', type: 'pagerduty.escalate', level: 2, when: 'failure' },
        { id: 'note', type: 'pagerduty.note', content: 'tried {{ environment.host }}', when: 'always' },
      ],
      verify: {
        within: '20s',
        settle: '1s',
        check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] },
        onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_SCORING_SLACK', text: 'unverified on {{ environment.host }}' }],
      },
    });
    // The breaker opened a while ago (its clock is in Postgres): the next match is its half-open trial.
    await stack.db.db.updateTable('rules').set({ breaker_state: 'open', consecutive_failures: 1, breaker_opened_at: new Date(Date.now() - 120_000) }).where('id', '=', ruleId).execute();
    const id = await trigger(svc, 'trial-1');
    const m = await eventually(() => stack.db.db.selectFrom('rule_matches').select(['decision', 'skip_reason']).where('incident_id', '=', id).executeTakeFirst(), 30_000, 'the match');
    assert.equal(m.decision, 'run');
    assert.match(m.skip_reason ?? '', /^circuit breaker half-open trial/);
    const fix = await waiting(id);
    await decide(id, fix.id, 'reject');
    const runs = await ended(id, 3);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
      ['fix', 'rejected'],
      ['escalate', 'succeeded'],
      ['note', 'succeeded'],
    ]);
    assert.equal(pd.incident(id)?.escalation_level, 2, 'the escalation reached PagerDuty');
    const scored = await scoredMatch(id);
    // Inconclusive: the trial leaves the breaker open for the next match to try again. Before, the
    // notifications made it a success and the breaker closed with the fix never run.
    const breaker = await breakerOf(ruleId);
    assert.equal(breaker.breaker_state, 'open', `the breaker after a trial whose fix never ran: ${JSON.stringify(breaker)}`);
    assert.equal(scored.verification, null, 'no verification of a run whose fix never ran');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await hostSaw('checked', 'trial-1'), false, 'the check never ran on the host');
    assert.equal(await hostSaw('fixed', 'trial-1'), false);
    assert.deepEqual(slack.messages.filter((x) => x.text.includes('trial-1')), [], 'no onUnverified page');
  });

  it("an approval's timeout lands at the deadline the notice showed, though sending the notice took 10 s", async function () {
    this.timeout(150_000);
    const svc = newServiceId();
    await rule(svc, {
      actions: [
        { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], approval: { required: true, timeoutMinutes: 1, onTimeout: 'reject' } },
        { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_SCORING_SLACK', text: 'late rule on {{ environment.host }}: fix {{ results.fix.status }}', when: 'always' },
      ],
    });
    const id = newIncidentId();
    // The approval notice's PagerDuty note is written, and its answer comes 10 s late.
    pd.loseNextAnswer({ delayMs: 10_000 }, { method: 'POST', pathPrefix: `/incidents/${id}/notes` });
    pd.seedIncident(id, { serviceId: svc, title: title('late-1') });
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: title('late-1'), service: { id: svc, type: 'service_reference', summary: 's' } } }))).status, 202);
    const fix = await waiting(id);
    const noticed = await eventually(async () => slack.messages.find((m) => m.text.includes('Approval needed') && m.text.includes('late-1')), 30_000, 'the approval notice');
    assert.ok(noticed);
    const decided = await eventually(async () => {
      const r = (await runsOf(id)).find((x) => x.action_id === 'fix');
      return r?.status === 'rejected' ? r : undefined;
    }, 120_000, 'the timeout decision');
    // The notice said "within 1 min" from when the wait began (the links expire then): the decision by
    // timeout lands then, not a minute after the slow notice was sent.
    const waitedMs = decided.finished_at!.getTime() - fix.created_at.getTime();
    assert.ok(waitedMs < 65_000, `the timeout landed ${waitedMs} ms after the wait began (deadline: 60000 ms)`);
    assert.ok(waitedMs >= 58_000, `not before the deadline: ${waitedMs} ms`);
  });
});
