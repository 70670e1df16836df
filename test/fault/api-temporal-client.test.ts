import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { CONNECT_TIMEOUT_MS, LazyNativeConnection, lazyTemporalClient } from '../../src/temporal/native-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET, eventually } from '../helpers/stack.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { testTemporal } from '../helpers/temporal.js';

// The API's Temporal client (src/temporal/native-client.ts): the SDK's NativeConnection, made on first
// use. Temporal sits behind a TCP proxy that is down (connections cut), stalled (connections held,
// nothing forwarded) or up, as a Temporal that is not there yet, stops answering, or comes back.
describe('fault: the API reaches Temporal through a lazily made native connection', function () {
  this.timeout(120_000);
  let proxy: TcpProxy;
  let db: TestDatabase;
  const clients: Client[] = [];
  const taskQueue = `lazy-native-${randomUUID()}`;

  before(async function () {
    const temporal = await testTemporal();
    const [host, port] = temporal.address.split(':');
    proxy = await startTcpProxy(host!, Number(port));
    db = await createTestDatabase();
  });

  afterEach(function () {
    proxy.resume();
    proxy.up();
  });

  after(async function () {
    for (const c of clients) await c.connection.close().catch(() => undefined);
    await proxy?.close();
    await db?.close();
  });

  const newClient = async (): Promise<Client> => {
    const client = await lazyTemporalClient({ address: `127.0.0.1:${proxy.port}`, namespace: 'default' });
    clients.push(client);
    return client;
  };

  const appWith = (client: Client) =>
    createApp(
      {
        config: loadConfig({ NODE_ENV: 'test', TEMPORAL_TASK_QUEUE: taskQueue, PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET, SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS, DATABASE_URL: db.url }),
        db: db.db,
        temporal: client,
        logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
      },
      allRoutes,
    );

  const deliver = (app: ReturnType<typeof appWith>, incidentId: string) => {
    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', incidentId));
    return app.request('/webhooks/pagerduty', { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) }, body: raw });
  };

  it('starts while Temporal is down, answers 503 then, and 202 once Temporal is up, without a restart', async function () {
    proxy.down();
    const client = await newClient();
    const app = appWith(client);

    const incidentId = newIncidentId();
    const refused = await deliver(app, incidentId);
    assert.equal(refused.status, 503);
    assert.match(((await refused.json()) as { detail: string }).detail, /workflow service unavailable/);

    proxy.up();
    const accepted = await deliver(app, incidentId);
    const body = await accepted.text();
    assert.equal(accepted.status, 202, body);
    const { workflowId } = JSON.parse(body) as { workflowId: string };
    // The workflow exists on the server: asked through a connection that does not pass the proxy.
    const described = await (await testTemporal()).client.workflow.getHandle(workflowId).describe();
    assert.equal(described.workflowId, workflowId);
    await (await testTemporal()).client.workflow.getHandle(workflowId).terminate('test over');
  });

  it('fails a call with UNAVAILABLE when a connection cannot be made in time, and connects on a later call', async function () {
    proxy.stall();
    const client = await newClient();
    const started = Date.now();
    const err = (await client.workflowService.getSystemInfo({}).then(
      () => undefined,
      (e: unknown) => e,
    )) as { code?: number; message?: string } | undefined;
    const took = Date.now() - started;
    assert.ok(err, 'the call failed');
    assert.equal(err.code, 14);
    assert.match(err.message ?? '', /Temporal is unreachable: no connection within 3000 ms/);
    assert.ok(took >= CONNECT_TIMEOUT_MS - 100 && took < CONNECT_TIMEOUT_MS + 5000, `failed after ${took} ms`);

    proxy.resume();
    const info = await client.workflowService.getSystemInfo({});
    assert.ok(info.serverVersion, 'answered once Temporal answers');
  });

  it('keeps a deadline set around a call (withDeadline): a stalled Temporal fails it at the deadline', async function () {
    const client = await newClient();
    await client.workflowService.getSystemInfo({}); // connected
    proxy.stall();
    const started = Date.now();
    const err = (await client
      .withDeadline(Date.now() + 1500, () => client.workflowService.describeNamespace({ namespace: 'default' }))
      .then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: number } | undefined;
    const took = Date.now() - started;
    assert.ok(err, 'the call failed');
    // The core reports a passed deadline as CANCELLED, "Timeout expired" (grpc-js: DEADLINE_EXCEEDED).
    assert.equal(err.code, 1);
    assert.match(String((err as { message?: string }).message), /Timeout expired/);
    assert.ok(took >= 1400 && took < 10_000, `failed after ${took} ms`);
  });

  it('makes one connection for the calls that wait on it, and a new one after a failed attempt', async function () {
    let attempts = 0;
    let fail = true;
    const connection = new LazyNativeConnection(async () => {
      attempts += 1;
      if (fail) throw new Error('refused');
      return NativeConnection.connect({ address: `127.0.0.1:${proxy.port}` });
    });
    try {
      const first = await Promise.allSettled([1, 2, 3].map(() => connection.workflowService.getSystemInfo({})));
      assert.deepEqual(
        first.map((r) => r.status),
        ['rejected', 'rejected', 'rejected'],
      );
      assert.equal(attempts, 1, 'three calls waited on one attempt');
      fail = false;
      const second = await Promise.all([1, 2, 3].map(() => connection.workflowService.getSystemInfo({})));
      assert.equal(second.length, 3);
      assert.equal(attempts, 2, 'one new attempt after the failed one, shared by three calls');
    } finally {
      await connection.close();
    }
    await assert.rejects(connection.workflowService.getSystemInfo({}), /closed/);
  });

  it('closes a connection that arrives after its attempt timed out, and uses the next attempt\'s', async function () {
    const made: { closed: boolean }[] = [];
    let delayMs = 400;
    const connection = new LazyNativeConnection(async () => {
      const wait = delayMs;
      await new Promise((r) => setTimeout(r, wait));
      const real = await NativeConnection.connect({ address: `127.0.0.1:${proxy.port}` });
      const record = { closed: false };
      made.push(record);
      const close = real.close.bind(real);
      real.close = async () => {
        record.closed = true;
        await close();
      };
      return real;
    }, 100);
    try {
      await assert.rejects(connection.workflowService.getSystemInfo({}), (err: { code?: number; message?: string }) => err.code === 14 && /no connection within 100 ms/.test(err.message ?? ''));
      // The late connection arrives about 300 ms after the attempt gave up, and is closed, not kept.
      await eventually(async () => made.length === 1 && made[0]!.closed, 10_000, 'the late connection closed');
      delayMs = 0;
      const info = await connection.workflowService.getSystemInfo({});
      assert.ok(info.serverVersion);
      assert.equal(made.length, 2);
      assert.equal(made[1]!.closed, false, 'the connection in use stays open');
    } finally {
      await connection.close();
    }
    assert.equal(made[1]!.closed, true, 'close() closes it');
  });
});
