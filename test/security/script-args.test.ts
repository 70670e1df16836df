// Script arguments made from data never become options (src/domain/script-args.ts, docs/security.md
// "Script arguments"). The attacker writes a PagerDuty incident (its title here; custom details alike) or
// is the agent whose output a later action templates. Real Temporal, real Postgres, a real Doctor agent
// worker and a real OpenSSH sshd for the management VM; the scripts record the argv they were given.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

describe('security: incident values never reach a script as options', function () {
  let stack: Stack;
  let sshd: SshdHandle;
  let agentScripts: string;
  let vmScripts: string;
  let markers: string;
  let agent: { worker: Worker; running: Promise<void> } | undefined;
  const suffix = randomUUID().slice(0, 6);
  const env = `args-${suffix}`;
  const serviceId = `PAG${randomUUID().replace(/-/g, '').slice(0, 6).toUpperCase()}`;

  // Each run appends `<action id>: <arg>|<arg>|…` to a log, so the test sees exactly which argv ran where.
  const recorder = (log: string) => `#!/bin/sh\nid=$1; shift\nline="$id:"; for a in "$@"; do line="$line $a|"; done\nprintf '%s\\n' "$line" >> "${log}"\nprintf '%s' "$line"\n`;
  const lines = async (file: string) => (await readFile(file, 'utf8').catch(() => '')).split('\n').filter(Boolean).sort();

  before(async function () {
    sshd = await startSshd();
    const dir = (n: string) => mkdtemp(path.join(os.tmpdir(), `selfheal-sec-args-${n}-`));
    agentScripts = await dir('agent');
    vmScripts = await dir('vm');
    markers = await dir('m');
    for (const d of [agentScripts, vmScripts, markers]) await chmod(d, 0o755);
    await writeFile(path.join(agentScripts, 'record.sh'), recorder(path.join(markers, 'agent.log')), { mode: 0o755 });
    await writeFile(path.join(vmScripts, 'record.sh'), recorder(path.join(markers, 'vm.log')), { mode: 0o755 });
    // An agent answering like a compromised one (or a script that prints what an attacker wrote).
    await writeFile(path.join(agentScripts, 'report.sh'), "#!/bin/sh\nprintf '%s' '--apply'\n", { mode: 0o755 });
    process.env.SELFHEAL_SECRET_ARGS_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = vmScripts;

    stack = await startStack({ extractors: { serviceMap: { [serviceId]: { environment: env } } } });
    const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: env, scriptsDir: agentScripts });
    agent = { worker, running: worker.run() };
    const res = await stack.api('/api/environments', {
      method: 'POST',
      body: JSON.stringify({ name: env, ssh: { host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_ARGS_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint } }),
    });
    assert.equal(res.status, 201, await res.clone().text());
  });

  after(async function () {
    agent?.worker.shutdown();
    await agent?.running;
    await stack?.stop();
    await sshd?.stop();
    delete process.env.SELFHEAL_SECRET_ARGS_SSH_KEY;
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    for (const d of [agentScripts, vmScripts, markers]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('an incident title "--apply" templated at the head of an argument fails the action unrun, on the agent and over SSH, as does an agent output; inside an option or after "--" it stays a value', async function () {
    this.timeout(180_000);
    const always = { when: 'always' } as const;
    const rule = {
      name: `option-from-data-${suffix}`,
      services: [serviceId],
      actions: [
        { id: 'agent-head', type: 'script.agent', script: 'record.sh', args: ['agent-head', '{{ incident.title }}'], ...always },
        { id: 'ssh-head', type: 'script.ssh', script: 'record.sh', args: ['ssh-head', '{{ incident.title }}'], ...always },
        { id: 'agent-after-option', type: 'script.agent', script: 'record.sh', args: ['agent-after-option', '--host', '{{ incident.title }}'], ...always },
        { id: 'agent-operand', type: 'script.agent', script: 'record.sh', args: ['agent-operand', '--', '{{ incident.title }}'], ...always },
        { id: 'ssh-inline', type: 'script.ssh', script: 'record.sh', args: ['ssh-inline', '--host={{ incident.title }}'], ...always },
        { id: 'report', type: 'script.agent', script: 'report.sh', ...always },
        { id: 'forward', type: 'script.ssh', script: 'record.sh', args: ['forward', '{{ results.report.outputExcerpt }}'], ...always },
      ],
    };
    const created = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify(rule) });
    assert.equal(created.status, 201, await created.clone().text());

    const id = newIncidentId();
    const event = sampleFor('v3-incident.triggered-01.json', id, { data: { title: '--apply', service: { id: serviceId, type: 'service_reference', summary: 'args' } } });
    assert.equal((await stack.deliver(event)).status, 202);
    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
      return r.length === rule.actions.length && r.every((x) => x.finished_at) ? r : undefined;
    }, 120_000, 'every action finished');

    const byId = Object.fromEntries(runs.map((r) => [r.action_id, r]));
    const status = Object.fromEntries(runs.map((r) => [r.action_id, r.status]));
    assert.deepEqual(status, {
      'agent-head': 'failed',
      'ssh-head': 'failed',
      'agent-after-option': 'failed',
      'agent-operand': 'succeeded',
      'ssh-inline': 'succeeded',
      report: 'succeeded',
      forward: 'failed',
    });
    for (const [refused, index] of [['agent-head', 1], ['ssh-head', 1], ['agent-after-option', 2], ['forward', 1]] as const) {
      assert.match(String(byId[refused]!.error), new RegExp(`^args\\.${index}: the value rendered into "\\{\\{ [a-z.A-Z]+ \\}\\}" starts with "-"`), refused);
    }
    // What ran, and with which argv: the refused actions never reached a script.
    assert.deepEqual(await lines(path.join(markers, 'agent.log')), ['agent-operand: --| --apply|']);
    assert.deepEqual(await lines(path.join(markers, 'vm.log')), ['ssh-inline: --host=--apply|']);
  });
});
