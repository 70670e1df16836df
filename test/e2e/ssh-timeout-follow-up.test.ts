import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { startDelayingProxy } from '../helpers/tcp-proxy.js';

// A script over SSH that traps SIGTERM outlives its deadline until SIGKILL comes 5 s after the TERM, and the
// TERM leaves only when our end of the input reaches the host. Its activity's start-to-close timeout was the
// action's timeoutSeconds + 5: Temporal timed the attempt out while the script still ran, and the rule run
// went on to its `when: failure` action beside it (here a webhook; in life, a restart of what the script was
// still repairing). The attempt now has time to see the script stop (policies' SCRIPT_STOP_SLACK_SECONDS).
//
// Real Temporal and worker, a real sshd behind a proxy that slows what we send (a far-away VM: 4 s one way,
// from the moment the script runs), a local webhook peer that looks at the script's process when called.
describe('a timed-out SSH script and the action after it', function () {
  this.timeout(120_000);
  let stack: Stack;
  let pd: PagerDutyPeer;
  let sshd: SshdHandle;
  let proxy: Awaited<ReturnType<typeof startDelayingProxy>>;
  let hook: HttpPeer;
  let scriptsDir: string;
  let markerDir: string;
  /** What the webhook peer saw of the script's process when the follow-up reached it. */
  const seen: { at: number; running: boolean }[] = [];
  const env = `far-vm-${randomUUID().slice(0, 6)}`;

  /** Whether the process in `pidFile` is still running (a zombie only awaiting its reaper is not). */
  async function running(pidFile: string): Promise<boolean> {
    const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
    if (!pid) return false;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat !== '' && !/ Z /.test(stat.slice(stat.lastIndexOf(')')));
  }

  before(async function () {
    pd = await startPagerDutyPeer({ token: 'pd-test-token-123' });
    sshd = await startSshd();
    proxy = await startDelayingProxy(sshd.host, sshd.port);
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-scripts-'));
    markerDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-markers-'));
    await chmod(scriptsDir, 0o755);
    // Holds out against SIGTERM (the trap), as a careful repair script finishing a step does; only SIGKILL ends it.
    await writeFile(path.join(scriptsDir, 'stubborn.sh'), `#!/bin/sh\necho $$ > "${markerDir}/stubborn-pid"\ntrap 'echo term >> "${markerDir}/stubborn-term"' TERM\nwhile :; do sleep 0.2; done\n`);
    await chmod(path.join(scriptsDir, 'stubborn.sh'), 0o755);
    hook = await startHttpPeer([
      {
        method: 'POST',
        path: '/after',
        handle: () => ({ status: 204 }),
      },
    ]);
    process.env.SELFHEAL_SECRET_FAR_VM_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    stack = await startStack({
      env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: 'pd-test-token-123', PAGERDUTY_FROM_EMAIL: 'selfheal@example.com', ACTION_EGRESS_ALLOW: '127.0.0.1/32' },
    });
    await stack.db.db
      .insertInto('environments')
      .values({
        name: env,
        labels: JSON.stringify({}),
        agent_task_queue: agentTaskQueue(env),
        maintenance_windows: '[]',
        ssh: JSON.stringify({ host: '127.0.0.1', port: proxy.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_FAR_VM_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint }),
      })
      .execute();
  });

  after(async function () {
    await stack?.stop();
    await Promise.all([pd?.close(), hook?.close(), proxy?.close(), sshd?.stop()]);
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    delete process.env.SELFHEAL_SECRET_FAR_VM_SSH_KEY;
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
    if (markerDir) await rm(markerDir, { recursive: true, force: true });
  });

  it('the `when: failure` action runs only once the timed-out script has stopped on the host', async function () {
    const serviceId = 'PSVC' + randomUUID().slice(0, 6).toUpperCase();
    await insertRule(stack.db.db, {
      name: `stubborn-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [
        { id: 'fix', type: 'script.ssh', script: 'stubborn.sh', timeoutSeconds: 3 },
        { id: 'after', type: 'notify.webhook', url: `${hook.url}/after`, body: '{}', when: 'failure', retry: { maximumAttempts: 1 } },
      ],
    } as never);
    const id = newIncidentId();
    pd.seedAlerts(id, [{ id: `A${randomUUID().slice(0, 8)}`, type: 'alert', summary: 'stuck', body: { type: 'alert_body', details: { environment: env, host: 'far-1' } } }]);
    const pidFile = path.join(markerDir, 'stubborn-pid');
    // Look at the script whenever the follow-up arrives, before answering it.
    const watch = setInterval(() => {
      if (hook.requests.length > seen.length) {
        const at = Date.now();
        void running(pidFile).then((r) => seen.push({ at, running: r }));
      }
    }, 5);
    try {
      await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'far' } } }));
      await eventually(async () => (await running(pidFile)) || undefined, 30_000, 'the script running on the VM');
      // From now on what we send takes 4 s to reach the host: the EOF at the deadline too.
      proxy.delayRequests(4000);
      const runs = await eventually(async () => {
        const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
        return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
      }, 90_000, 'both actions finished');
      assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
        ['fix', 'failed'],
        ['after', 'succeeded'],
      ]);
      await eventually(async () => seen.length >= 1 || undefined, 5_000, 'the follow-up looked at');
      assert.equal(hook.requests.length, 1);
      assert.equal((await readFile(path.join(markerDir, 'stubborn-term'), 'utf8')).trim().split('\n')[0], 'term', 'the script was sent SIGTERM and held out');
      assert.equal(seen[0]!.running, false, 'the `when: failure` action reached its peer while the timed-out script still ran on the host');
      assert.equal(await running(pidFile), false, 'the script is gone from the host');
    } finally {
      clearInterval(watch);
    }
  });
});
