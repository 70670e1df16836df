// A rule's agent script retried (idempotent, `retry.maximumAttempts` > 1) is checked before every attempt,
// not only the first. Temporal's own retry queued the next attempt on the same task queue unchecked: the
// environment deleted between two attempts and its name registered again by another team, that team's
// agent ran this team's script on its host. The rule run now makes the retries itself (revision 5), each
// one waiting for its agent and checked as the first. What each host saw is read at the agents: their
// scripts leave a file per host they ran for. The rule's team's agent is a real agent worker whose script
// activity fails retryably on the calls the test says (as an agent that crashed mid-run, timed out or was
// too busy would), and runs the real script otherwise; the other team's agent is the real Doctor agent.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { createAgentActivities, type AgentScriptInput } from '../../activities/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { stackWithTwoTeamAgents } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';

describe('a rule action retried on its Doctor agent', function () {
  this.timeout(120_000);
  const peers = stackWithTwoTeamAgents('rule-retry');
  const { register, trigger, finished } = peers;
  const suffix = randomUUID().slice(0, 6);

  /**
   * Our team's agent on `environment`'s queue: its script activity fails retryably on the calls `fails`
   * names (1 for the first), after running the script; `calls` counts them. `failed` resolves at the first
   * failure, once the agent is about to answer it.
   */
  const flakyAgentOn = async (environment: string, fails: (call: number) => boolean) => {
    const real = createAgentActivities({ scriptsDir: peers.ours.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4 });
    const state = { calls: 0 };
    let onFailure: () => void = () => undefined;
    const failed = new Promise<void>((resolve) => (onFailure = resolve));
    const runAgentScript = async (input: AgentScriptInput) => {
      state.calls += 1;
      const call = state.calls;
      const result = await real.runAgentScript(input);
      if (!fails(call)) return result;
      onFailure();
      throw ApplicationFailure.retryable(`the agent lost the run (call ${call})`, 'AgentLostError');
    };
    const worker = await Worker.create({
      connection: peers.stack.temporal.nativeConnection,
      namespace: peers.stack.config.temporal.namespace,
      taskQueue: agentTaskQueue(environment),
      activities: { runAgentScript, agentPresent: real.agentPresent },
    });
    return { state, failed, stop: peers.run(worker) };
  };
  /** A rule of the default team: the idempotent fix script on the incident's host, on its environment's agent. */
  const ruleFor = async (retry: { maximumAttempts: number; initialIntervalSeconds: number; backoffCoefficient?: number }): Promise<string> => {
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `agent-retry-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'], idempotent: true, retry }],
    });
    return svc;
  };
  /** The durable timers of a rule run's history, in seconds: the pauses between its attempts. */
  const pauses = async (workflowId: string): Promise<number[]> => {
    const history = await peers.stack.temporal.client.workflow.getHandle(workflowId).fetchHistory();
    return (history.events ?? []).flatMap((e) => {
      const t = e.timerStartedEventAttributes?.startToFireTimeout;
      return t ? [Number(t.seconds ?? 0) + (t.nanos ?? 0) / 1e9] : [];
    });
  };

  it("the environment deleted and its name registered by another team before the retry: that team's agent runs nothing, the action fails saying why", async function () {
    const env = `retried-${suffix}`;
    await register(env);
    const agent = await flakyAgentOn(env, (call) => call === 1);
    // Long enough a pause for the hand-over below to finish before the retry is due.
    const svc = await ruleFor({ maximumAttempts: 2, initialIntervalSeconds: 10 });
    const id = await trigger(svc, 'h1', env);

    await agent.failed;
    await agent.stop(); // our agent goes with its environment
    await peers.handOver(env, `heirs-${suffix}`);
    await peers.agentOn(env, peers.theirs); // the other team's agent, on the queue the name gives

    const done = await finished(id);
    // Past the pickup wait a retry queued anyway would have had.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(existsSync(`${peers.theirs.markerDir}/fixed-h1`), false, "another team's agent ran this team's retry");
    assert.equal(agent.state.calls, 1);
    assert.equal(done.status, 'failed');
    assert.equal(
      done.error,
      `attempt 2 of 2 not run: no environment of the rule's team is served on agent queue ${agentTaskQueue(env)} any more (deleted, or registered again by another team, while the script waited for its agent); attempt 1 failed: the agent lost the run (call 1)`,
    );
  });

  it('nothing changed before the retry: the retry runs on the same agent after its pause and the action succeeds', async function () {
    const env = `steady-${suffix}`;
    await register(env);
    const agent = await flakyAgentOn(env, (call) => call === 1);
    const svc = await ruleFor({ maximumAttempts: 3, initialIntervalSeconds: 1 });
    const id = await trigger(svc, 'h2', env);
    const done = await finished(id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.equal(agent.state.calls, 2);
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h2`), true);
    // The pause before the retry is a durable timer of the rule run, as long as the rule's retry says.
    assert.deepEqual(await pauses(done.workflow_id!), [1]);
  });

  it("every attempt failing: as many as the rule's retry allows, its pauses growing as its backoff says, and the action carries the last failure", async function () {
    const env = `failing-${suffix}`;
    await register(env);
    const agent = await flakyAgentOn(env, () => true);
    const svc = await ruleFor({ maximumAttempts: 3, initialIntervalSeconds: 1, backoffCoefficient: 2 });
    const id = await trigger(svc, 'h3', env);
    const done = await finished(id);
    assert.equal(done.status, 'failed');
    assert.equal(done.error, 'the agent lost the run (call 3)');
    assert.equal(agent.state.calls, 3);
    assert.deepEqual(await pauses(done.workflow_id!), [1, 2]);
  });

  it('a failure that is not retried (a script the agent does not hold) runs once, whatever the attempts allowed', async function () {
    const env = `refused-${suffix}`;
    await register(env);
    const agent = await flakyAgentOn(env, () => false);
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `agent-retry-missing-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'missing.sh', idempotent: true, retry: { maximumAttempts: 3, initialIntervalSeconds: 1 } }],
    });
    const done = await finished(await trigger(svc, 'h4', env));
    assert.equal(done.status, 'failed');
    assert.equal(agent.state.calls, 1);
    assert.deepEqual(await pauses(done.workflow_id!), []);
  });
});
