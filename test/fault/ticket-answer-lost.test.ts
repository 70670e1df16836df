import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { idempotencyLabel } from '../../src/executors/work-items.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverWithRetries, serveApi } from '../helpers/fault-http.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { startJiraPeer, type JiraPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// The main worker is a real child process. Jira creates the ticket and its answer never comes back; while
// the worker waits for it, the worker is SIGKILLed, so the ticket exists and nothing of its answer was
// recorded. A fresh worker takes the run over when the attempt times out. Jira's search does not show the
// ticket yet; the new worker does not open a second one but looks again until it does, and records it.
describe('fault: worker killed after a ticket was created, before its answer was recorded', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let jira: JiraPeer;
  let api: Awaited<ReturnType<typeof serveApi>>;
  const workers: ChildRoot[] = [];
  const taskQueue = `fault-ticket-${randomUUID()}`;
  const serviceId = newServiceId();
  let workerEnv: Record<string, string>;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    // Jira's search shows a new issue only after a while (here 25 s, longer than the retry takes to come).
    jira = await startJiraPeer({ indexLagMs: 25_000 });
    api = await serveApi({ temporal: temporal.client, temporalAddress: temporal.address, db: db.db, databaseUrl: db.url, taskQueue });
    workerEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: db.url,
      TEMPORAL_TASK_QUEUE: taskQueue,
      JIRA_BASE_URL: jira.baseUrl,
      JIRA_EMAIL: jira.email,
      JIRA_API_TOKEN: jira.token,
    };
  });

  after(async function () {
    for (const w of workers) await w.stop();
    await jira?.close();
  });

  it('opens exactly one ticket, found again by the new worker', async function () {
    const first = startChildRoot('src/worker.ts', workerEnv);
    workers.push(first);
    await first.waitFor(/worker started/);

    // A short action timeout so the dead worker's attempt times out quickly (start-to-close 15 s).
    await insertRule(db.db, {
      name: `ticket-${randomUUID().slice(0, 6)}`,
      services: [serviceId],
      actions: [{ id: 'ticket', type: 'workitem', provider: 'jira', project: 'OPS', title: 'Disk full on {{ incident.id }}', timeoutSeconds: 10 }],
    });
    // Jira makes the issue, then holds its answer far longer than any attempt waits.
    jira.loseNextAnswer({ delayMs: 600_000 }, { method: 'POST' });
    const id = newIncidentId();
    const res = await deliverWithRetries(api.url, sampleFor('v3-incident.triggered-01.json', id, { data: { service: { id: serviceId, type: 'service_reference' } } }));
    assert.equal(res.status, 202);

    await eventually(async () => jira.issues.length === 1, 60_000, 'the issue created at Jira');
    const [effect] = await db.db.selectFrom('side_effects').selectAll().where('incident_id', '=', id).execute();
    assert.equal(effect?.state, 'attempting', 'the answer is not recorded');
    assert.equal(effect?.external_id, null);
    await first.kill();

    const second = startChildRoot('src/worker.ts', workerEnv);
    workers.push(second);
    await second.waitFor(/worker started/);

    const run = await eventually(async () => {
      const r = await db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).executeTakeFirst();
      return r?.finished_at ? r : undefined;
    }, 120_000, 'the action finished on the new worker');
    assert.equal(run.status, 'succeeded', run.error ?? '');
    const issue = jira.issues[0]!;
    assert.equal(jira.issues.length, 1, 'one ticket at Jira');
    assert.equal(jira.requests.filter((r) => r.method === 'POST').length, 1, 'one create request');
    assert.ok(issue.fields.labels.includes(idempotencyLabel(run.id)), 'the ticket carries the action run key');
    assert.equal(run.link, `${jira.baseUrl}/browse/${issue.key}`);
    assert.match(run.output_excerpt ?? '', /found after an unanswered attempt/);
    const recorded = await db.db.selectFrom('side_effects').selectAll().where('key', '=', run.id).executeTakeFirstOrThrow();
    assert.equal(recorded.state, 'done');
    assert.equal(recorded.external_id, issue.key);
  });
});
