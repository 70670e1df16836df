// A rule's agent script waits for the environment's Doctor agent for up to 5 minutes. Before, the script
// itself waited in the agent's task queue and ran on whichever agent polled that queue first: the
// environment deleted meanwhile and its name registered again by another team, that team's agent ran this
// team's script on that team's host. The run now waits on the agent's no-op `agentPresent`, checks that the
// rule's team still has an environment served there, and only then queues the script. What each host saw
// is read at real Doctor agents: their scripts leave a file per host they ran for.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { createAgentActivities } from '../../activities/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { stackWithTwoTeamAgents } from '../helpers/agent-host.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';

describe('a rule action waiting for its offline Doctor agent', function () {
  this.timeout(120_000);
  const peers = stackWithTwoTeamAgents('rule-wait');
  const { register, agentOn, trigger, actionRun, finished } = peers;
  const suffix = randomUUID().slice(0, 6);

  /** A rule of the default team: the fix script on the incident's host, on its environment's agent. */
  const ruleFor = async (): Promise<string> => {
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, {
      name: `agent-wait-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
    });
    return svc;
  };
  /** Waits until the incident's fix is claimed and its rule run has a task queued for an agent nobody serves. */
  const waitingForAgent = async (incidentId: string): Promise<void> => {
    const row = await eventually(async () => ((await actionRun(incidentId))?.workflow_id ? await actionRun(incidentId) : undefined), 30_000, `the fix of ${incidentId} to be claimed`);
    await eventually(
      // The wait for the agent itself, not whichever activity of the run happens to be pending then.
      async () => (await peers.stack.temporal.client.workflow.getHandle(row.workflow_id!).describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'agentPresent') || undefined,
      30_000,
      `the rule run of ${incidentId} to wait for an agent`,
    );
  };

  it("the environment deleted and its name registered by another team meanwhile: that team's agent runs nothing, the action fails saying why", async function () {
    const env = `handed-${suffix}`;
    await register(env);
    const svc = await ruleFor();
    const id = await trigger(svc, 'h1', env);
    await waitingForAgent(id);

    await peers.handOver(env, `heirs-${suffix}`);
    await agentOn(env, peers.theirs); // the other team's agent, on the queue the name gives

    const done = await finished(id);
    assert.equal(done.status, 'failed');
    assert.equal(
      done.error,
      `not run: no environment of the rule's team is served on agent queue ${agentTaskQueue(env)} any more (deleted, or registered again by another team, while the script waited for its agent)`,
    );
    // Past the pickup wait a script queued anyway would have had.
    await new Promise((r) => setTimeout(r, 2000));
    assert.equal(existsSync(`${peers.theirs.markerDir}/fixed-h1`), false, "another team's agent ran this team's script");
  });

  it("the refusal names no team: beta's viewer, reading the incident of alpha's rule (incidents span teams), never reads alpha", async function () {
    // Before, the action run's error was 'not run: no environment of team alpha is served …', and
    // GET /api/incidents/{id} shows action runs to every reader: beta, which took the environment's name,
    // learnt which team's rule had targeted it.
    const alpha = `alpha${suffix}`;
    const beta = `beta${suffix}`;
    assert.equal((await peers.stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: alpha }) })).status, 201);
    const env = `taken-${suffix}`;
    await register(env, alpha);
    const svc = newServiceId();
    const ruleId = await insertRule(peers.stack.db.db, {
      name: `agent-wait-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
    });
    await peers.stack.db.db.updateTable('rules').set({ team: alpha }).where('id', '=', ruleId).execute();
    const id = await trigger(svc, 'h7', env);
    await waitingForAgent(id);

    await peers.handOver(env, beta);
    await agentOn(env, peers.theirs);
    const done = await finished(id);
    assert.equal(done.status, 'failed');
    assert.ok(!done.error?.includes(alpha), `the stored error names the rule's team: ${done.error}`);

    const created = await peers.stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: `beta-viewer-${suffix}`, teams: [`${beta}:viewer`] }) });
    assert.equal(created.status, 201, await created.clone().text());
    const betaViewer = ((await created.json()) as { token: string }).token;
    const res = await peers.stack.api(`/api/incidents/${id}`, { headers: { authorization: `Bearer ${betaViewer}` } });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    assert.deepEqual(
      (JSON.parse(text) as { actionRuns: { error: string | null }[] }).actionRuns.map((r) => r.error),
      [`not run: no environment of the rule's team is served on agent queue ${agentTaskQueue(env)} any more (deleted, or registered again by another team, while the script waited for its agent)`],
    );
    assert.ok(!text.includes(alpha), `beta's viewer reads team ${alpha} in the incident: ${/"error":"[^"]*"/.exec(text)?.[0]}`);
    assert.equal(existsSync(`${peers.theirs.markerDir}/fixed-h7`), false, "another team's agent ran this team's script");
  });

  it('an environment registered without a queue is served on the one its name gives; an unregistered one has no agent to run on', async function () {
    const legacy = `legacy-${suffix}`;
    await peers.stack.db.db.insertInto('environments').values({ name: legacy, labels: '{}', agent_task_queue: null, maintenance_windows: '[]', ssh: null }).execute();
    await agentOn(legacy, peers.ours);
    const svc = await ruleFor();
    const ran = await finished(await trigger(svc, 'h5', legacy));
    assert.equal(ran.status, 'succeeded', ran.error ?? '');
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h5`), true);

    const refused = await finished(await trigger(svc, 'h6', `nowhere-${suffix}`));
    assert.equal(refused.status, 'failed');
    assert.equal(refused.error, 'not run: the incident has no registered environment, so no Doctor agent to run the script on');
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h6`), false);
  });

  for (const how of ['disabled', 'deleted'] as const) {
    it(`the rule ${how} through the API while the fix waits for its agent: the agent back later runs nothing, the fix is recorded skipped, never started`, async function () {
      // Before, the first attempt's claim checked the rule before the wait, and nothing after it: the
      // script ran on the host once the agent answered, minutes after an admin had stopped the rule.
      const env = `stopped-${how}-${suffix}`;
      const host = `h-${how}`;
      await register(env);
      const svc = newServiceId();
      const doc = {
        name: `agent-wait-stop-${svc.toLowerCase()}`,
        services: [svc],
        actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh', args: ['{{ environment.host }}'] }],
      } as const;
      const ruleId = await insertRule(peers.stack.db.db, doc as never);
      const id = await trigger(svc, host, env);
      await waitingForAgent(id);

      const res =
        how === 'disabled'
          ? await peers.stack.api(`/api/rules/${ruleId}`, { method: 'PUT', headers: { 'if-match': '"1"' }, body: JSON.stringify({ ...doc, enabled: false }) })
          : await peers.stack.api(`/api/rules/${ruleId}`, { method: 'DELETE' });
      assert.ok(res.status === 200 || res.status === 204, await res.text());
      await agentOn(env, peers.ours);

      const done = await finished(id);
      assert.equal(done.status, 'skipped', done.error ?? '');
      assert.equal(done.error, `not run: its rule was ${how} while the run went on (version 1 planned it)`);
      // Never started: no start recorded, so the guards no longer count it.
      const row = await peers.stack.db.db.selectFrom('action_runs').select(['started_at']).where('incident_id', '=', id).where('action_id', '=', 'fix').executeTakeFirstOrThrow();
      assert.equal(row.started_at, null);
      // Past the pickup wait a script queued anyway would have had.
      await new Promise((r) => setTimeout(r, 2000));
      assert.equal(existsSync(`${peers.ours.markerDir}/fixed-${host}`), false, 'the script ran on the host after its rule was stopped');
    });
  }

  it('the agent back within the pickup time: the script runs once, the action succeeds', async function () {
    const env = `back-${suffix}`;
    await register(env);
    const svc = await ruleFor();
    const id = await trigger(svc, 'h2', env);
    await waitingForAgent(id);
    await agentOn(env, peers.ours);
    const done = await finished(id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h2`), true);
  });

  it('an agent from before agentPresent (it answers "not registered") still runs the script', async function () {
    const env = `older-${suffix}`;
    await register(env);
    const { runAgentScript } = createAgentActivities({ scriptsDir: peers.ours.scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4 });
    const worker = await Worker.create({ connection: peers.stack.temporal.nativeConnection, namespace: peers.stack.config.temporal.namespace, taskQueue: agentTaskQueue(env), activities: { runAgentScript } });
    peers.run(worker);
    const svc = await ruleFor();
    const id = await trigger(svc, 'h3', env);
    const done = await finished(id);
    assert.equal(done.status, 'succeeded', done.error ?? '');
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h3`), true);
  });

  it('the incident resolved while the fix waits: recorded cancelled, and the agent back later runs nothing', async function () {
    const env = `resolved-${suffix}`;
    await register(env);
    const svc = await ruleFor();
    const id = await trigger(svc, 'h4', env);
    await waitingForAgent(id);
    const res = await peers.stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: new Date().toISOString(), data: { service: { id: svc, type: 'service_reference', summary: 's' } } }));
    assert.equal(res.status, 202);
    const done = await finished(id);
    assert.equal(done.status, 'cancelled', done.error ?? '');
    await agentOn(env, peers.ours);
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal(existsSync(`${peers.ours.markerDir}/fixed-h4`), false, 'the script ran for a resolved incident');
  });
});
