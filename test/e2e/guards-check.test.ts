import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { eventually } from '../helpers/stack.js';

// A rule's `verify.check` runs a script on the incident's host, after each settle, until `within`: any
// allow-listed script a writer names. A rule of notifications and a check used to pass the guards
// untouched (no remediation action, nothing to count), so the check ran on every host while automation was
// paused fleet-wide, counted by no guard. It now counts as a remediation action: the guards count it,
// crossing one stops it (the notifications still go), and a pause stops it. What the host saw is read at
// the real Doctor agent (a file per check run); what the team was told, at the Slack peer.
describe('fleet guards: a verify.check script counts as remediation', function () {
  const peers = stackWithDoctor({
    prefix: 'guard-check',
    environment: `checked-${randomUUID().slice(0, 6)}`,
    // Any allow-listed script may be a check; this one leaves a file per host it ran on, and says "unhealthy".
    scripts: (markerDir) => ({ 'check.sh': `touch "${markerDir}/checked-$1"\nexit 1` }),
    slackSecret: 'SELFHEAL_SECRET_GUARD_CHECK_SLACK',
    env: { SELFHEAL_GUARD_MAX_TARGETS: '2', SELFHEAL_GUARD_WINDOW: '1h' },
  });

  it('counted for its host, kept after its run ends; the guard crossed stops it (notification sent); the pause stops it', async function () {
    this.timeout(180_000);
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `check-only-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'tell', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_GUARD_CHECK_SLACK', text: 'looking at {{ environment.host }}' }],
      verify: { within: '4s', settle: '2s', check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] } },
    });
    const trigger = (host: string) => peers.trigger(svc, host);
    const matchOf = (incidentId: string) =>
      eventually(() => peers.stack.db.db.selectFrom('rule_matches').select(['id', 'decision', 'skip_reason', 'verification', 'breaker_outcome']).where('incident_id', '=', incidentId).executeTakeFirst(), 30_000, `the match of ${incidentId}`);
    const told = (host: string) => eventually(async () => peers.slack.messages.some((m) => m.text.includes(`looking at ${host}`)) || undefined, 30_000, `the notification for ${host}`);

    // Two hosts within the guard: each checked, each counted (one action), and still counted once its run is over.
    for (const host of ['c1', 'c2']) {
      const id = await trigger(host);
      await eventually(async () => existsSync(`${peers.doctor.markerDir}/checked-${host}`) || undefined, 30_000, `the check on ${host}`);
      const match = await eventually(async () => {
        const m = await matchOf(id);
        // The outcome is recorded last, in the transaction that releases a remediation that ran nothing.
        return m.verification === 'unverified' && m.breaker_outcome !== null ? m : undefined;
      }, 60_000, `the run on ${host} to end`);
      const counted = await peers.stack.db.db.selectFrom('remediations').select(['target', 'actions', 'released_at']).where('match_id', '=', match.id).executeTakeFirst();
      assert.deepEqual(counted, { target: host, actions: 1, released_at: null }, `the check on ${host} counted and kept`);
    }

    // The third host crosses fleet.maxTargets: notifications only, the check never runs there.
    const third = await trigger('c3');
    const stopped = await matchOf(third);
    assert.equal(stopped.decision, 'notify_only');
    assert.match(stopped.skip_reason ?? '', /fleet\.maxTargets/);
    await told('c3');
    const pause = await peers.stack.db.db.selectFrom('automation_pauses').select(['scope', 'guard']).where('resumed_at', 'is', null).executeTakeFirst();
    assert.deepEqual(pause, { scope: 'fleet', guard: 'fleet.maxTargets' });

    // While paused, the next incident's check does not run either.
    const fourth = await trigger('c4');
    const paused = await matchOf(fourth);
    assert.equal(paused.decision, 'notify_only');
    assert.match(paused.skip_reason ?? '', /paused/);
    await told('c4');
    // Past the check's first settle (2 s): a check started for either would have left its file.
    await new Promise((r) => setTimeout(r, 4000));
    assert.deepEqual(['c3', 'c4'].filter((h) => existsSync(`${peers.doctor.markerDir}/checked-${h}`)), [], 'a check ran on a host the guards stopped');
  });
});
