// Disabling or deleting a rule stops its runs in flight (docs/guarantees.md): a remediation that has not
// started when the rule is stopped does not start. An idempotent SSH script is retried by Temporal after a
// pause, up to a hundred times its first: its first attempt could not reach the VM (nothing ran), the admin
// disabled the rule during the pause, and the retry ran the script on the VM all the same. Each retry now
// asks whether its rule was stopped. Real Temporal and worker, a real sshd; the environment points at a
// closed port first, then at the sshd, as a VM back from a reboot would be.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { unusedPort } from '../helpers/ports.js';
import { insertRule } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

describe('a rule stopped while its SSH script waits for a retry', function () {
  this.timeout(120_000);
  let stack: Stack;
  let pd: PagerDutyPeer;
  let sshd: SshdHandle;
  let scriptsDir: string;
  let markerDir: string;
  const env = `ssh-retry-${randomUUID().slice(0, 6)}`;

  /** The environment's VM: `port` on this host. */
  const vmAt = (port: number) =>
    JSON.stringify({ host: '127.0.0.1', port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_SSH_RETRY_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint });

  before(async function () {
    pd = await startPagerDutyPeer({ token: 'pd-test-token-123' });
    sshd = await startSshd();
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-scripts-'));
    markerDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-markers-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'fix.sh'), `#!/bin/sh\ntouch "${markerDir}/fixed-$1"\n`);
    await chmod(path.join(scriptsDir, 'fix.sh'), 0o755);
    process.env.SELFHEAL_SECRET_SSH_RETRY_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    stack = await startStack({
      env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: 'pd-test-token-123', PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', ACTION_EGRESS_ALLOW: '127.0.0.1/32' },
    });
    await stack.db.db
      .insertInto('environments')
      .values({ name: env, labels: JSON.stringify({}), agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: vmAt(await unusedPort()) })
      .execute();
  });

  after(async function () {
    await stack?.stop();
    await Promise.all([pd?.close(), sshd?.stop()]);
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    delete process.env.SELFHEAL_SECRET_SSH_RETRY_KEY;
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
    if (markerDir) await rm(markerDir, { recursive: true, force: true });
  });

  it('the VM unreachable at the first attempt, the rule disabled through the API during the pause: the retry never reaches the VM', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    const doc = {
      name: `ssh-retry-${serviceId.toLowerCase()}`,
      services: [serviceId],
      // Long enough a pause for the test to stop the rule before the retry is due.
      actions: [{ id: 'fix', type: 'script.ssh', script: 'fix.sh', args: ['{{ environment.host }}'], idempotent: true, retry: { maximumAttempts: 2, initialIntervalSeconds: 8 } }],
    } as RuleInputDocument;
    const ruleId = await insertRule(stack.db.db, doc);
    const id = newIncidentId();
    pd.seedAlerts(id, [{ id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'down', body: { type: 'alert_body', details: { environment: env, host: 'vm-1' } } }]);
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'vm' } } }));

    // The first attempt failed (connection refused): the activity waits for its retry.
    const fix = await eventually(
      () => stack.db.db.selectFrom('action_runs').select(['workflow_id']).where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirst(),
      30_000,
      'the fix claimed',
    );
    await eventually(
      async () => {
        const d = await stack.temporal.client.workflow.getHandle(fix.workflow_id!).describe();
        return (d.raw.pendingActivities ?? []).some((a) => (a.attempt ?? 0) > 1 || a.lastFailure) || undefined;
      },
      30_000,
      'the first attempt to fail',
    );
    // The VM is back, and the admin stops the rule.
    await stack.db.db.updateTable('environments').set({ ssh: vmAt(sshd.port) }).where('name', '=', env).execute();
    const put = await stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc, enabled: false }) });
    assert.equal(put.status, 200, await put.text());

    const done = await eventually(
      async () => {
        const r = await stack.db.db.selectFrom('action_runs').select(['status', 'error']).where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirst();
        return r && r.status !== 'running' ? r : undefined;
      },
      60_000,
      'the fix to finish',
    );
    assert.deepEqual(await readdir(markerDir), [], 'the retry ran the script on the VM after the rule was disabled');
    assert.equal(done.status, 'failed');
    assert.equal(done.error, 'attempt 2 not run: its rule was disabled while the run went on');
  });
});
