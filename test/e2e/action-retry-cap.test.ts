import assert from 'node:assert/strict';
import type { TestDatabase } from '../helpers/db.js';
import { createTestDatabase } from '../helpers/db.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// A rule the API accepts (retry.initialIntervalSeconds is allowed up to 3600 s) whose non-script action asks
// for a first retry pause over a minute. The rule run built the activity's retry policy with the SaaS
// preset's maximumInterval of 1 minute, which the Temporal SDK refuses ("maximumInterval cannot be less than
// its initialInterval") before anything is scheduled: the action was recorded failed without the provider
// ever being called, on every incident (and the breaker counted it). Found in review; the cap is now raised
// to the first pause (patch saas-retry-cap-raised-to-first-pause-v1).
describe('a non-script action with retry.initialIntervalSeconds over 60 s', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let peer: HttpPeer;
  let w: TestWorker;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    peer = await startHttpPeer([{ method: 'POST', path: /^\/hook\/(?<name>[a-z0-9-]+)$/, handle: () => ({ status: 204 }) }]);
    w = await startTestWorker({ temporal, db });
  });
  after(async function () {
    await w?.stop();
    await peer?.close();
  });

  it('is called at the peer and succeeds (it was recorded failed, never sent, the SDK refusing its retry policy)', async function () {
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `retry-cap-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'hook', type: 'notify.webhook', url: `${peer.url}/hook/slow-retry`, body: '{}', retry: { maximumAttempts: 3, initialIntervalSeconds: 120 } }],
    });
    const id = newIncidentId();
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-07-01T10:00:00Z', data: { service: { id: svc, type: 'service_reference', summary: 's' } } });
    await signalIncident(temporal, w.taskQueue, id, messageOf(trigger), { lingerSeconds: 1 });
    const run = await eventually(
      async () => (await db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', id).executeTakeFirst()) ?? undefined,
      60_000,
      'the action run',
    );
    const done = await eventually(async () => {
      const r = await db.db.selectFrom('action_runs').selectAll().where('id', '=', run.id).executeTakeFirstOrThrow();
      return r.finished_at ? r : undefined;
    }, 60_000, 'the action run to finish');
    assert.equal(peer.requests.filter((r) => r.path === '/hook/slow-retry').length, 1, `one request at the peer (action ${done.status}: ${done.error})`);
    assert.equal(done.status, 'succeeded', `recorded ${done.status}: ${done.error}`);
  });
});
