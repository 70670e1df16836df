import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

/** Whether `pid` still runs (a zombie, killed but not yet reaped by an init that does not reap, does not). */
async function running(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
}

// The Doctor agent is a real child process (src/agent.ts), SIGKILLed while a script of a rule with a
// 3-second timeout hangs on it (with a child of its own). The script runs detached in its own process
// group, so nothing stopped it when the agent died: it ran on, as root, past every deadline. The host
// now enforces the deadline too (timeout(1) around the script): it and what it started are gone within
// the timeout, the slack and the kill grace.
describe('fault: Doctor agent killed while a script hangs', function () {
  let stack: Stack;
  let scriptsDir: string;
  let markers: string;
  const agents: ChildRoot[] = [];
  const env = `fault-deadline-${randomUUID().slice(0, 8)}`;
  const serviceId = newServiceId();
  const pids: number[] = [];

  before(async function () {
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-fault-deadline-scripts-'));
    markers = await mkdtemp(path.join(os.tmpdir(), 'selfheal-fault-deadline-markers-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'hang.sh'), `#!/bin/sh\nsleep 300 &\necho "$$ $!" > "${markers}/pids.tmp"\nmv "${markers}/pids.tmp" "${markers}/pids"\nwait\n`, { mode: 0o755 });
    stack = await startStack({ extractors: { serviceMap: { [serviceId]: { environment: env } } } });
    await stack.db.db
      .insertInto('environments')
      .values({ name: env, labels: '{}', agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: null })
      .execute();
  });

  after(async function () {
    for (const a of agents) await a.stop();
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    await stack?.stop();
    for (const d of [scriptsDir, markers]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('the script and its children stop at their deadline though the agent that started them is gone', async function () {
    this.timeout(120_000);
    const agent = startChildRoot('src/agent.ts', { TEMPORAL_ADDRESS: stack.temporal.address, SELFHEAL_ENVIRONMENT: env, SELFHEAL_SCRIPTS_DIR: scriptsDir });
    agents.push(agent);
    await agent.waitFor(/Doctor agent polling/);
    await insertRule(stack.db.db, {
      name: `hang-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'hang', type: 'script.agent', script: 'hang.sh', timeoutSeconds: 3 }],
    });
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference' } } }))).status, 202);

    const started = await eventually(async () => (await readFile(path.join(markers, 'pids'), 'utf8').catch(() => '')).trim() || undefined, 60_000, 'the script started');
    pids.push(...started.split(' ').map(Number));
    assert.equal(pids.length, 2);
    for (const pid of pids) assert.ok(pid > 0 && (await running(pid)), `pid ${pid} runs`);
    const killedAt = Date.now();
    await agent.kill();

    // 3 s timeout + 2 s slack + 3 s kill grace at most, from the script's start (before the kill).
    await eventually(async () => (await Promise.all(pids.map(running))).every((r) => !r) || undefined, 20_000, 'the script and its child stopped (still running: the agent was their only deadline)');
    assert.ok(Date.now() - killedAt < 15_000);
  });
});
