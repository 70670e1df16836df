import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { mapConcurrent } from '../helpers/fault-http.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// The worker and the API reach Postgres through a TCP proxy that is cut for a while. Webhooks are still
// accepted (the API only needs Temporal); the incidents are persisted once Postgres is back, with
// nothing lost and nothing stored twice, redeliveries and out-of-order events included.
describe('fault: Postgres down during incidents', function () {
  let db: TestDatabase;
  let proxy: TcpProxy;
  let stack: Stack;

  before(async function () {
    db = await createTestDatabase();
    let url: string;
    ({ proxy, url } = await proxyDatabase(db.url));
    stack = await startStack({ env: { DATABASE_URL: url }, db });
  });

  after(async function () {
    proxy?.up();
    await stack?.stop();
    await proxy?.close();
  });

  it('accepts every webhook while Postgres is down and persists each incident and event exactly once afterwards', async function () {
    proxy.down();
    const ids = Array.from({ length: 20 }, () => newIncidentId());
    const triggered = ids.map((id) => sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-04-01T10:00:00Z' }));
    // For a quarter of them the resolve comes first (reordered delivery).
    const resolved = ids.slice(0, 5).map((id) => sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-04-01T10:05:00Z' }));
    const deliveries = [...resolved, ...triggered, ...triggered.slice(0, 10)]; // and half of the triggers are redelivered
    const statuses = await mapConcurrent(deliveries, 10, async (p) => (await stack.deliver(p)).status);
    assert.ok(statuses.every((s) => s === 202), `all accepted while the database is down: ${statuses.join(',')}`);

    const health = await stack.app.request('/healthz');
    assert.equal(health.status, 200);
    const ready = await stack.app.request('/readyz');
    assert.equal(ready.status, 503, 'readiness names the database outage');

    await new Promise((r) => setTimeout(r, 2000));
    const during = await db.db.selectFrom('incidents').select('id').where('id', 'in', ids).execute();
    assert.equal(during.length, 0, 'nothing could be written during the outage');
    proxy.up();

    const uniqueEvents = [...resolved, ...triggered].map((p) => p.event.id);
    await eventually(async () => {
      const rows = await db.db.selectFrom('incident_events').select('event_id').where('incident_id', 'in', ids).execute();
      return rows.length >= uniqueEvents.length;
    }, 90_000, 'every event persisted after the outage');
    // Let any redelivered signal still in flight settle, then count exactly.
    await eventually(async () => {
      const states = await Promise.all(
        ids.map((id) => stack.temporal.client.workflow.getHandle(`incident-${id}`).query<{ pendingEvents: number }>('state')),
      );
      return states.every((s) => s.pendingEvents === 0);
    }, 30_000, 'no pending events');
    const events = await db.db.selectFrom('incident_events').select(['event_id', 'incident_id']).where('incident_id', 'in', ids).execute();
    assert.equal(events.length, uniqueEvents.length, 'no event stored twice');
    assert.deepEqual(new Set(events.map((e) => e.event_id)), new Set(uniqueEvents));

    const incidents = await db.db.selectFrom('incidents').select(['id', 'status']).where('id', 'in', ids).execute();
    assert.equal(incidents.length, ids.length, 'one row per incident');
    const byId = new Map(incidents.map((i) => [i.id, i.status]));
    for (const id of ids.slice(0, 5)) assert.equal(byId.get(id), 'resolved', `${id}: the newer resolve wins over the late trigger`);
    for (const id of ids.slice(5)) assert.equal(byId.get(id), 'triggered');
    assert.equal((await stack.app.request('/readyz')).status, 200);
  });
});
