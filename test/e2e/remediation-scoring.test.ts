import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';

// A rule run is scored by its remediation, not by the messages around it. Attacks, each observed where a
// user would look (the PagerDuty peer, the Doctor agent's host, the Slack peer, the rule's breaker):
// - a fix that a pause stopped at its approval must not let the rest of the remediation run: before, the
//   `when: success` resolve after it ran (a skipped action counts for neither side) and PagerDuty showed the
//   incident resolved though nothing was fixed;
// - a half-open trial whose fix was rejected must not close the breaker on the strength of its escalation
//   and note, nor verify a host nobody touched;
// - an approval's timeout lands when the notice said, however long the notice took to send.
describe('remediation decides a rule run: pauses at an approval, notifications, the approval deadline', function () {
  const env = `scoring-${randomUUID().slice(0, 6)}`;
  const peers = stackWithDoctor({
    prefix: 'scoring',
    environment: env,
    // Every run on a host leaves a file: what the host saw.
    scripts: (markerDir) => ({ 'fix.sh': `touch "${markerDir}/fixed-$1"; echo "fixed $1"`, 'check.sh': `touch "${markerDir}/checked-$1"; exit 0` }),
    slackSecret: 'SELFHEAL_SECRET_SCORING_SLACK',
    pagerDutyToken: 'pd-scoring-token',
  });
  const { trigger, runsOf, waiting, decide, ended, resolvesAtPeer } = peers;

  const rule = (svc: string, doc: Partial<RuleInputDocument>) => insertRule(peers.stack.db.db, { name: `scoring-${svc.toLowerCase()}`, services: [svc], actions: [], ...doc } as RuleInputDocument);
  /** The match once its run was scored for the breaker (after its last action). */
  const scoredMatch = (id: string) =>
    eventually(async () => {
      const row = await peers.stack.db.db.selectFrom('rule_matches').select(['breaker_outcome', 'verification']).where('incident_id', '=', id).executeTakeFirstOrThrow();
      return row.breaker_outcome ? row : undefined;
    }, 60_000, `the run of ${id} to be scored`);
  const breakerOf = (ruleId: string) => peers.stack.db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();
  const hostSaw = async (what: string, host: string) => (await readdir(peers.doctor.markerDir)).includes(`${what}-${host}`);

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
    await peers.stack.db.db.updateTable('rules').set({ consecutive_failures: 1 }).where('id', '=', ruleId).execute();
    const id = await trigger(svc, 'paused-1');
    const fix = await waiting(id);
    // While the fix waits, a guard crossed by another incident pauses remediation in this environment.
    assert.ok(await insertPause(peers.stack.db.db, { scope: 'environment', environment: env, guard: 'environment.maxTargets', reason: 'test', incidentId: 'PELSEWHERE', at: new Date() }));
    try {
      await decide(id, fix.id, 'approve');
      const runs = await ended(id, 3);
      await scoredMatch(id);
      // What the on-call sees: the incident is not resolved in PagerDuty, the host was not touched, the
      // notification still went out.
      assert.deepEqual(resolvesAtPeer(id).map((r) => r.body), [], 'no PUT /incidents/{id} resolving the incident reached PagerDuty');
      assert.equal(peers.pd.incident(id)?.status, 'triggered');
      assert.equal(await hostSaw('fixed', 'paused-1'), false, 'the fix never ran on the host');
      assert.ok(peers.slack.messages.some((m) => m.text === 'rule done on paused-1: fix skipped'), 'the notification ran');
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
      await resumePauses(peers.stack.db.db, { scope: 'environment', environment: env, actor: 'test', at: new Date() });
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
    await peers.stack.db.db.updateTable('rules').set({ breaker_state: 'open', consecutive_failures: 1, breaker_opened_at: new Date(Date.now() - 120_000) }).where('id', '=', ruleId).execute();
    const id = await trigger(svc, 'trial-1');
    const m = await eventually(() => peers.stack.db.db.selectFrom('rule_matches').select(['decision', 'skip_reason']).where('incident_id', '=', id).executeTakeFirst(), 30_000, 'the match');
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
    assert.equal(peers.pd.incident(id)?.escalation_level, 2, 'the escalation reached PagerDuty');
    const scored = await scoredMatch(id);
    // Inconclusive: the trial leaves the breaker open for the next match to try again. Before, the
    // notifications made it a success and the breaker closed with the fix never run.
    const breaker = await breakerOf(ruleId);
    assert.equal(breaker.breaker_state, 'open', `the breaker after a trial whose fix never ran: ${JSON.stringify(breaker)}`);
    assert.equal(scored.verification, null, 'no verification of a run whose fix never ran');
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(await hostSaw('checked', 'trial-1'), false, 'the check never ran on the host');
    assert.equal(await hostSaw('fixed', 'trial-1'), false);
    assert.deepEqual(peers.slack.messages.filter((x) => x.text.includes('trial-1')), [], 'no onUnverified page');
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
    peers.pd.loseNextAnswer({ delayMs: 10_000 }, { method: 'POST', pathPrefix: `/incidents/${id}/notes` });
    await trigger(svc, 'late-1', { id });
    const fix = await waiting(id);
    const noticed = await eventually(async () => peers.slack.messages.find((m) => m.text.includes('Approval needed') && m.text.includes('late-1')), 30_000, 'the approval notice');
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
