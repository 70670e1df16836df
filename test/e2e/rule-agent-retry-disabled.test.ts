// Disabling or deleting a rule stops its runs in flight (docs/guarantees.md): a remediation that has not
// started when the rule is stopped does not start. An agent script retried by its rule run (idempotent,
// `retry.maximumAttempts` > 1, revision 5) starts again after a durable pause, up to a hundred times its
// first: a retry is a start of its own, and an admin who disabled the rule because its script misbehaved
// saw the script run on the host once more at the end of the pause. Each retry is checked, as the first
// attempt's claim is, and the environment's team is. What the host saw is read at the agent: its script
// leaves a file per host it ran for.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createAgentActivities, type AgentScriptInput } from '../../activities/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import type { RuleInputDocument } from '../../src/domain/rules/schema.js';
import { stackWithTwoTeamAgents } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';

describe('a rule stopped while its agent script waits for a retry', function () {
  this.timeout(120_000);
  const peers = stackWithTwoTeamAgents('rule-retry-stop');
  const { register, trigger, finished } = peers;
  const suffix = randomUUID().slice(0, 6);

  /** Our team's agent on `environment`'s queue: runs the real script, then fails its first call retryably. */
  const flakyAgentOn = async (environment: string) => {
    const real = createAgentActivities({ scriptsDir: peers.ours.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4 });
    const state = { calls: 0 };
    let onFailure: () => void = () => undefined;
    const failed = new Promise<void>((resolve) => (onFailure = resolve));
    const runAgentScript = async (input: AgentScriptInput) => {
      state.calls += 1;
      const result = await real.runAgentScript(input);
      if (state.calls > 1) return result;
      onFailure();
      throw ApplicationFailure.retryable('the agent lost the run (call 1)', 'AgentLostError');
    };
    const worker = await Worker.create({
      connection: peers.stack.temporal.nativeConnection,
      namespace: peers.stack.config.temporal.namespace,
      taskQueue: agentTaskQueue(environment),
      activities: { runAgentScript, agentPresent: real.agentPresent },
    });
    return { state, failed, stop: peers.run(worker) };
  };

  const doc = (svc: string): RuleInputDocument =>
    ({
    name: `agent-retry-stop-${svc.toLowerCase()}`,
    services: [svc],
    // Long enough a pause for the test to stop the rule before the retry is due.
    actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], idempotent: true, retry: { maximumAttempts: 2, initialIntervalSeconds: 8 } }],
    }) as RuleInputDocument;

  for (const how of ['disabled', 'deleted'] as const) {
    it(`the rule ${how} through the API during the pause before the retry: the retry never reaches the host, the action fails saying why`, async function () {
      const env = `stopped-${how}-${suffix}`;
      const host = `h-${how}`;
      await register(env);
      const agent = await flakyAgentOn(env);
      const svc = newServiceId();
      const ruleId = await insertRule(peers.stack.db.db, doc(svc));
      const id = await trigger(svc, host, env);

      await agent.failed;
      // The first attempt ran the script: its file goes, so a file now is the retry's.
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(existsSync(`${peers.ours.markerDir}/fixed-${host}`), true);
      rmSync(`${peers.ours.markerDir}/fixed-${host}`);
      const res =
        how === 'disabled'
          ? await peers.stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc(svc), enabled: false }) })
          : await peers.stack.api(`/api/rules/${ruleId}`, { method: 'DELETE' });
      assert.ok(res.status === 200 || res.status === 204, await res.text());

      const done = await finished(id);
      assert.equal(agent.state.calls, 1, 'the retry ran on the agent after the rule was stopped');
      assert.equal(existsSync(`${peers.ours.markerDir}/fixed-${host}`), false, 'the retry reached the host');
      assert.equal(done.status, 'failed');
      assert.equal(done.error, `attempt 2 of 2 not run: its rule was ${how} while the run went on; attempt 1 failed: the agent lost the run (call 1)`);
    });
  }
});
