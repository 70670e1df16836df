import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { NativeConnection } from '@temporalio/worker';
import { createActivities } from '../../activities/index.js';
import { createIntegrations } from '../../src/integrations.js';
import { createLogger } from '../../src/logger.js';
import { createMainWorker } from '../../src/temporal/worker.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithDoctor } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { sampleFor } from '../helpers/samples.js';
import { serveApi } from '../helpers/fault-http.js';
import { eventually, WEBHOOK_SECRET } from '../helpers/stack.js';

// Verified remediation (issue 22) with the real stack: a script on a live Doctor agent "fixes" the host,
// then the rule run waits durably for the incident to resolve or for the rule's check script to exit 0.
// What is asserted is what people see: the outcome on the rule match and in the incident API, the
// onUnverified message at the Slack peer (once), the circuit breaker counting an unverified run.
describe('verified remediation end to end', function () {
  const peers = stackWithDoctor({
    prefix: 'verify',
    environment: `verify-${randomUUID().slice(0, 6)}`,
    scripts: (markerDir) => ({
      'fix.sh': 'echo "restarted $1"',
      // A fix that takes a while, so a person can resolve the incident while it runs.
      'slow-fix.sh': 'sleep 4; echo "restarted $1"',
      // Slow enough that the echo of a resolve before it lands while it runs.
      'after.sh': `sleep 2; echo done > "${markerDir}/after-$1"`,
      // Healthy once the test says so (a file per host); every run leaves a line, so the runs can be counted.
      'check.sh': `echo run >> "${markerDir}/checks-$1"; test -e "${markerDir}/healthy-$1"`,
    }),
    slackSecret: 'SELFHEAL_SECRET_VERIFY_SLACK',
    pagerDutyToken: 'pd-verify-token',
  });
  const { title, service } = peers;

  const rule = async (svc: string, extra: Partial<RuleInputDocument>): Promise<string> =>
    insertRule(peers.stack.db.db, {
      name: `verify-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
      ...extra,
    } as RuleInputDocument);
  // At a fixed time, before the resolves the cases send, and unknown to the PagerDuty peer.
  const trigger = (svc: string, host: string) => peers.trigger(svc, host, { occurredAt: '2026-09-01T10:00:00Z', atPeer: false });
  const matchOf = (id: string) => peers.stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirstOrThrow();
  const verification = (id: string, want: string) =>
    eventually(async () => {
      const m = await peers.stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return m?.verification === want ? m : undefined;
    }, 60_000, `verification ${want} of ${id}`);
  const fixDone = (id: string) =>
    eventually(async () => {
      const r = await peers.stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirst();
      return r?.status === 'succeeded' ? r : undefined;
    }, 60_000, `fix of ${id}`);

  it('a fix that works: the resolve arrives within the window → verified, shown in the incident API', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await rule(svc, { verify: { within: '60s', settle: '1s' } });
    const id = await trigger(svc, 'ok-1');
    await fixDone(id);
    assert.equal((await verification(id, 'pending')).verified_at, null);
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:02:00Z', data: { title: title('ok-1'), service: service(svc) } }));
    const m = await verification(id, 'verified');
    assert.match(m.verification_detail ?? '', /^incident\.resolved at /);
    assert.ok(m.verified_at);
    const detail = (await (await peers.stack.api(`/api/incidents/${id}`)).json()) as { matches: { verification: string }[]; actionRuns: { actionId: string; verification: string }[] };
    assert.equal(detail.matches[0]!.verification, 'verified');
    assert.equal(detail.actionRuns.find((r) => r.actionId === 'fix')!.verification, 'verified');
  });

  it('a fix that exits 0 while the incident stays open → unverified, onUnverified ran once, the breaker counted it', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    const ruleId = await rule(svc, {
      policies: { circuitBreaker: { failureThreshold: 1 } },
      verify: {
        within: '3s',
        settle: '1s',
        onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_VERIFY_SLACK', text: 'unverified fix on {{ environment.host }}' }],
      },
    });
    const id = await trigger(svc, 'stuck-1');
    await fixDone(id);
    const m = await verification(id, 'unverified');
    assert.equal(m.verification_detail, 'no incident.resolved within 3 s');
    // The breaker records the run's outcome after onUnverified ran: one failure, threshold 1 → open.
    const r = await eventually(async () => {
      const row = await peers.stack.db.db.selectFrom('rules').select(['consecutive_failures', 'breaker_state']).where('id', '=', ruleId).executeTakeFirstOrThrow();
      return row.consecutive_failures > 0 ? row : undefined;
    }, 30_000, 'the breaker to count the run');
    assert.equal(r.consecutive_failures, 1);
    assert.equal(r.breaker_state, 'open');
    assert.deepEqual(
      peers.slack.messages.filter((x) => x.text.includes('stuck-1')).map((x) => x.text),
      ['unverified fix on stuck-1'],
      'onUnverified posted once',
    );
    const runs = await peers.stack.db.db.selectFrom('action_runs').select(['action_id', 'status']).where('incident_id', '=', id).orderBy('action_index').execute();
    assert.deepEqual(runs, [
      { action_id: 'fix', status: 'succeeded' },
      { action_id: 'unverified-page', status: 'succeeded' },
    ]);
    // The summary note on the PagerDuty incident says so too.
    await eventually(async () => peers.pd.notes(id).some((n) => n.content.includes('- verification: unverified — no incident.resolved within 3 s')) || undefined, 30_000, 'the summary note');
  });

  it('a check script decides health: unhealthy first, then exit 0 → verified without a resolve', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await rule(svc, { verify: { within: '60s', settle: '1s', check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] } } });
    const id = await trigger(svc, 'chk-1');
    await fixDone(id);
    // The check runs and fails at least once before the host becomes healthy.
    await eventually(async () => (await readFile(path.join(peers.doctor.markerDir, 'checks-chk-1'), 'utf8').catch(() => '')).length > 0 || undefined, 30_000, 'a first check');
    assert.equal((await matchOf(id)).verification, 'pending');
    await writeFile(path.join(peers.doctor.markerDir, 'healthy-chk-1'), '');
    const m = await verification(id, 'verified');
    assert.match(m.verification_detail ?? '', /^check check\.sh exited 0 \(run \d+\)$/);
    const incident = await peers.stack.db.db.selectFrom('incidents').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(incident.status, 'triggered', 'verified by the check, not by a resolve');
  });

  it('a rule without verify → not_applicable; a rule whose action failed → not_applicable, never verified', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await rule(svc, {});
    const id = await trigger(svc, 'plain-1');
    await fixDone(id);
    const m = await verification(id, 'not_applicable');
    assert.equal(m.verification_detail, 'the rule declares no verify');

    const svc2 = newServiceId();
    await rule(svc2, { actions: [{ id: 'fix', type: 'script.agent', script: 'missing.sh' }], verify: { within: '60s' } });
    const id2 = await trigger(svc2, 'fail-1');
    const m2 = await verification(id2, 'not_applicable');
    assert.match(m2.verification_detail ?? '', /^an action failed/);
  });

  it('a resolve from before the actions ended proves nothing: not_applicable without a check, the check decides with one', async function () {
    // Attack on "verified means it worked": the rule keeps running after a resolve (cancelOnResolve:
    // false), and a person resolves the incident while the fix still runs. Before, the first probe read
    // "resolved" and verified the run, "1 s after the actions", and the breaker counted a success.
    this.timeout(180_000);
    const resolveWhileFixing = async (svc: string, host: string): Promise<string> => {
      const id = await trigger(svc, host);
      await eventually(async () => (await peers.stack.db.db.selectFrom('action_runs').select('status').where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirst())?.status === 'running' || undefined, 60_000, `the fix of ${host} running`);
      assert.equal((await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:00:30Z', data: { title: title(host), service: service(svc) } }))).status, 202);
      await eventually(async () => (await peers.stack.db.db.selectFrom('incidents').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status === 'resolved' || undefined, 30_000, 'resolved');
      const fix = await fixDone(id);
      assert.equal(fix.status, 'succeeded');
      return id;
    };
    const slowFix = [{ id: 'fix', type: 'script.agent', script: 'slow-fix.sh', args: ['{{ environment.host }}'] }] as RuleInputDocument['actions'];
    const page = [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_VERIFY_SLACK', text: 'unverified fix on {{ environment.host }}' }] as const;

    // No check: nothing can prove the fix, so nothing is claimed (and nothing is paged).
    const bare = newServiceId();
    await rule(bare, { actions: slowFix, policies: { cancelOnResolve: false }, verify: { within: '20s', settle: '1s', onUnverified: [...page] } });
    const early = await resolveWhileFixing(bare, 'early-1');
    const m = await verification(early, 'not_applicable');
    assert.match(m.verification_detail ?? '', /^the incident was resolved \(at 2026-09-01T10:00:30\.000Z\) before the actions finished, and the rule has no verify\.check: nothing can verify the remediation$/);
    assert.equal(peers.slack.messages.filter((x) => x.text === 'unverified fix on early-1').length, 0);

    // With a check: the host still sick, the check keeps failing → unverified, paged once, the breaker counts a failure.
    const checked = newServiceId();
    const checkedRule = await rule(checked, {
      actions: slowFix,
      policies: { cancelOnResolve: false, circuitBreaker: { failureThreshold: 5 } },
      verify: { within: '4s', settle: '1s', check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] }, onUnverified: [...page] },
    });
    const sick = await resolveWhileFixing(checked, 'early-sick');
    const u = await verification(sick, 'unverified');
    assert.match(u.verification_detail ?? '', /^the incident was resolved before the actions finished, which proves nothing about the remediation; check check\.sh exited 1 \(\d+ runs?\)$/);
    await eventually(async () => peers.slack.messages.some((x) => x.text === 'unverified fix on early-sick') || undefined, 30_000, 'the onUnverified page');
    await eventually(async () => (await peers.stack.db.db.selectFrom('rules').select('consecutive_failures').where('id', '=', checkedRule).executeTakeFirstOrThrow()).consecutive_failures === 1 || undefined, 30_000, 'the breaker counted a failure');

    // A rule on incident.resolved runs after the resolve: with no check, nothing to verify.
    const after = newServiceId();
    await rule(after, { eventTypes: ['incident.resolved'], verify: { within: '20s', settle: '1s' } });
    const id = await trigger(after, 'post-1');
    await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:01:00Z', data: { title: title('post-1'), service: service(after) } }));
    await fixDone(id);
    assert.match((await verification(id, 'not_applicable')).verification_detail ?? '', /before the actions finished, and the rule has no verify\.check/);
  });

  it("the rule's own pagerduty.resolve proves nothing: unverified unless its check passes", async function () {
    // Attack on the promise "verified means it worked": a rule that runs a fix and then resolves the
    // incident itself. PagerDuty echoes the resolve as incident.resolved; before, that echo verified the
    // run whatever the host's state. Now only the check can prove it.
    this.timeout(120_000);
    const api = await serveApi({ temporal: peers.stack.temporal.client, temporalAddress: peers.stack.temporal.address, db: peers.stack.db.db, databaseUrl: peers.stack.db.url, taskQueue: peers.stack.taskQueue });
    peers.pd.sendWebhooksTo(`${api.url}/webhooks/pagerduty`, WEBHOOK_SECRET);
    const selfResolving = (svc: string) =>
      rule(svc, {
        actions: [
          { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] },
          { id: 'resolve', type: 'pagerduty.resolve' },
        ],
        verify: {
          within: '8s',
          settle: '1s',
          check: { type: 'script.agent', script: 'check.sh', args: ['{{ environment.host }}'] },
          onUnverified: [{ id: 'page', type: 'notify.slack', webhookUrlRef: 'env:SELFHEAL_SECRET_VERIFY_SLACK', text: 'unverified fix on {{ environment.host }}' }],
        },
      });
    // Now, and known to the PagerDuty peer first: the rule's pagerduty.resolve resolves it there.
    const seeded = (svc: string, host: string) => peers.trigger(svc, host);

    // The host stays sick: the check keeps exiting 1.
    const sickSvc = newServiceId();
    await selfResolving(sickSvc);
    const sick = await seeded(sickSvc, 'selfres-sick');
    const m = await verification(sick, 'unverified');
    assert.match(m.verification_detail ?? '', /^the incident was resolved by Self-healing's own pagerduty\.resolve, which proves nothing about the remediation; check check\.sh exited 1 \(\d+ runs?\)$/);
    // What made the old code say "verified": the resolve reached PagerDuty and its echo resolved the incident.
    assert.equal(peers.pd.incident(sick)?.status, 'resolved');
    assert.equal((await peers.stack.db.db.selectFrom('incidents').select('status').where('id', '=', sick).executeTakeFirstOrThrow()).status, 'resolved');
    await eventually(async () => peers.slack.messages.some((x) => x.text === 'unverified fix on selfres-sick') || undefined, 30_000, 'the onUnverified page');
    assert.equal(peers.slack.messages.filter((x) => x.text === 'unverified fix on selfres-sick').length, 1, 'paged once');

    // The host is healthy: the check proves it, whatever resolved the incident.
    const okSvc = newServiceId();
    await selfResolving(okSvc);
    await writeFile(path.join(peers.doctor.markerDir, 'healthy-selfres-ok'), '');
    const ok = await seeded(okSvc, 'selfres-ok');
    const v = await verification(ok, 'verified');
    assert.match(v.verification_detail ?? '', /^check check\.sh exited 0 \(run \d+\)$/);
  });

  it("the actions after a rule's own pagerduty.resolve still run: its echo does not cancel the rule", async function () {
    // PagerDuty echoes the resolve as incident.resolved, and a resolve cancels the incident's rule runs. The
    // rule that resolved used to be cancelled by its own echo: the script after the resolve was stopped.
    // (The webhooks from the peer come through the API started by the test above.)
    this.timeout(120_000);
    const svc = newServiceId();
    await rule(svc, {
      actions: [
        { id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] },
        { id: 'resolve', type: 'pagerduty.resolve' },
        { id: 'after', type: 'script.agent', script: 'after.sh', args: ['{{ environment.host }}'] },
      ],
    });
    const id = await peers.trigger(svc, 'after-1');
    const runs = await eventually(async () => {
      const r = await peers.stack.db.db.selectFrom('action_runs').select(['action_id', 'status', 'error']).where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === 3 && r.every((x) => x.status !== 'running') ? r : undefined;
    }, 60_000, 'three finished action runs');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [['fix', 'succeeded'], ['resolve', 'succeeded'], ['after', 'succeeded']], JSON.stringify(runs));
    assert.equal(await readFile(path.join(peers.doctor.markerDir, 'after-after-1'), 'utf8'), 'done\n');
    // The echo did arrive (and resolved the incident) while the script ran.
    await eventually(async () => (await peers.stack.db.db.selectFrom('incidents').select('status').where('id', '=', id).executeTakeFirstOrThrow()).status === 'resolved' || undefined, 30_000, 'the echo');
  });

  it('refuses to save a rule that resolves the incident itself and verifies without a check', async function () {
    const res = await peers.stack.api('/api/rules', {
      method: 'POST',
      body: JSON.stringify({ name: 'resolve-no-check', services: [newServiceId()], actions: [{ type: 'script.agent', script: 'fix.sh' }, { type: 'pagerduty.resolve' }], verify: { within: '10m' } }),
    });
    assert.equal(res.status, 400);
    const problem = (await res.json()) as { errors?: { path: string; message: string }[] };
    assert.deepEqual(problem.errors?.map((e) => e.path), ['verify.check']);
    assert.match(problem.errors?.[0]?.message ?? '', /resolves the incident itself \(actions\.1\)/);
  });

  // Last: it stops the stack's worker.
  it('survives a worker restart: the wait moves to another worker, and the resolve still verifies', async function () {
    this.timeout(120_000);
    const svc = newServiceId();
    await rule(svc, { verify: { within: '120s', settle: '1s' } });
    const id = await trigger(svc, 'restart-1');
    await fixDone(id);
    await verification(id, 'pending');
    // A replacement worker on the same task queue, then the original one stops (a redeploy).
    const connection = await NativeConnection.connect({ address: peers.stack.temporal.address });
    const replacement = await createMainWorker({
      connection,
      namespace: peers.stack.config.temporal.namespace,
      taskQueue: peers.stack.taskQueue,
      activities: createActivities({ db: peers.stack.db.db, logger: createLogger({ level: 'silent' }), extractors: {}, integrations: createIntegrations(peers.stack.config), guards: peers.stack.config.guards }),
    });
    const running = replacement.run();
    try {
      peers.stack.worker.shutdown();
      await eventually(async () => peers.stack.worker.getState() === 'STOPPED' || undefined, 30_000, 'the first worker to stop');
      await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:03:00Z', data: { title: title('restart-1'), service: service(svc) } }));
      const m = await verification(id, 'verified');
      assert.match(m.verification_detail ?? '', /^incident\.resolved at /);
    } finally {
      replacement.shutdown();
      await running;
      await connection.close();
    }
  });
});
