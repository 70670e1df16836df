import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverWithRetries, serveApi } from '../helpers/fault-http.js';
import { slowScriptDir, startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// The main worker is a real child process (src/worker.ts). It is SIGKILLed while an incident's action
// runs a slow script on the Doctor agent; a fresh worker process takes the run over. The action is
// recorded exactly once, as succeeded, and the script ran once.
describe('fault: main worker killed mid-action', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let agent: Worker;
  let agentRun: Promise<void>;
  let scripts: Awaited<ReturnType<typeof slowScriptDir>>;
  let api: Awaited<ReturnType<typeof serveApi>>;
  const workers: ChildRoot[] = [];
  const taskQueue = `fault-worker-${randomUUID()}`;
  const env = `fault-env-${randomUUID().slice(0, 8)}`;
  const serviceId = newServiceId();
  let workerEnv: Record<string, string>;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    scripts = await slowScriptDir({ 'slow-fix.sh': 5 });
    await db.db
      .insertInto('environments')
      .values({ name: env, labels: '{}', agent_task_queue: agentTaskQueue(env), maintenance_windows: '[]', ssh: null })
      .execute();
    const extractorsFile = path.join(os.tmpdir(), `selfheal-fault-extractors-${randomUUID()}.json`);
    await writeFile(extractorsFile, JSON.stringify({ serviceMap: { [serviceId]: { environment: env } } }));
    api = await serveApi({ temporal: temporal.client, temporalAddress: temporal.address, db: db.db, databaseUrl: db.url, taskQueue });
    agent = await buildAgentWorker({ config: api.config, connection: temporal.nativeConnection, environment: env, scriptsDir: scripts.scriptsDir });
    agentRun = agent.run();
    workerEnv = { TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue, SELFHEAL_EXTRACTORS_FILE: extractorsFile };
  });

  after(async function () {
    for (const w of workers) await w.stop();
    agent?.shutdown();
    await agentRun;
  });

  it('records the action once as succeeded after the worker process is SIGKILLed and replaced', async function () {
    const first = startChildRoot('src/worker.ts', workerEnv);
    workers.push(first);
    await first.waitFor(/worker started/);

    const ruleId = await insertRule(db.db, {
      name: `slow-fix-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'fix', type: 'script.agent', script: 'slow-fix.sh', args: ['{{ incident.id }}'] }],
    });
    const id = newIncidentId();
    const res = await deliverWithRetries(api.url, sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference' } } }));
    assert.equal(res.status, 202);

    // The script has started on the agent and the action is recorded as running: kill the worker now.
    await eventually(async () => (await scripts.starts('slow-fix.sh')) === 1, 30_000, 'script started');
    const running = await db.db.selectFrom('action_runs').select(['status']).where('incident_id', '=', id).execute();
    assert.deepEqual(running.map((r) => r.status), ['running']);
    await first.kill();

    const second = startChildRoot('src/worker.ts', workerEnv);
    workers.push(second);
    await second.waitFor(/worker started/);

    const runs = await eventually(async () => {
      const r = await db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).execute();
      return r.length === 1 && r[0]!.finished_at ? r : undefined;
    }, 60_000, 'the action finished');
    assert.equal(runs[0]!.status, 'succeeded');
    assert.equal(runs[0]!.rule_id, ruleId);
    assert.equal(runs[0]!.exit_code, 0);
    assert.match(runs[0]!.output_excerpt ?? '', /done/);
    // Exactly once: one row, one start of the script.
    assert.equal(await scripts.starts('slow-fix.sh'), 1);
    const events = await db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).execute();
    assert.equal(events.length, 1);
    const stuck = await db.db.selectFrom('action_runs').select('id').where('status', '=', 'running').execute();
    assert.deepEqual(stuck, [], 'no action run left running');
  });
});
