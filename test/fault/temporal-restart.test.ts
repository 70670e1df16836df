import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { NativeConnection, type Worker } from '@temporalio/worker';
import { createLogger } from '../../src/logger.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes.js';
import { installTemporalRuntime } from '../../src/temporal/worker.js';
import { buildMainWorker } from '../../src/worker.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { deliverWithRetries, mapConcurrent, serveApi, type DeliveryResult } from '../helpers/fault-http.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { temporalCliForTests } from '../helpers/temporal.js';

// Our own Temporal dev server persisting to a SQLite file, stopped and started again on the same port
// in the middle of a burst of deliveries. The API answers 503 while it is down; the sender retries
// like PagerDuty; afterwards every event is stored exactly once.
describe('fault: Temporal restarted during a burst of deliveries', function () {
  let dir: string;
  let server: DevServer;
  let cli: string;
  let db: TestDatabase;
  let native: NativeConnection;
  let worker: Worker;
  let running: Promise<void>;
  let client: Client;
  let api: Awaited<ReturnType<typeof serveApi>>;
  const taskQueue = `fault-restart-${randomUUID()}`;

  before(async function () {
    installTemporalRuntime(createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
    cli = await temporalCliForTests();
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-fault-temporal-'));
    server = await startDevServer({ executable: cli, dbFilename: path.join(dir, 'temporal.db') });
    const setup = await Connection.connect({ address: server.address });
    await ensureSearchAttributes(setup, 'default');
    await setup.close();
    db = await createTestDatabase();
    native = await NativeConnection.connect({ address: server.address });
    api = await serveApi({ temporal: await lazyTemporalClient({ address: server.address, namespace: 'default' }), temporalAddress: server.address, db: db.db, databaseUrl: db.url, taskQueue });
    worker = await buildMainWorker({ config: api.config, db: db.db, logger: createLogger({ level: 'silent' }), connection: native, extractors: {} });
    running = worker.run();
    client = await lazyTemporalClient({ address: server.address, namespace: 'default' });
  });

  after(async function () {
    if (worker?.getState() === 'RUNNING') worker.shutdown();
    await running?.catch(() => undefined);
    await native?.close().catch(() => undefined);
    await client?.connection.close().catch(() => undefined);
    await server?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const t0 = Date.now();
  /** Progress lines for diagnosing a slow machine: FAULT_DEBUG=1. */
  const mark = (m: string) => {
    if (process.env.FAULT_DEBUG) process.stderr.write(`[${Date.now() - t0} ms] ${m}\n`);
  };

  it('answers 503 while Temporal is down, and every retried event ends up persisted exactly once', async function () {
    const n = 20;
    const ids = Array.from({ length: n }, () => newIncidentId());
    // Two events per incident: triggered then acknowledged.
    const deliveries = ids.flatMap((id) => [
      sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-03-01T10:00:00Z' }),
      sampleFor('v3-incident.acknowledged-01.json', id, { occurredAt: '2026-03-01T10:01:00Z' }),
    ]);
    let done = 0;
    let restarted: Promise<void> | undefined;
    let sawDown = false;
    const results = await mapConcurrent(deliveries, 8, async (payload, i) => {
      const r: DeliveryResult = await deliverWithRetries(api.url, payload, { attempts: 200, pauseMs: 250 });
      done += 1;
      if (done === 12 && !restarted) {
        restarted = (async () => {
          mark('stopping');
          await server.stop();
          mark('stopped');
          // Wait until a delivery saw the outage (bounded), then bring the same server back.
          for (let k = 0; k < 100 && !sawDown; k++) await new Promise((res) => setTimeout(res, 100));
          await new Promise((res) => setTimeout(res, 1000));
          server = await startDevServer({ executable: cli, dbFilename: path.join(dir, 'temporal.db'), port: server.port });
          mark('restarted');
        })();
      }
      if (r.statuses.includes(503)) sawDown = true;
      return { i, r };
    });
    await restarted;
    mark('deliveries done');

    for (const { i, r } of results) assert.ok([200, 202].includes(r.status), `delivery ${i}: ${r.statuses.join(',')}`);
    assert.ok(results.some(({ r }) => r.statuses.includes(503)), 'some deliveries were answered 503 while Temporal was down');

    const eventIds = deliveries.map((d) => d.event.id);
    await eventually(async () => {
      const c = await db.db.selectFrom('incident_events').select((eb) => eb.fn.countAll<string>().as('n')).where('event_id', 'in', eventIds).executeTakeFirstOrThrow();
      mark(`stored ${c.n}`);
      return Number(c.n) === eventIds.length;
    }, 60_000, 'every event stored');
    mark('events stored');
    const rows = await db.db.selectFrom('incident_events').select(['event_id']).where('incident_id', 'in', ids).execute();
    assert.equal(rows.length, eventIds.length, 'no event stored twice');
    assert.deepEqual(new Set(rows.map((r) => r.event_id)), new Set(eventIds));
    const incidents = await db.db.selectFrom('incidents').select(['id', 'status']).where('id', 'in', ids).execute();
    assert.equal(incidents.length, n);
    assert.ok(incidents.every((x) => x.status === 'acknowledged'), 'the newest status wins for every incident');

    // The restarted server kept its state: the runs started before the outage are still there.
    const handle = client.workflow.getHandle(`incident-${ids[0]}`);
    assert.equal((await handle.query<{ status: string }>('state')).status, 'acknowledged');
  });
});
