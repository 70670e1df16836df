// Agents (docs/security.md "Agents"): what one environment's Doctor agent, or whoever holds its Temporal
// credentials, can and cannot do to another environment. Real Temporal, real Postgres, real agents, and a
// real OpenSSH sshd for the management VM.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import proto from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import type { AgentCheckResult } from '../../workflows/agent-check.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const { TaskQueueKind, TaskQueueType } = proto.temporal.api.enums.v1;
const exists = (p: string) => access(p).then(() => true, () => false);

describe('security: agent isolation', function () {
  let stack: Stack;
  let sshd: SshdHandle;
  let scriptsA: string;
  let scriptsB: string;
  let vmScripts: string;
  let markers: string;
  const agents: { worker: Worker; running: Promise<void> }[] = [];
  const suffix = randomUUID().slice(0, 6);
  const envA = `agent-a-${suffix}`;
  const envB = `agent-b-${suffix}`;
  const serviceId = `PAG${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;

  const script = async (dir: string, name: string, body: string) => {
    await writeFile(path.join(dir, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  };

  before(async function () {
    sshd = await startSshd();
    const dir = (n: string) => mkdtemp(path.join(os.tmpdir(), `selfheal-sec-agents-${n}-`));
    scriptsA = await dir('a');
    scriptsB = await dir('b');
    vmScripts = await dir('vm');
    markers = await dir('m');
    for (const d of [scriptsA, scriptsB, vmScripts]) await chmod(d, 0o755);
    await script(scriptsA, 'health-check.sh', 'echo "healthy A"');
    await script(scriptsB, 'health-check.sh', `echo "healthy B"; touch "${markers}/b-health"`);
    // What a hostile agent (or a script it was tricked into) answers: shell and template syntax.
    await script(scriptsB, 'report.sh', `printf '%s' '$(touch ${markers}/pwned) {{ incident.id }} \`id\`; rm -rf /'`);
    await script(vmScripts, 'record.sh', `printf '%s' "$1" > "${markers}/vm-arg"`);
    process.env.SELFHEAL_SECRET_AGENTS_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = vmScripts;

    stack = await startStack({ extractors: { serviceMap: { [serviceId]: { environment: envB } } } });
    for (const [environment, scriptsDir] of [[envA, scriptsA], [envB, scriptsB]] as const) {
      const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir });
      agents.push({ worker, running: worker.run() });
    }
    for (const body of [
      { name: envA },
      { name: envB, ssh: { host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_AGENTS_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint } },
    ]) {
      const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify(body) });
      assert.equal(res.status, 201, await res.clone().text());
    }
  });

  after(async function () {
    for (const a of agents) a.worker.shutdown();
    await Promise.all(agents.map((a) => a.running));
    await stack?.stop();
    await sshd?.stop();
    delete process.env.SELFHEAL_SECRET_AGENTS_SSH_KEY;
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    for (const d of [scriptsA, scriptsB, vmScripts, markers]) if (d) await rm(d, { recursive: true, force: true });
  });

  const describeQueue = (queue: string, type: proto.temporal.api.enums.v1.TaskQueueType) =>
    stack.temporal.client.workflowService.describeTaskQueue({
      namespace: stack.config.temporal.namespace,
      taskQueue: { name: queue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: type,
    });

  it('an agent polls activity tasks only: it runs no workflow code, so it cannot plan, approve or start anything itself', async function () {
    const queue = agentTaskQueue(envA);
    const activity = await eventually(async () => {
      const r = await describeQueue(queue, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
      return (r.pollers ?? []).length > 0 ? r : undefined;
    }, 30_000, 'agent A polling');
    assert.ok(activity.pollers!.some((p) => p.identity === `doctor-agent@${envA} teams=*`));
    const workflow = await describeQueue(queue, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW);
    assert.deepEqual(workflow.pollers ?? [], [], 'no workflow poller on an agent queue');
  });

  it("two environments never share an agent queue, so one environment's agent never receives another's tasks (400, admin included)", async function () {
    // Before: 200, and A's remediation scripts were then picked up by B's agent (or the reverse).
    for (const [method, p, body] of [
      ['PUT', `/api/environments/${envA}`, { agentTaskQueue: agentTaskQueue(envB) }],
      ['POST', '/api/environments', { name: `agent-c-${suffix}`, agentTaskQueue: agentTaskQueue(envA) }],
    ] as const) {
      const res = await stack.api(p, { method, body: JSON.stringify(body) });
      assert.equal(res.status, 400, `${method} ${p}`);
      assert.deepEqual(((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path), ['agentTaskQueue']);
    }
    const a = await stack.db.db.selectFrom('environments').select('agent_task_queue').where('name', '=', envA).executeTakeFirstOrThrow();
    assert.equal(a.agent_task_queue, agentTaskQueue(envA));
  });

  it('an agent check runs the fixed health-check script on the environment’s own queue only, and is recorded first', async function () {
    this.timeout(120_000);
    // The request cannot pick another queue or script (the body is not read).
    const res = await stack.api(`/api/environments/${envA}/check`, { method: 'POST', body: JSON.stringify({ taskQueue: agentTaskQueue(envB), script: 'report.sh' }) });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { taskQueue: string; healthy: boolean; check: AgentCheckResult };
    assert.equal(body.taskQueue, agentTaskQueue(envA));
    assert.equal(body.healthy, true);
    assert.equal(body.check.script, 'health-check.sh');
    assert.match(body.check.output, /healthy A/);
    assert.equal(await exists(path.join(markers, 'b-health')), false, "B's agent was not involved");
    const audit = await stack.db.db.selectFrom('audit_log').selectAll().where('action', '=', 'environment.check').where('entity_id', '=', envA).executeTakeFirstOrThrow();
    const recorded = audit.after as { workflowId: string; taskQueue: string; script: string };
    assert.equal(recorded.taskQueue, agentTaskQueue(envA));
    assert.equal(recorded.script, 'health-check.sh');
    const run = await stack.temporal.client.workflow.getHandle(recorded.workflowId).describe();
    assert.equal(run.type, 'agentCheckWorkflow', 'the audit entry names the run Temporal holds');
  });

  it('with namespace credentials, a forged check on another environment’s queue reaches its allow-list and nothing else', async function () {
    this.timeout(120_000);
    // What a compromised agent A can do with its Temporal credentials: start the check workflow itself.
    const forge = (scriptName: string) =>
      stack.temporal.client.workflow.execute('agentCheckWorkflow', {
        taskQueue: stack.taskQueue,
        workflowId: `forged-${randomUUID()}`,
        args: [{ environment: envB, taskQueue: agentTaskQueue(envB), script: scriptName, scheduleToStartSeconds: 20, timeoutSeconds: 20 }],
      }) as Promise<AgentCheckResult>;
    // stands-alone: not a path (script names an attacker sends)
    for (const escape of ['/bin/sh', '../../../../bin/sh', 'sh', `${path.relative(scriptsB, '/bin')}/sh`]) { // stands-alone: not a path
      const r = await forge(escape);
      assert.equal(r.healthy, false, escape);
      assert.equal(r.reached, true, escape);
      assert.match(r.error ?? '', /ScriptNotAllowedError/, escape);
    }
    // The remaining reach, which only Temporal authorization closes (docs/security.md "Agents"): B's own
    // allow-listed scripts, without arguments.
    const allowed = await forge('health-check.sh');
    assert.equal(allowed.healthy, true);
    assert.equal(await exists(path.join(markers, 'b-health')), true);
  });

  it("an agent's output is data: it reaches the next action as one argv element over SSH, never a shell or a template", async function () {
    this.timeout(180_000);
    const rule = {
      name: `agent-output-${suffix}`,
      services: [serviceId],
      actions: [
        { id: 'report', type: 'script.agent', script: 'report.sh' },
        { id: 'forward', type: 'script.ssh', script: 'record.sh', args: ['{{ results.report.outputExcerpt }}'] },
      ],
    };
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify(rule) });
    assert.equal(created.status, 201, await created.clone().text());
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference', summary: 'b' } } }))).status, 202);
    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 90_000, 'both actions finished');
    assert.deepEqual(runs.map((r) => r.status), ['succeeded', 'succeeded']);
    const hostile = `$(touch ${markers}/pwned) {{ incident.id }} \`id\`; rm -rf /`;
    assert.equal(runs[0]!.output_excerpt, hostile);
    assert.equal(await readFile(path.join(markers, 'vm-arg'), 'utf8'), hostile, 'arrived verbatim as $1 on the VM');
    assert.equal(await exists(path.join(markers, 'pwned')), false, 'nothing in it ran');
  });
});
