import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';

// After a fix succeeded, the rule run runs its `verify.check` on the host every settle until `within` (many
// minutes in real rules). Those runs went through with no check at all: automation paused where the incident
// is (a guard crossed by another incident), or the rule disabled by an admin, and the check script kept
// running on the host as root until `within`, then paged `onUnverified` and counted a failure. Now each run
// of the check is asked for first: once refused it runs no more, a resolve can still verify the fix, and
// otherwise the verification is not_applicable naming why the check stopped, with no onUnverified and the
// run inconclusive for the circuit breaker. What the host saw is read at the real Doctor agent (a line per
// check run); what the team was told, at the Slack peer.
describe('verification: the check stops with a pause or its rule', function () {
  const peers = stackWithDoctor({
    prefix: 'verify-stop',
    environment: `vstop-${randomUUID().slice(0, 6)}`,
    scripts: (markerDir) => ({
      'fix.sh': 'echo "restarted $1"',
      // Never healthy: every run leaves a line, so the runs can be counted.
      'check.sh': `echo run >> "${markerDir}/checks-$1"; exit 1`,
    }),
    slackSecret: 'SELFHEAL_SECRET_VERIFY_STOP_SLACK',
    // One host at a time: a second host remediated crosses the guard and pauses automation fleet-wide.
    env: { SELFHEAL_GUARD_MAX_TARGETS: '1', SELFHEAL_GUARD_WINDOW: '1h' },
  });
  const { title, service, trigger } = peers;
  // An admin resumes (the windows restart with it), so each case starts on a fleet that is not paused. The
  // case that crosses no guard comes last: its host would make the next case's first one the second.
  afterEach(async function () {
    const res = await peers.stack.api('/api/automation/resume', { method: 'POST', body: JSON.stringify({ scope: 'fleet' }) });
    assert.equal(res.status, 200);
  });

  const doc = (svc: string): RuleInputDocument =>
    ({
      name: `vstop-${svc.toLowerCase()}`,
      services: [svc],
      policies: { circuitBreaker: { failureThreshold: 5 } },
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
      verify: {
        within: '15s',
        settle: '1s',
        check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] },
        onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_VERIFY_STOP_SLACK', text: 'unverified fix on {{ environment.host }}' }],
      },
    }) as RuleInputDocument;
  const checkRuns = async (host: string) => (await readFile(path.join(peers.doctor.markerDir, `checks-${host}`), 'utf8').catch(() => '')).split('\n').filter(Boolean).length;
  const checked = (host: string) => eventually(async () => (await checkRuns(host)) > 0 || undefined, 30_000, `a first check on ${host}`);
  const settledMatch = (id: string) =>
    eventually(async () => {
      const m = await peers.stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return m && m.verification !== 'pending' && m.verification !== null && m.breaker_outcome !== null ? m : undefined;
    }, 60_000, `the run of ${id} to end`);
  /** A rule whose breaker already counts one failure: a success would reset it, a failure add one. */
  async function ruleWithOneFailure(svc: string): Promise<string> {
    const ruleId = await insertRule(peers.stack.db.db, doc(svc));
    await peers.stack.db.db.updateTable('rules').set({ consecutive_failures: 1 }).where('id', '=', ruleId).execute();
    return ruleId;
  }

  it('a guard crossed by another incident pauses the fleet: the check runs no more, not_applicable, no onUnverified, the run inconclusive', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await ruleWithOneFailure(svc);
    const id = await trigger(svc, 'vs-1');
    await checked('vs-1');
    // A second host crosses fleet.maxTargets: automation is paused fleet-wide.
    const crossing = await trigger(svc, 'vs-2');
    const stopped = await eventually(() => peers.stack.db.db.selectFrom('rule_matches').select(['decision', 'skip_reason']).where('incident_id', '=', crossing).executeTakeFirst(), 30_000, 'the crossing match');
    assert.match(stopped.skip_reason ?? '', /fleet\.maxTargets/);
    const atPause = await checkRuns('vs-1');

    const m = await settledMatch(id);
    const runs = await checkRuns('vs-1');
    // A check already started when the pause landed may finish; none starts after it.
    assert.ok(runs <= atPause + 1, `the check ran ${runs - atPause} more times on the host after automation was paused (${atPause} before)`);
    assert.equal(m.verification, 'not_applicable', `verification ${m.verification}: ${m.verification_detail}`);
    assert.equal(
      m.verification_detail,
      `check check.sh stopped after run ${runs} (exited 1): automation was paused fleet-wide (fleet.maxTargets); no incident.resolved within 15 s: not verified, and not counted as a failure`,
    );
    assert.equal(peers.slack.messages.filter((x) => x.text === 'unverified fix on vs-1').length, 0, 'onUnverified did not run');
    // Inconclusive: the failure counted before stands, neither reset by a success nor joined by another failure.
    const rule = await peers.stack.db.db.selectFrom('rules').select(['consecutive_failures', 'breaker_state']).where('id', '=', ruleId).executeTakeFirstOrThrow();
    assert.deepEqual(rule, { consecutive_failures: 1, breaker_state: 'closed' });
  });

  it('a resolve after the check stopped still verifies the fix', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, doc(svc));
    const id = await trigger(svc, 'vs-4');
    await checked('vs-4');
    await trigger(svc, 'vs-5');
    await eventually(() => peers.stack.db.db.selectFrom('automation_pauses').select('id').where('resumed_at', 'is', null).executeTakeFirst(), 30_000, 'the pause');
    const atPause = await checkRuns('vs-4');
    // Past two settles: the check was asked for and refused.
    await new Promise((r) => setTimeout(r, 2500));
    assert.ok((await checkRuns('vs-4')) <= atPause + 1, `the check ran ${(await checkRuns('vs-4')) - atPause} more times on the host after automation was paused`);
    assert.equal((await peers.stack.db.db.selectFrom('rule_matches').select('verification').where('incident_id', '=', id).executeTakeFirstOrThrow()).verification, 'pending');
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: new Date().toISOString(), data: { title: title('vs-4'), service: service(svc) } }));
    const m = await settledMatch(id);
    assert.equal(m.verification, 'verified', `verification ${m.verification}: ${m.verification_detail}`);
    assert.match(m.verification_detail ?? '', /^incident\.resolved at /);
  });

  it('the rule disabled through the API: the check runs no more, the detail names it', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await ruleWithOneFailure(svc);
    const id = await trigger(svc, 'vs-3');
    await checked('vs-3');
    const put = await peers.stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc(svc), enabled: false }) });
    assert.equal(put.status, 200, await put.text());
    const atDisable = await checkRuns('vs-3');

    const m = await settledMatch(id);
    const runs = await checkRuns('vs-3');
    assert.ok(runs <= atDisable + 1, `the check ran ${runs - atDisable} more times on the host after its rule was disabled (${atDisable} before)`);
    assert.equal(m.verification, 'not_applicable', `verification ${m.verification}: ${m.verification_detail}`);
    assert.match(m.verification_detail ?? '', new RegExp(`^check check\\.sh stopped after run ${runs} \\(exited 1\\): its rule was disabled \\(version 1 planned it\\); no incident\\.resolved within 15 s`));
    assert.equal(peers.slack.messages.filter((x) => x.text === 'unverified fix on vs-3').length, 0, 'onUnverified did not run');
  });
});
