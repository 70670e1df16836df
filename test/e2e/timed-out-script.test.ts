// A fix script that traps SIGTERM (sent at its deadline) and exits 0 timed out: it failed, whatever its exit
// code. Before, the rule run took the 0 for success, so its `when: success` chain resolved the incident in
// PagerDuty after a fix that never finished, and a verify.check that hung and then exited 0 proved the
// remediation. The real Doctor agent runs the scripts; the PagerDuty peer shows what was written back.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { eventually } from '../helpers/stack.js';

describe('a script that outlives its deadline and then exits 0 failed', function () {
  this.timeout(120_000);
  const peers = stackWithDoctor({
    prefix: 'timed-out',
    environment: `timed-out-${randomUUID().slice(0, 6)}`,
    scripts: (markerDir) => ({
      // Ends only at the TERM its deadline brings, and then exits 0 (a careless trap).
      'hangs-then-ok.sh': `trap 'echo term > "${markerDir}/term-$1"; exit 0' TERM\nwhile :; do sleep 0.2; done`,
      'fix.sh': 'echo "restarted $1"',
    }),
    slackSecret: 'SELFHEAL_SECRET_TIMED_OUT_SLACK',
    pagerDutyToken: 'pd-timed-out-token',
  });

  it('the fix is recorded failed (timed out), and its `when: success` resolve never reaches PagerDuty', async function () {
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `timed-out-${svc.toLowerCase()}`,
      services: [svc],
      actions: [
        { id: 'fix', type: 'script.agent', script: 'hangs-then-ok.sh', args: ['{{ environment.host }}'], timeoutSeconds: 2 },
        { id: 'resolve', type: 'pagerduty.resolve', when: 'success' },
      ],
    } as RuleInputDocument);
    const id = await peers.trigger(svc, 'hang-1');
    const runs = await peers.ended(id, 2);
    // The script did get its TERM and exit through the trap: the 0 was real.
    assert.equal((await readFile(path.join(peers.doctor.markerDir, 'term-hang-1'), 'utf8')).trim(), 'term');
    const fix = runs.find((r) => r.action_id === 'fix')!;
    assert.equal(fix.status, 'failed', JSON.stringify(fix));
    assert.match(fix.error ?? '', /timed out/);
    assert.equal(runs.find((r) => r.action_id === 'resolve')!.status, 'skipped');
    assert.deepEqual(peers.resolvesAtPeer(id), [], 'PagerDuty was told the incident resolved');
  });

  it('a verify.check that times out and exits 0 proves nothing: the remediation is unverified', async function () {
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `timed-out-check-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
      verify: { within: '8s', settle: '4s', check: { type: 'script.agent', script: 'hangs-then-ok.sh', args: ['{{ environment.host }}'], timeoutSeconds: 1 } },
    } as RuleInputDocument);
    const id = await peers.trigger(svc, 'hang-2', { atPeer: false });
    const match = await eventually(
      async () => {
        const m = await peers.stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
        return m?.verification && m.verification !== 'pending' ? m : undefined;
      },
      90_000,
      `the verification of ${id} settled`,
    );
    assert.equal((await readFile(path.join(peers.doctor.markerDir, 'term-hang-2'), 'utf8')).trim(), 'term', 'the check ran to its deadline and trapped the TERM');
    assert.equal(match.verification, 'unverified', JSON.stringify(match));
    assert.match(match.verification_detail ?? '', /timed out/);
  });
});
