import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET, eventually, startStack, type Stack } from '../helpers/stack.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';

// An API whose Temporal stops answering (its connection stalled at a TCP proxy) while deliveries keep
// coming, with PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT=2: the two deliveries it holds wait for Temporal; the
// rest are answered 503 at once instead of queueing into the signalWithStart timeout. PagerDuty retries
// those, and every event is stored exactly once. The worker reaches Temporal directly.
describe('fault: more deliveries at once than the ack path takes', function () {
  this.timeout(120_000);
  let stack: Stack;
  let proxy: TcpProxy;
  let client: Client;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    stack = await startStack();
    const [host, port] = stack.temporal.address.split(':');
    proxy = await startTcpProxy(host!, Number(port));
    const address = `127.0.0.1:${proxy.port}`;
    client = await lazyTemporalClient({ address, namespace: 'default' });
    const config = loadConfig({
      NODE_ENV: 'test',
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TASK_QUEUE: stack.taskQueue,
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
      PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT: '2',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: stack.db.url,
    });
    app = createApp({ config, db: stack.db.db, temporal: client, logger: createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }) }, allRoutes);
  });

  after(async function () {
    proxy?.resume();
    await client?.connection.close().catch(() => undefined);
    await proxy?.close();
    await stack?.stop();
  });

  const deliver = async (payload: unknown): Promise<Response> => {
    const raw = JSON.stringify(payload);
    return app.request('/webhooks/pagerduty', { method: 'POST', headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) }, body: raw });
  };

  it('answers the excess 503 at once while Temporal is slow; after retries every event is stored once', async function () {
    // The client's connection through the proxy exists before it stalls.
    assert.equal((await deliver(sampleFor('v3-incident.triggered-01.json', newIncidentId()))).status, 202);
    proxy.stall();

    const payloads = Array.from({ length: 5 }, () => sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    const answers: (Response | undefined)[] = payloads.map(() => undefined);
    const pending = payloads.map(async (p, i) => (answers[i] = await deliver(p)));
    await eventually(async () => answers.filter(Boolean).length >= 3, 10_000, 'three answers while Temporal is stalled');
    // The other two stay held for as long as Temporal does not answer (well under the 4-s timeout here).
    await new Promise((r) => setTimeout(r, 500));
    const refused = payloads.flatMap((_, i) => (answers[i] ? [i] : []));
    assert.equal(refused.length, 3, 'exactly the deliveries over the bound were answered early');
    for (const i of refused) {
      const res = answers[i]!;
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assert.match(res.headers.get('content-type') ?? '', /application\/problem\+json/);
      const body = (await res.json()) as { detail: string; retryable: boolean };
      assert.match(body.detail, /2 deliveries are already being handed to Temporal \(PAGERDUTY_WEBHOOK_MAX_IN_FLIGHT\)/);
      assert.equal(body.retryable, true);
    }

    proxy.resume();
    const final = await Promise.all(pending);
    const held = payloads.flatMap((_, i) => (refused.includes(i) ? [] : [i]));
    for (const i of held) assert.equal(final[i]!.status, 202, 'a held delivery is accepted once Temporal answers');
    // PagerDuty redelivers what was refused.
    for (const i of refused) assert.equal((await deliver(payloads[i])).status, 202);

    const ids = payloads.map((p) => p.event.id);
    const rows = await eventually(
      async () => {
        const r = await stack.db.db.selectFrom('incident_events').select('event_id').where('event_id', 'in', ids).execute();
        return r.length >= ids.length ? r : undefined;
      },
      60_000,
      'every event persisted',
    );
    assert.deepEqual(rows.map((r) => r.event_id).sort(), [...ids].sort(), 'each event exactly once');

    const metrics = await (await app.request('/metrics')).text();
    assert.match(metrics, /selfheal_webhooks_rejected_total\{reason="overloaded"\} 3\b/);
    assert.match(metrics, /selfheal_webhooks_received_total\{outcome="accepted"\} 6\b/);
  });
});
