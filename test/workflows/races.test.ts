import assert from 'node:assert/strict';
import { ruleRunWorkflowId } from '../../src/contracts/index.js';
import type { TestDatabase } from '../helpers/db.js';
import { createTestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { startChildRoot } from '../helpers/fault-process.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { deferred, messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// Each race the incident workflow must survive, injected at a chosen point with the real worker, the real
// Temporal dev server and Postgres, and wrapped activities where the test needs a gate or a crash. What is
// counted is what a peer saw: the requests a rule's webhook action made.
describe('incident workflow races (injected deterministically, side effects counted at the peer)', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let peer: HttpPeer;
  const workers: TestWorker[] = [];
  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    peer = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
  });
  after(async function () {
    for (const w of workers) await w.stop();
    await peer?.close();
  });

  const worker = async (wrap?: Parameters<typeof startTestWorker>[0]['wrap']) => {
    const w = await startTestWorker({ temporal, db, extractors, ...(wrap ? { wrap } : {}) });
    workers.push(w);
    return w;
  };
  const hits = (name: string) => peer.requests.filter((r) => r.path === `/hook/${name}`).length;
  const runsOf = (id: string) => db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).orderBy('action_index').execute();
  const finished = (id: string, n: number) =>
    eventually(async () => {
      const r = await runsOf(id);
      return r.length === n && r.every((x) => x.finished_at) ? r : undefined;
    }, 60_000, `${n} finished action runs of ${id}`);
  const rule = (name: string, svc: string) =>
    insertRule(db.db, { name: `race-${name}-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'notify.webhook', url: `${peer.url}/hook/${name}`, body: '{}' }] });
  const trigger = (id: string, svc: string, host = 'web-1') =>
    sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-07-01T10:00:00Z', data: { title: `[${host}] is down`, service: { id: svc, type: 'service_reference', summary: 's' } } });

  it('a duplicate signal during triage is dropped: one triage, one action, one request at the peer, no row left running', async function () {
    const svc = newServiceId();
    await rule('dup', svc);
    const entered = deferred();
    const release = deferred();
    let triages = 0;
    const w = await worker((real) => ({
      async triageIncidentEvent(input) {
        triages += 1;
        entered.resolve();
        await release.promise;
        return real.triageIncidentEvent(input);
      },
    }));
    const id = newIncidentId();
    const msg = messageOf(trigger(id, svc));
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await entered.promise;
    // PagerDuty redelivers while the first copy is in triage (the API's lookup cannot see it yet).
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    release.resolve();
    const [run] = await finished(id, 1);
    assert.equal(run!.status, 'succeeded');
    assert.equal(triages, 1, 'the redeliveries never reached triage');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('dup'), 1, 'one request at the peer');
    assert.deepEqual((await runsOf(id)).map((r) => [r.status, r.attempts]), [['succeeded', 1]]);

    // Once the incident resolved and its run completed (linger 1 s), the same delivery starts a new run:
    // triage stops it as a duplicate.
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-07-01T10:05:00Z' });
    await signalIncident(temporal, w.taskQueue, id, messageOf(resolve), { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(`incident-${id}`).describe()).status.name === 'COMPLETED', 30_000, 'the run to complete');
    assert.equal(triages, 2);
    await signalIncident(temporal, w.taskQueue, id, msg, { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(`incident-${id}`).describe()).status.name === 'COMPLETED' && triages === 3, 30_000, 'the second run to triage and complete');
    assert.equal(hits('dup'), 1, 'still one request: the duplicate stopped after triage');
    assert.equal((await runsOf(id)).length, 1);
  });

  it('a worker SIGKILLed between the claim and the side effect: the next worker runs the action once', async function () {
    const svc = newServiceId();
    await rule('crash', svc);
    const taskQueue = `crash-${newServiceId().toLowerCase()}`;
    // A real worker process that claims the action in Postgres and is killed before it goes any further.
    const doomed = startChildRoot('test/helpers/crash-worker.ts', { ACTION_EGRESS_ALLOW: '127.0.0.1/32', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue });
    await doomed.waitFor(/worker started/);
    const id = newIncidentId();
    await signalIncident(temporal, taskQueue, id, messageOf(trigger(id, svc)), { lingerSeconds: 1 });
    await doomed.waitFor(/claimed /);
    await doomed.kill();
    const row = await db.db.selectFrom('action_runs').select(['status', 'claimed_by']).where('incident_id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'running');
    assert.ok(row.claimed_by?.startsWith(`incident-${id}/rule-`), `claimed by the rule run: ${row.claimed_by}`);
    assert.equal(hits('crash'), 0);

    // A fresh worker on the same task queue takes the run over, finds the claim its run made, and goes on.
    workers.push(await startTestWorker({ temporal, db, extractors, taskQueue }));
    const [run] = await finished(id, 1);
    assert.equal(run!.status, 'succeeded');
    assert.equal(run!.attempts, 2, 'claimed twice by the same run: once before the crash, once after');
    await new Promise((r) => setTimeout(r, 1500));
    assert.equal(hits('crash'), 1, 'the side effect happened exactly once');
  });

  it('a claim held by another run is never executed by this one', async function () {
    const svc = newServiceId();
    const ruleId = await rule('loser', svc);
    const w = await worker();
    const id = newIncidentId();
    const payload = trigger(id, svc);
    // Another run got there first (as a second run of the same rule would): its claim is in Postgres.
    await db.db
      .insertInto('action_runs')
      .values({
        id: `${id}:${ruleId}:fix:${payload.event.id}`,
        idempotency_key: `${id}:${ruleId}:fix:${payload.event.id}`,
        incident_id: id,
        rule_id: ruleId,
        rule_version: 1,
        action_index: 0,
        action_id: 'fix',
        action_type: 'notify.webhook',
        status: 'running',
        claimed_by: 'incident-elsewhere/rule-x/run-1',
      })
      .execute();
    await signalIncident(temporal, w.taskQueue, id, messageOf(payload), { lingerSeconds: 1 });
    await eventually(async () => (await temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, payload.event.id)).describe()).status.name === 'COMPLETED', 30_000, 'the rule run to end');
    const result = await temporal.client.workflow.getHandle(ruleRunWorkflowId(id, ruleId, payload.event.id)).result();
    assert.equal((result as { ended: string }).ended, 'claimed_elsewhere');
    assert.equal(hits('loser'), 0, 'the loser never executed');
    assert.deepEqual((await runsOf(id)).map((r) => r.claimed_by), ['incident-elsewhere/rule-x/run-1']);
  });
});
