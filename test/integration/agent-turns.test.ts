// The Doctor agent runs at most SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS scripts at once (docs/guarantees.md
// `script.agent`): in a storm, a hundred fix scripts at once on one VM would be the automation adding to the
// outage. What the host sees is asserted (marker files the scripts leave, with their times): a script beyond
// the limit is picked up at once (its pickup wait does not fail) but starts only when a turn ends; one whose
// run time passes in line is never started; one cancelled in line leaves it and never starts. Real Temporal,
// the real agent worker and real scripts.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { access, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { createAgentActivities, type AgentScriptInput, type ScriptActionResult } from '../../activities/agent.js';
import { buildAgentWorker } from '../../src/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import type { AgentCheckResult } from '../../workflows/agent-check.js';
import { makeAgentHost, type AgentHost } from '../helpers/agent-host.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const exists = (p: string) => access(p).then(() => true, () => false);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Doctor agent: scripts at once on one host', function () {
  this.timeout(120_000);
  let host: AgentHost;
  let stack: Stack;
  let agent: Worker;
  let running: Promise<void>;
  const environment = `turns-${randomUUID().slice(0, 6)}`;
  const mark = (name: string) => path.join(host.markerDir, name);

  before(async function () {
    host = await makeAgentHost('turns');
    const m = host.markerDir;
    // Holds its turn until the test writes `release`.
    await host.script('hold.sh', `date +%s%N > "${m}/hold-start"\nwhile [ ! -e "${m}/release" ]; do sleep 0.1; done\ndate +%s%N > "${m}/hold-end"`);
    await host.script('second.sh', `date +%s%N > "${m}/second-start"`);
    await host.script('late.sh', `touch "${m}/late-ran"`);
    await host.script('left.sh', `touch "${m}/left-ran"`);
    await host.script('after.sh', `touch "${m}/after-ran"`);
    stack = await startStack();
    // One script at a time on this host.
    const config = { ...stack.config, agent: { ...stack.config.agent, maxConcurrentScripts: 1 } };
    agent = await buildAgentWorker({ config, connection: stack.temporal.nativeConnection, environment, scriptsDir: host.scriptsDir });
    running = agent.run();
  });

  after(async function () {
    agent?.shutdown();
    await running?.catch(() => undefined);
    await stack?.stop();
    await host?.close();
  });

  const check = (script: string, opts: { timeoutSeconds: number; scheduleToStartSeconds: number }) =>
    stack.temporal.client.workflow.execute('agentCheckWorkflow', {
      taskQueue: stack.taskQueue,
      workflowId: `turns-${script}-${randomUUID()}`,
      args: [{ environment, taskQueue: agentTaskQueue(environment), script, ...opts }],
    }) as Promise<AgentCheckResult>;

  it('picks a script beyond the limit up at once, starts it only when the turn ends, and never starts one whose run time passed in line', async function () {
    const first = check('hold.sh', { timeoutSeconds: 90, scheduleToStartSeconds: 20 });
    await eventually(() => exists(mark('hold-start')), 30_000, 'the first script started');
    // Its pickup wait (3 s) is far shorter than the wait for a turn: picked up at once, it waits on the agent.
    const second = check('second.sh', { timeoutSeconds: 60, scheduleToStartSeconds: 3 });
    // Run time 3 s, all of it spent in line.
    const late = await check('late.sh', { timeoutSeconds: 3, scheduleToStartSeconds: 3 });
    assert.equal(late.reached, true, JSON.stringify(late));
    assert.equal(late.healthy, false);
    assert.match(late.error ?? '', /AgentBusyError: late\.sh was not run: this agent ran 1 script\(s\) at once/);
    assert.equal(await exists(mark('second-start')), false, 'the second script started while the first held the only turn');

    await writeFile(mark('release'), '');
    const [a, b] = await Promise.all([first, second]);
    assert.equal(a.healthy, true, JSON.stringify(a));
    assert.equal(b.healthy, true, JSON.stringify(b));
    const ended = BigInt((await readFile(mark('hold-end'), 'utf8')).trim());
    const started = BigInt((await readFile(mark('second-start'), 'utf8')).trim());
    assert.ok(started >= ended, 'the second script started before the first ended');
    await sleep(500);
    assert.equal(await exists(mark('late-ran')), false, 'a script whose run time passed in line was started');
  });

  it('lets a script cancelled in line leave it: it never starts, and the one behind it gets the turn', async function () {
    const { runAgentScript } = createAgentActivities({ scriptsDir: host.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 1 });
    const envs = Array.from({ length: 3 }, () => new MockActivityEnvironment());
    const run = (at: number, script: string) => envs[at]!.run(runAgentScript, { script, args: [], timeoutSeconds: 60 } satisfies AgentScriptInput) as Promise<ScriptActionResult>;
    await Promise.all(['release', 'hold-start', 'hold-end'].map((f) => rm(mark(f), { force: true })));
    const holding = run(0, 'hold.sh');
    await eventually(() => exists(mark('hold-start')), 10_000, 'the first script started');
    const leaving = run(1, 'left.sh');
    const behind = run(2, 'after.sh');
    await sleep(300);
    envs[1]!.cancel();
    await assert.rejects(leaving, (err: Error) => err.name === 'CancelledFailure');
    await writeFile(mark('release'), '');
    assert.equal((await holding).exitCode, 0);
    assert.equal((await behind).exitCode, 0);
    assert.equal(await exists(mark('after-ran')), true);
    assert.equal(await exists(mark('left-ran')), false, 'a script cancelled in line was started');
  });
});
