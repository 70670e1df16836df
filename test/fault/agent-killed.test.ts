import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { slowScriptDir, startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// The Doctor agent is a real child process (src/agent.ts), SIGKILLed while two scripts run on it: one
// not idempotent (must never run twice) and one idempotent (may be retried). Once the heartbeat times
// out, the first is recorded failed with a heartbeat-timeout error, not left "running"; the second is
// retried on the replacement agent and succeeds.
describe('fault: Doctor agent killed mid-script', function () {
  let stack: Stack;
  let scripts: Awaited<ReturnType<typeof slowScriptDir>>;
  const agents: ChildRoot[] = [];
  const env = `fault-agent-${randomUUID().slice(0, 8)}`;
  const serviceId = newServiceId();
  let agentEnv: Record<string, string>;

  before(async function () {
    scripts = await slowScriptDir({ 'once.sh': 6, 'again.sh': 3 });
    stack = await startStack({ extractors: { serviceMap: { [serviceId]: { environment: env } } } });
    await stack.db.db
      .insertInto('environments')
      .values({ name: env, labels: '{}', agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: null })
      .execute();
    agentEnv = { TEMPORAL_ADDRESS: stack.temporal.address, SELFHEAL_ENVIRONMENT: env, SELFHEAL_SCRIPTS_DIR: scripts.scriptsDir };
  });

  after(async function () {
    for (const a of agents) await a.stop();
    await stack?.stop();
  });

  it('fails the non-idempotent script on heartbeat timeout and retries the idempotent one on a new agent', async function () {
    const first = startChildRoot('src/agent.ts', agentEnv);
    agents.push(first);
    await first.waitFor(/Doctor agent polling/);

    const onceRule = await insertRule(stack.db.db, {
      name: `once-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'once', type: 'script.agent', script: 'once.sh' }],
    });
    const againRule = await insertRule(stack.db.db, {
      name: `again-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'again', type: 'script.agent', script: 'again.sh', idempotent: true, retry: { maximumAttempts: 3, initialIntervalSeconds: 1 } }],
    });
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference' } } }));
    assert.equal(res.status, 202);

    await eventually(async () => (await scripts.starts('once.sh')) === 1 && (await scripts.starts('again.sh')) === 1, 30_000, 'both scripts started');
    await first.kill();
    const second = startChildRoot('src/agent.ts', agentEnv);
    agents.push(second);
    await second.waitFor(/Doctor agent polling/);

    // The heartbeat timeout of scripts is 30 s: both runs are settled shortly after it.
    const runs = await eventually(async () => {
      const r = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();
      return r.length === 2 && r.every((x) => x.finished_at) ? r : undefined;
    }, 75_000, 'both action runs settled');
    const once = runs.find((r) => r.rule_id === onceRule)!;
    const again = runs.find((r) => r.rule_id === againRule)!;

    assert.equal(once.status, 'failed');
    assert.match(once.error ?? '', /heartbeat/i);
    assert.equal(await scripts.starts('once.sh'), 1, 'a non-idempotent script never runs twice');

    assert.equal(again.status, 'succeeded');
    assert.match(again.output_excerpt ?? '', /done/);
    assert.equal(await scripts.starts('again.sh'), 2, 'the idempotent script ran again on the new agent');

    const stuck = await stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'running').execute();
    assert.deepEqual(stuck, []);
  });
});
