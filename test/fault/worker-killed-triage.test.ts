import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { incidentStateQuery } from '../../workflows/messages.js';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverWithRetries, serveApi } from '../helpers/fault-http.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// docs/guarantees.md, Events: "a resolve of a resolved incident changes nothing, so the `incident.resolved`
// rules run once". The main worker is a real child process, SIGKILLed once the triage of a second resolve
// of the incident (PagerDuty's own after the reconcile's or an admin's, a redelivery with another id) has
// committed and before its workflow task completed; a fresh worker process takes the incident over and
// triages the event again. What is counted is the requests at the rule's webhook peer.
describe('fault: main worker killed after triaging a resolve of a resolved incident', function () {
  this.timeout(180_000);
  let temporal: TestTemporal;
  let db: TestDatabase;
  let hook: HttpPeer;
  let api: Awaited<ReturnType<typeof serveApi>>;
  const workers: ChildRoot[] = [];
  const taskQueue = `fault-triage-${randomUUID()}`;
  let workerEnv: Record<string, string>;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    hook = await startHttpPeer([{ method: 'POST', path: '/resolved', handle: () => ({ status: 204 }) }]);
    api = await serveApi({ temporal: temporal.client, temporalAddress: temporal.address, db: db.db, databaseUrl: db.url, taskQueue });
    workerEnv = { ACTION_EGRESS_ALLOW: '127.0.0.1/32', TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: db.url, TEMPORAL_TASK_QUEUE: taskQueue };
  });

  after(async function () {
    for (const w of workers) await w.stop();
    await hook?.close();
  });

  it('runs the incident.resolved rules once: the retried triage of the second resolve starts nothing', async function () {
    const svc = newServiceId();
    const id = newIncidentId();
    await insertRule(db.db, {
      name: `on-resolve-${randomUUID().slice(0, 6)}`,
      services: [svc],
      eventTypes: ['incident.resolved'],
      actions: [{ id: 'tell', type: 'notify.webhook', url: `${hook.url}/resolved`, body: '{"incident": "{{ incident.id }}"}' }],
    } as never);
    const service = { service: { id: svc, type: 'service_reference', summary: 's' } };
    const t0 = Date.now() - 60_000;
    const at = (s: number) => new Date(t0 + s * 1000).toISOString();
    const again = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: at(20), data: service });

    const first = startChildRoot('test/helpers/crash-worker.ts', { ...workerEnv, CRASH_AFTER_TRIAGE_OF: again.event.id });
    workers.push(first);
    await first.waitFor(/worker started/);

    assert.equal((await deliverWithRetries(api.url, sampleFor('v3-incident.triggered-01.json', id, { occurredAt: at(0), data: service }))).status, 202);
    assert.equal((await deliverWithRetries(api.url, sampleFor('v3-incident.resolved-01.json', id, { occurredAt: at(10), data: service }))).status, 202);
    const calls = () => hook.requests.filter((r) => (r.json as { incident?: string } | undefined)?.incident === id).length;
    await eventually(async () => calls() === 1, 60_000, 'the incident.resolved rule ran for the resolve');

    // The second telling of the resolve: triaged (stale: the incident is resolved already), then the worker dies.
    assert.equal((await deliverWithRetries(api.url, again)).status, 202);
    await first.waitFor(new RegExp(`triaged ${again.event.id}`));
    await first.kill();
    const second = startChildRoot('src/worker.ts', workerEnv);
    workers.push(second);
    await second.waitFor(/worker started/);

    // An event after it: once it is stored, the second resolve's triage is over and its rule runs, if any,
    // were started; wait until none is going.
    const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: at(30) });
    assert.equal((await deliverWithRetries(api.url, note)).status, 202);
    await eventually(async () => (await db.db.selectFrom('incident_events').select('id').where('event_id', '=', note.event.id).executeTakeFirst()) !== undefined, 90_000, 'the note after it taken');
    const handle = temporal.client.workflow.getHandle(incidentWorkflowId(id));
    await eventually(async () => {
      const state = await handle.query(incidentStateQuery);
      return state.pendingEvents === 0 && state.runningRules.length === 0;
    }, 60_000, 'no rule run going');

    assert.equal(calls(), 1, `requests at the rule's webhook: ${calls()}`);
    const matched = await db.db.selectFrom('rule_matches').select(['event_id', 'decision']).where('incident_id', '=', id).execute();
    assert.deepEqual(matched.map((m) => m.event_id).filter((e) => e === again.event.id), [], 'no rule matched the second resolve');
    const stored = await db.db.selectFrom('incident_events').select('note').where('event_id', '=', again.event.id).executeTakeFirstOrThrow();
    assert.match(stored.note ?? '', /resolved already/, 'why no rule ran is recorded on the event');
    const stuck = await db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('finished_at', 'is', null).execute();
    assert.deepEqual(stuck, [], 'no action run left unfinished');
  });
});
