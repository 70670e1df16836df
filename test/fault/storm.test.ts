import assert from 'node:assert/strict';
import { mapConcurrent } from '../helpers/fault-http.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

// Duplicate and reordered deliveries, and a storm of incidents (1,000 with FAULT_STORM_INCIDENTS=1000) at a concurrency of 20: every
// incident is persisted exactly once and every event once.
describe('fault: duplicate, reordered and storm deliveries', function () {
  let stack: Stack;

  before(async function () {
    stack = await startStack();
  });
  after(async function () {
    await stack?.stop();
  });

  const t0 = Date.now();
  /** Progress lines for diagnosing a slow machine: FAULT_DEBUG=1. */
  const mark = (m: string) => {
    if (process.env.FAULT_DEBUG) process.stderr.write(`[${Date.now() - t0} ms] ${m}\n`);
  };

  const countEvents = async (ids: string[]) => {
    let total = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const r = await stack.db.db
        .selectFrom('incident_events')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('incident_id', 'in', ids.slice(i, i + 500))
        .executeTakeFirstOrThrow();
      total += Number(r.n);
    }
    return total;
  };

  it('stores each event once when the same deliveries arrive many times, concurrently and out of order', async function () {
    const ids = Array.from({ length: 10 }, () => newIncidentId());
    const payloads = ids.flatMap((id) => [
      sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-05-01T10:00:00Z' }),
      sampleFor('v3-incident.acknowledged-01.json', id, { occurredAt: '2026-05-01T10:01:00Z' }),
      sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-05-01T10:02:00Z' }),
    ]);
    // Each payload five times, in reverse order (resolved first), all at once.
    const deliveries = [...payloads].reverse().flatMap((p) => [p, p, p, p, p]);
    const statuses = await mapConcurrent(deliveries, 20, async (p, i) => (await stack.deliver(p, { webhookId: `w-${i % 3}` })).status);
    assert.ok(statuses.every((s) => s === 202 || s === 200), statuses.join(','));
    assert.ok(statuses.filter((s) => s === 202).length >= payloads.length);

    await eventually(async () => (await countEvents(ids)) === payloads.length, 60_000, 'all events stored');
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await countEvents(ids), payloads.length, 'no event stored twice');
    const incidents = await stack.db.db.selectFrom('incidents').select(['id', 'status']).where('id', 'in', ids).execute();
    assert.equal(incidents.length, ids.length);
    assert.ok(incidents.every((i) => i.status === 'resolved'), 'the newest status wins whatever the arrival order');
  });

  // 1,000 incidents pass (each stored once) but take minutes on a loaded machine; npm test runs 250 to
  // stay within its budget. FAULT_STORM_INCIDENTS=1000 runs the full storm.
  const stormSize = Number(process.env.FAULT_STORM_INCIDENTS ?? 250);

  it(`persists a storm of ${stormSize} incidents exactly once each`, async function () {
    this.timeout(Math.max(120_000, stormSize * 600));
    const ids = Array.from({ length: stormSize }, () => newIncidentId());
    const payloads = ids.map((id) => sampleFor('v3-incident.triggered-01.json', id));
    // A tenth of them are redelivered at once (PagerDuty retry after a slow answer).
    const deliveries = [...payloads, ...payloads.filter((_, i) => i % 10 === 0)];
    const statuses = await mapConcurrent(deliveries, 20, async (p) => (await stack.deliver(p)).status);
    const bad = statuses.filter((s) => s !== 202 && s !== 200);
    mark('storm delivered');
    assert.deepEqual(bad, [], 'every delivery accepted or recognised as a duplicate');

    await eventually(async () => {
      const n = await countEvents(ids);
      mark(`stored ${n}`);
      return n === ids.length;
    }, Math.max(90_000, stormSize * 500), 'every storm event stored');
    let incidents = 0;
    for (let i = 0; i < ids.length; i += 500) {
      const r = await stack.db.db.selectFrom('incidents').select((eb) => eb.fn.countAll<string>().as('n')).where('id', 'in', ids.slice(i, i + 500)).executeTakeFirstOrThrow();
      incidents += Number(r.n);
    }
    assert.equal(incidents, ids.length, 'one incident row each');
    assert.equal(await countEvents(ids), ids.length, 'one event row each');
  });
});
