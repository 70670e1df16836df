import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { eventually } from '../helpers/stack.js';

// Disabling a rule is an admin's kill switch: the rule runs no more. A run already going (a first script
// on its host, minutes long) went on to its next remediation after that: the second script ran on the host
// and PagerDuty was told the incident resolved. Now a remediation that has not started when its rule is
// disabled or deleted is recorded skipped naming why, and so is the remediation after it; notifications
// still go as their `when` says. What the host saw is read at the real Doctor agent, what PagerDuty and the
// team were told at their peers.
describe('a rule disabled while its run goes on', function () {
  const peers = stackWithDoctor({
    prefix: 'disable-mid-run',
    environment: `dmr-${randomUUID().slice(0, 6)}`,
    scripts: (markerDir) => ({
      // Leaves a file when it starts, then waits (30 s at most) for the test to let it end.
      'drain.sh': `touch "${markerDir}/drain-$1"; i=0; while [ ! -e "${markerDir}/go-$1" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; echo drained`,
      'restart.sh': `touch "${markerDir}/restart-$1"; echo restarted`,
    }),
    slackSecret: 'SELFHEAL_SECRET_DISABLE_MID_RUN_SLACK',
    pagerDutyToken: 'pd-disable-mid-run-token',
  });
  const { trigger, ended, resolvesAtPeer } = peers;

  const doc = (svc: string): RuleInputDocument =>
    ({
      name: `dmr-${svc.toLowerCase()}`,
      services: [svc],
      actions: [
        { id: 'drain', type: 'script.agent', script: 'drain.sh', args: ['{{ environment.host }}'] },
        { id: 'restart', type: 'script.agent', script: 'restart.sh', args: ['{{ environment.host }}'], when: 'success' },
        { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
        { id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_DISABLE_MID_RUN_SLACK', text: 'done on {{ environment.host }}: restart {{ results.restart.status }}', when: 'always' },
      ],
    }) as RuleInputDocument;
  const hostSaw = async (file: string) => (await readdir(peers.doctor.markerDir)).includes(file);
  const started = (host: string) => eventually(async () => (await hostSaw(`drain-${host}`)) || undefined, 60_000, `drain.sh started on ${host}`);
  const letEnd = (host: string) => writeFile(path.join(peers.doctor.markerDir, `go-${host}`), '');

  it('disabled through the API while its first script runs: the next script never reaches the host, PagerDuty is not told it resolved, the team is told', async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    const ruleId = await insertRule(peers.stack.db.db, doc(svc));
    const id = await trigger(svc, 'dmr-1');
    await started('dmr-1');
    const put = await peers.stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc(svc), enabled: false }) });
    assert.equal(put.status, 200, await put.text());
    await letEnd('dmr-1');

    const runs = await ended(id, 4);
    const why = JSON.stringify(runs.map((r) => [r.action_id, r.status, r.error ?? r.reason]));
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['drain', 'succeeded'], ['restart', 'skipped'], ['resolve', 'skipped'], ['tell', 'succeeded']], why);
    assert.equal(runs[1]!.error, 'not run: its rule was disabled while the run went on (version 1 planned it)');
    assert.equal(runs[1]!.started_at, null, 'never started');
    assert.match(runs[2]!.reason ?? '', /^not run: the remediation stopped at restart, which did not start: its rule was disabled/);
    assert.equal(await hostSaw('restart-dmr-1'), false, 'restart.sh never ran on the host');
    assert.deepEqual(resolvesAtPeer(id), [], 'PagerDuty was not told the incident resolved');
    assert.ok(peers.slack.messages.some((m) => m.text === 'done on dmr-1: restart skipped'), JSON.stringify(peers.slack.messages.map((m) => m.text)));
  });

  it('a rule edited while its run goes on (a new version, still enabled): the run finishes the version that planned it', async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    const ruleId = await insertRule(peers.stack.db.db, doc(svc));
    const id = await trigger(svc, 'dmr-2');
    await started('dmr-2');
    const put = await peers.stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc(svc), description: 'edited mid-run' }) });
    assert.equal(put.status, 200, await put.text());
    await letEnd('dmr-2');

    const runs = await ended(id, 4);
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['drain', 'succeeded'], ['restart', 'succeeded'], ['resolve', 'succeeded'], ['tell', 'succeeded']], JSON.stringify(runs.map((r) => r.error)));
    assert.equal(await hostSaw('restart-dmr-2'), true);
    assert.equal(resolvesAtPeer(id).length, 1);
  });
});
