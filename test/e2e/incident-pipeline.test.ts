import assert from 'node:assert/strict';
import net from 'node:net';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { incidentWorkflowId, searchAttributes } from '../../src/temporal/names.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { createTestDatabase } from '../helpers/db.js';
import { newIncidentId, readSample, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';
import { proxyDatabase } from '../helpers/tcp-proxy.js';

describe('incident pipeline: signed webhook → workflow → Postgres', function () {
  let stack: Stack;

  before(async function () {
    stack = await startStack();
  });
  after(async function () {
    await stack?.stop();
  });

  const incidentRow = (id: string) => stack.db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
  const eventRows = (id: string) => stack.db.db.selectFrom('incident_events').selectAll().where('incident_id', '=', id).execute();

  it('persists a real triggered payload and shows it through the API with its Temporal link', async function () {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id));
    assert.equal(res.status, 202);
    const body = (await res.json()) as { status: string; incidentId: string; workflowId: string };
    assert.equal(body.status, 'accepted');
    assert.equal(body.incidentId, id);
    assert.equal(body.workflowId, incidentWorkflowId(id));

    const row = await eventually(() => incidentRow(id), 30_000, 'incident persisted');
    assert.equal(row.status, 'triggered');
    assert.equal(row.title, 'Test Incident 3');
    assert.equal(row.urgency, 'high');
    assert.equal(row.service_id, 'PA2P440');
    assert.equal(row.escalation_policy_id, 'PY82TC6');
    assert.deepEqual(
      (row.assignees as { id: string }[]).map((a) => a.id),
      ['PJ0LVEB'],
    );

    const detail = await stack.api(`/api/incidents/${id}`);
    assert.equal(detail.status, 200);
    const view = (await detail.json()) as { events: { type: string }[]; temporalUrl: string; service: { id: string } };
    assert.deepEqual(view.events.map((e) => e.type), ['incident.triggered']);
    assert.match(view.temporalUrl, new RegExp(`/namespaces/default/workflows/incident-${id}$`));
    assert.equal(view.service.id, 'PA2P440');

    const list = (await (await stack.api('/api/incidents?status=triggered&service=PA2P440')).json()) as { items: { id: string }[] };
    assert.ok(list.items.some((i) => i.id === id));
  });

  it('is found in Temporal by its incident and service from the first delivery (the Temporal UI filters)', async function () {
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id))).status, 202);
    const query = `${searchAttributes.incidentId.name} = '${id}' AND ${searchAttributes.service.name} = 'PA2P440'`;
    const found = await eventually(
      async () => {
        const ids: string[] = [];
        for await (const w of stack.temporal.client.workflow.list({ query })) ids.push(w.workflowId);
        return ids.length > 0 ? ids : undefined;
      },
      30_000,
      'the incident workflow listed by its search attributes',
    );
    assert.deepEqual(found, [incidentWorkflowId(id)]);
    // Another service's filter does not find it.
    const other: string[] = [];
    for await (const w of stack.temporal.client.workflow.list({ query: `${searchAttributes.incidentId.name} = '${id}' AND ${searchAttributes.service.name} = 'PNOTOURS'` })) other.push(w.workflowId);
    assert.deepEqual(other, []);
  });

  it('never processes a redelivered event twice', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id);
    assert.equal((await stack.deliver(payload, { webhookId: 'w-1' })).status, 202);
    await eventually(async () => (await eventRows(id)).length === 1, 30_000, 'first delivery stored');
    const again = await stack.deliver(payload, { webhookId: 'w-1' });
    assert.equal(again.status, 200);
    assert.equal(((await again.json()) as { status: string }).status, 'duplicate');
    // Even a redelivery that races past the API check is dropped by the workflow and the unique key.
    await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).signal('incidentEvent', {
      eventId: payload.event.id,
      eventType: 'incident.triggered',
      receivedAt: new Date().toISOString(),
      event: payload.event,
    });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal((await eventRows(id)).length, 1);
  });

  it('keeps the newest status when resolved arrives before triggered', async function () {
    const id = newIncidentId();
    const resolved = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-01-01T10:05:00Z' });
    const triggered = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-01-01T10:00:00Z' });
    assert.equal((await stack.deliver(resolved)).status, 202);
    await eventually(async () => (await incidentRow(id))?.status === 'resolved', 30_000, 'resolved stored');
    assert.equal((await stack.deliver(triggered)).status, 202);
    await eventually(async () => (await eventRows(id)).length === 2, 30_000, 'both events stored');
    const row = await incidentRow(id);
    assert.equal(row?.status, 'resolved');
    assert.equal(row?.resolved_at?.toISOString(), '2026-01-01T10:05:00.000Z');
    // The late trigger still filled in what the resolve event did not carry.
    assert.equal(row?.urgency, 'high');
  });

  it('follows the incident life: acknowledged then resolved ends the run', async function () {
    const id = newIncidentId();
    await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-02-01T10:00:00Z' }));
    await stack.deliver(sampleFor('v3-incident.acknowledged-01.json', id, { occurredAt: '2026-02-01T10:01:00Z' }));
    await eventually(async () => (await incidentRow(id))?.status === 'acknowledged', 30_000, 'acknowledged');
    await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-02-01T10:02:00Z' }));
    await eventually(async () => (await incidentRow(id))?.status === 'resolved', 30_000, 'resolved');
    const state = await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state');
    assert.equal((state as { status: string }).status, 'resolved');
  });

  it('rejects missing and forged signatures with 401 and starts nothing', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id);
    const missing = await stack.deliver(payload, { signature: null });
    assert.equal(missing.status, 401);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    assert.match(((await missing.json()) as { detail: string }).detail, /missing/);
    const forged = await stack.deliver(payload, { signature: signBody(JSON.stringify(payload), 'not-the-secret') });
    assert.equal(forged.status, 401);
    // A signature over other bytes does not pass either.
    const other = await stack.deliver(payload, { signature: signBody(JSON.stringify(payload) + ' ', WEBHOOK_SECRET) });
    assert.equal(other.status, 401);
    await assert.rejects(stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe(), WorkflowNotFoundError);
    assert.equal((await eventRows(id)).length, 0);
  });

  it('accepts a delivery signed with any of the rotating secrets', async function () {
    const rotating = await startStack({ env: { PAGERDUTY_WEBHOOK_SECRETS: `new-secret-abcdefghijkl, ${WEBHOOK_SECRET}` }, db: stack.db });
    try {
      const id = newIncidentId();
      const payload = sampleFor('v3-incident.triggered-01.json', id);
      const raw = JSON.stringify(payload);
      const res = await rotating.deliver(payload, { raw, signature: `v1=${'0'.repeat(64)},${signBody(raw, 'new-secret-abcdefghijkl')}` });
      assert.equal(res.status, 202);
    } finally {
      await rotating.stop();
    }
  });

  it('answers 400 problem+json naming what is wrong, and 413 for oversized bodies', async function () {
    const notJson = await stack.deliver(null, { raw: '{"event": ' });
    assert.equal(notJson.status, 400);
    assert.match(((await notJson.json()) as { detail: string }).detail, /not valid JSON/);
    const noEvent = await stack.deliver({ messages: [] });
    assert.equal(noEvent.status, 400);
    const problem = (await noEvent.json()) as { errors: { path: string }[] };
    assert.ok(problem.errors.some((e) => e.path === 'event'), JSON.stringify(problem));
    const huge = await stack.deliver(null, { raw: JSON.stringify({ event: { pad: 'x'.repeat(300 * 1024) } }) });
    assert.equal(huge.status, 413);
  });

  it('records pings and service events without starting a workflow', async function () {
    const ping = readSample('v3-pagey.ping-agentnull-n8n.json');
    const pingId = `ping-${Date.now()}`;
    (ping.event as Record<string, unknown>).id = pingId;
    const res = await stack.deliver(ping);
    assert.equal(res.status, 202);
    assert.equal(((await res.json()) as { status: string }).status, 'ignored');
    const row = await stack.db.db.selectFrom('incident_events').selectAll().where('event_id', '=', pingId).executeTakeFirst();
    assert.equal(row?.disposition, 'ignored');
    assert.equal(row?.incident_id, null);

    const svc = readSample('v3-service.created-01.json');
    (svc.event as Record<string, unknown>).id = `svc-${Date.now()}`;
    assert.equal((await stack.deliver(svc)).status, 202);
  });

  it('accepts every V3 incident event type in the samples', async function () {
    const names = [
      'v3-incident.annotated-01.json',
      'v3-incident.conference_bridge.updated-01.json',
      'v3-incident.delegated-01.json',
      'v3-incident.escalated-01.json',
      'v3-incident.priority_updated-01.json',
      'v3-incident.reassigned-01.json',
      'v3-incident.reopened-01.json',
      'v3-incident.responder.added-01.json',
      'v3-incident.responder.replied-01.json',
      'v3-incident.service_updated-01.json',
      'v3-incident.status_update_published-01.json',
      'v3-incident.workflow.started-01.json',
    ];
    const id = newIncidentId();
    for (const n of names) {
      const res = await stack.deliver(sampleFor(n, id));
      assert.equal(res.status, 202, `${n}: ${await res.text()}`);
    }
    await eventually(async () => (await eventRows(id)).length === names.length, 30_000, 'all events stored');
  });
});

describe('incident pipeline: outages', function () {
  it('answers 503 while Temporal is unreachable, so PagerDuty retries', async function () {
    const db = await createTestDatabase();
    // Hold a port whose every connection is dropped: Temporal is "down", and no other process can take the port.
    const dead = net.createServer((socket) => socket.destroy());
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as net.AddressInfo).port;
    const config = loadConfig({ NODE_ENV: 'test', TEMPORAL_ADDRESS: `127.0.0.1:${port}`, PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET, SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS, DATABASE_URL: db.url });
    const temporal = await lazyTemporalClient({ address: config.temporal.address!, namespace: 'default' });
    const app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId()));
    const res = await app.request('/webhooks/pagerduty', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) },
      body: raw,
    });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');

    const ready = await app.request('/readyz');
    assert.equal(ready.status, 503);
    const body = (await ready.json()) as { detail: string; checks: Record<string, { status: string }> };
    assert.match(body.detail, /temporal/);
    assert.equal(body.checks.database?.status, 'up');
    assert.equal(body.checks.temporal?.status, 'down');
    await new Promise<void>((r) => dead.close(() => r()));
  });

  it('still persists an incident accepted while Postgres was down, once it is back', async function () {
    const db = await createTestDatabase();
    const { proxy, url: proxied } = await proxyDatabase(db.url);
    const stack = await startStack({ env: { DATABASE_URL: proxied }, db });
    try {
      proxy.down();
      const id = newIncidentId();
      const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id));
      assert.equal(res.status, 202, 'the webhook only needs Temporal');
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(await db.db.selectFrom('incidents').select('id').where('id', '=', id).executeTakeFirst(), undefined);
      proxy.up();
      const row = await eventually(() => db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst(), 60_000, 'incident persisted after the outage');
      assert.equal(row.status, 'triggered');
      const events = await db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).execute();
      assert.equal(events.length, 1);
    } finally {
      await stack.stop();
      await proxy.close();
    }
  });
});
