// Who may change what a Doctor agent runs (docs/security.md "Agents"): the agent runs its scripts as root,
// so a script that someone other than root (or the agent's own user) could change is refused, as sshd's
// StrictModes refuses such a key file. Before, only world-writable was refused: a group-writable (0775) or
// another user's script ran as root at the next check, rule or job. Real Temporal, real Postgres, a real
// agent worker (buildAgentWorker) reached through POST /api/environments/{name}/check.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import type { AgentCheckResult } from '../../src/contracts/jobs.js';
import { startStack, type Stack } from '../helpers/stack.js';

const exists = (p: string) => access(p).then(() => true, () => false);

describe('security: an agent runs no script that someone other than root or its own user could change', function () {
  this.timeout(180_000);
  let stack: Stack;
  let agent: Worker;
  let agentRunning: Promise<void>;
  let scriptsDir: string;
  let markers: string;
  const env = `owned-${randomUUID().slice(0, 6)}`;
  const me = process.getuid?.() ?? 0;

  const check = async (): Promise<AgentCheckResult> => {
    // The check answers `check: null` while Temporal sees no agent polling the queue yet (just started).
    for (let tries = 0; ; tries++) {
      const res = await stack.api(`/api/environments/${env}/check`, { method: 'POST' });
      assert.equal(res.status, 200, await res.clone().text());
      const { check: ran } = (await res.json()) as { check: AgentCheckResult | null };
      if (ran !== null || tries >= 30) return ran as AgentCheckResult;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };

  before(async function () {
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-sec-owned-'));
    markers = await mkdtemp(path.join(os.tmpdir(), 'selfheal-sec-owned-m-'));
    await chmod(scriptsDir, 0o755);
    stack = await startStack();
    agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: env, scriptsDir });
    agentRunning = agent.run();
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: env }) });
    assert.equal(res.status, 201, await res.clone().text());
  });

  after(async function () {
    agent?.shutdown();
    await agentRunning;
    await stack?.stop();
    for (const d of [scriptsDir, markers]) if (d) await rm(d, { recursive: true, force: true });
  });

  it('a group-writable health-check.sh (0775), or one another user owns, is refused and does not run; at 0755 and root-owned it runs', async function () {
    const script = path.join(scriptsDir, 'health-check.sh');
    const marker = path.join(markers, 'ran');
    // What a member of the script's group would put there: anything, run as root.
    await writeFile(script, `#!/bin/sh\ntouch "${marker}"\necho "RESULT status=ok"\n`);
    await chmod(script, 0o775);

    const grouped = await check();
    assert.equal(grouped.reached, true, 'the agent took the task');
    assert.equal(grouped.healthy, false);
    assert.match(grouped.error ?? '', /ScriptNotAllowedError/);
    assert.match(grouped.error ?? '', new RegExp(`script "health-check\\.sh" \\(\\S+/health-check\\.sh\\) is group-writable \\(owner uid ${me}, mode 775\\).*run chmod go-w `));
    assert.equal(await exists(marker), false, 'the group-writable script ran');

    if (me === 0) {
      await chmod(script, 0o755);
      await chown(script, 65534, 65534);
      const foreign = await check();
      assert.equal(foreign.healthy, false);
      assert.match(foreign.error ?? '', /is not owned by root \(owner uid 65534, mode 755\).*run chown root /);
      assert.equal(await exists(marker), false, "another user's script ran as root");
      await chown(script, 0, 0);
    }

    await chmod(script, 0o755);
    const fixed = await check();
    assert.equal(fixed.healthy, true, fixed.error);
    assert.equal(await exists(marker), true, 'once fixed, the same script runs');
  });
});
