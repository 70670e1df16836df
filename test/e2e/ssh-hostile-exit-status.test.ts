import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { agentTaskQueue, jobScheduleId } from '../../src/temporal/names.js';
import { startHostileSshd, type HostileSshd } from '../helpers/hostile-sshd.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// A compromised management VM answers exit-status 0xFFFFFFFF (ssh2 reads it as a uint32; Windows OpenSSH
// sends 0xC0000005 for an access violation). Recorded as it came, the action-run and job-target writes
// failed ("integer out of range", Postgres `integer` columns) on every retry: the action stayed `running`
// with its lease held and its breaker never counted, and a job's fleet run never finished. The run is now a
// failure with no exit code, whose error shows the value (activities/script-result.ts, scriptResult).
//
// Real Temporal, worker and Postgres; the VM is an ssh2 Server (a real sshd cannot send such a status).
describe('a management VM answering an exit status Postgres cannot hold', function () {
  this.timeout(120_000);
  let stack: Stack;
  let pd: PagerDutyPeer;
  let vm: HostileSshd;
  const env = `hostile-vm-${randomUUID().slice(0, 6)}`;
  const jobs: string[] = [];
  const error = 'the host sent an exit status out of range (4294967295); an exit status is at most 2147483647';

  before(async function () {
    pd = await startPagerDutyPeer({ token: 'pd-test-token-123' });
    vm = await startHostileSshd({ status: 4294967295 });
    process.env.SELFHEAL_SECRET_HOSTILE_VM_SSH_KEY = vm.privateKey;
    stack = await startStack({
      env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: 'pd-test-token-123', PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', SELFHEAL_RATE_LIMIT_BURST: '100000' },
    });
    await stack.db.db
      .insertInto('environments')
      .values({
        name: env,
        labels: JSON.stringify({}),
        agent_task_queue: agentTaskQueue(env),
        maintenance_windows: '[]',
        ssh: JSON.stringify({ host: vm.host, port: vm.port, user: vm.username, keyRef: 'env:SELFHEAL_SECRET_HOSTILE_VM_SSH_KEY', hostKeyFingerprint: vm.hostKeyFingerprint }),
      })
      .execute();
  });

  after(async function () {
    for (const id of jobs) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await stack?.stop();
    await Promise.all([pd?.close(), vm?.stop()]);
    delete process.env.SELFHEAL_SECRET_HOSTILE_VM_SSH_KEY;
  });

  it('a script.ssh action is recorded failed with that error: its lease released, its breaker counted', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    await insertRule(stack.db.db, {
      name: `hostile-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'fix', type: 'script.ssh', script: 'fix.sh', timeoutSeconds: 10, retry: { maximumAttempts: 1 } }],
    } as never);
    const id = newIncidentId();
    pd.seedAlerts(id, [{ id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'broken', body: { type: 'alert_body', details: { environment: env, host: 'vm-1' } } }]);
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'hostile' } } }));
    const run = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return r?.finished_at ? r : undefined;
    }, 60_000, 'the action run recorded');
    assert.ok(vm.commands.length >= 1, 'the command reached the VM');
    assert.deepEqual([run.status, run.exit_code, run.error], ['failed', null, error]);
    assert.match(run.output_excerpt ?? '', /hostile host here/);
    const match = await eventually(async () => {
      const m = await stack.db.db.selectFrom('rule_matches').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return m?.breaker_outcome ? m : undefined;
    }, 30_000, 'the breaker counted the run');
    assert.ok(match.breaker_outcome!.failures >= 1, JSON.stringify(match.breaker_outcome));
    await eventually(async () => {
      const held = await stack.db.db.selectFrom('target_leases').select('id').where('incident_id', '=', id).where('released_at', 'is', null).execute();
      return held.length === 0 || undefined;
    }, 30_000, 'the target lease released');
  });

  it("an SSH job's run finishes, with that target failed and the error shown", async function () {
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ name: `hostile job ${randomUUID().slice(0, 6)}`, schedule: { interval: '1h' }, targets: { environments: [env] }, via: 'ssh', script: 'probe.sh' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const job = (await res.json()) as { id: string };
    jobs.push(job.id);
    await eventually(async () => {
      const r = await stack.api(`/api/jobs/${job.id}/trigger`, { method: 'POST' });
      if (r.status === 409) return undefined;
      assert.equal(r.status, 202, await r.text());
      return true;
    }, 20_000, 'job triggered');
    type RunView = { status: string; summary: { total: number; failed: number } | null; targets: { environment: string; status: string; exitCode: number | null; error: string | null }[] };
    const run = await eventually(async () => {
      const items = ((await (await stack.api(`/api/jobs/${job.id}/runs?limit=10`)).json()) as { items: RunView[] }).items;
      return items.find((r) => r.status !== 'running');
    }, 60_000, 'the job run finished');
    assert.equal(run.status, 'failed');
    assert.deepEqual(run.summary && { total: run.summary.total, failed: run.summary.failed }, { total: 1, failed: 1 });
    assert.deepEqual(run.targets.map((t) => [t.environment, t.status, t.exitCode, t.error]), [[env, 'failed', null, error]]);
  });
});
