import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverWithRetries, serveApi } from '../helpers/fault-http.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// docs/guarantees.md, Per action type, `script.ssh`: "when the run is cancelled, times out, or the connection
// drops (the worker died), the command and what it started are stopped on the VM", and the script is at
// most once. The main worker is a real child process, SIGKILLed while a script runs on a real sshd; a fresh
// worker process takes the run over. What is counted is the script's own record on the host.
describe('fault: main worker killed while an SSH script runs', function () {
  this.timeout(180_000);
  let temporal: TestTemporal;
  let db: TestDatabase;
  let sshd: SshdHandle;
  let hook: HttpPeer;
  let api: Awaited<ReturnType<typeof serveApi>>;
  let scriptsDir: string;
  let markerDir: string;
  const workers: ChildRoot[] = [];
  const taskQueue = `fault-ssh-${randomUUID()}`;
  const env = `fault-vm-${randomUUID().slice(0, 6)}`;
  const serviceId = newServiceId();
  let workerEnv: Record<string, string>;

  async function running(pidFile: string): Promise<boolean> {
    const pid = (await readFile(pidFile, 'utf8').catch(() => '')).trim();
    if (!pid) return false;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    return stat !== '' && !/ Z /.test(stat.slice(stat.lastIndexOf(')')));
  }
  const lines = async (name: string) => (await readFile(path.join(markerDir, name), 'utf8').catch(() => '')).split('\n').filter(Boolean);

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    sshd = await startSshd();
    hook = await startHttpPeer([{ method: 'POST', path: '/after', handle: () => ({ status: 204 }) }]);
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-scripts-'));
    markerDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-markers-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(
      path.join(scriptsDir, 'slow.sh'),
      `#!/bin/sh\necho start >> "${markerDir}/starts"\necho $$ > "${markerDir}/pid"\nsleep 20\necho finished >> "${markerDir}/finished"\necho done\n`,
    );
    await chmod(path.join(scriptsDir, 'slow.sh'), 0o755);
    const extractorsFile = path.join(markerDir, 'extractors.json');
    await writeFile(extractorsFile, JSON.stringify({ serviceMap: { [serviceId]: { environment: env } } }));
    await db.db
      .insertInto('environments')
      .values({
        name: env,
        labels: '{}',
        agent_task_queue: agentTaskQueue(env),
        maintenance_windows: '[]',
        ssh: JSON.stringify({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_FAULT_VM_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint }),
      })
      .execute();
    api = await serveApi({ temporal: temporal.client, temporalAddress: temporal.address, db: db.db, databaseUrl: db.url, taskQueue });
    workerEnv = {
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: db.url,
      TEMPORAL_TASK_QUEUE: taskQueue,
      SELFHEAL_EXTRACTORS_FILE: extractorsFile,
      SELFHEAL_SSH_SCRIPTS_DIR: scriptsDir,
      SELFHEAL_SECRET_FAULT_VM_SSH_KEY: sshd.privateKey,
    };
  });

  after(async function () {
    for (const w of workers) await w.stop();
    await Promise.all([hook?.close(), sshd?.stop()]);
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
    if (markerDir) await rm(markerDir, { recursive: true, force: true });
  });

  it('stops the script on the host, records the action failed (never running), runs it no second time, and runs the failure branch once', async function () {
    const first = startChildRoot('src/worker.ts', workerEnv);
    workers.push(first);
    await first.waitFor(/worker started/);
    await insertRule(db.db, {
      name: `ssh-kill-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [
        { id: 'fix', type: 'script.ssh', script: 'slow.sh', timeoutSeconds: 60 },
        { id: 'after', type: 'notify.webhook', url: `${hook.url}/after`, body: '{"incident": "{{ incident.id }}"}', when: 'failure' },
      ],
    } as never);
    const id = newIncidentId();
    assert.equal((await deliverWithRetries(api.url, sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 's' } } }))).status, 202);
    const pidFile = path.join(markerDir, 'pid');
    await eventually(async () => (await running(pidFile)) || undefined, 60_000, 'the script running on the host');
    await first.kill();

    // The dropped connection stops the script on the host, before it could finish.
    await eventually(async () => !(await running(pidFile)) || undefined, 30_000, 'the script stopped on the host once the worker died');

    const second = startChildRoot('src/worker.ts', workerEnv);
    workers.push(second);
    await second.waitFor(/worker started/);
    const runs = await eventually(async () => {
      const r = await db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, 'both actions finished');
    assert.deepEqual(runs.map((r) => [r.action_id, r.status]), [
      ['fix', 'failed'],
      ['after', 'succeeded'],
    ]);
    assert.deepEqual(await lines('starts'), ['start'], 'the script started once');
    assert.deepEqual(await lines('finished'), [], 'the script never finished: it was stopped');
    assert.equal(hook.requests.filter((r) => (r.json as { incident?: string } | undefined)?.incident === id).length, 1);
    const stuck = await db.db.selectFrom('action_runs').select('id').where('status', '=', 'running').execute();
    assert.deepEqual(stuck, [], 'no action run left running');
  });
});
