import assert from 'node:assert/strict';
import { signBody } from '../../src/pagerduty/signature.js';
import { serveApi } from '../helpers/fault-http.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, WEBHOOK_SECRET, type Stack } from '../helpers/stack.js';

// Hostile and broken webhook deliveries: each gets a clear 4xx (problem+json naming the field) or is
// handled safely; nothing half-written; the server keeps answering.
describe('bad input: PagerDuty webhook', function () {
  let stack: Stack;
  let http: Awaited<ReturnType<typeof serveApi>>;

  before(async function () {
    stack = await startStack();
    http = await serveApi({ temporal: stack.temporal.client, temporalAddress: stack.temporal.address, db: stack.db.db, databaseUrl: stack.db.url, taskQueue: stack.taskQueue });
  });
  after(async function () {
    await stack?.stop();
  });
  afterEach(async function () {
    assert.equal((await stack.app.request('/healthz')).status, 200);
    assert.equal((await fetch(`${http.url}/healthz`)).status, 200);
  });

  const post = (raw: string | Uint8Array, headers: Record<string, string> = {}) =>
    fetch(`${http.url}/webhooks/pagerduty`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET), ...headers },
      body: raw,
    });
  const problemOf = async (res: Response) => {
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    return (await res.json()) as { status: number; detail: string; errors?: { path: string }[] };
  };
  const eventRow = (eventId: string) => stack.db.db.selectFrom('incident_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();
  const incidentRow = (id: string) => stack.db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();

  it('answers 400 for malformed JSON of every shape', async function () {
    for (const raw of ['', '{', '{"event": ', 'null', '[]', '"event"', '42', '{"event": {"id": "x",}}', '\u0000', '\uFEFF{}']) {
      const res = await post(raw);
      assert.equal(res.status, 400, JSON.stringify(raw));
      const p = await problemOf(res);
      assert.equal(p.status, 400);
    }
  });

  it('names missing, null and wrongly typed fields', async function () {
    const base = sampleFor('v3-incident.triggered-01.json', newIncidentId()).event;
    const cases: [unknown, string][] = [
      [{}, 'event'],
      [{ event: null }, 'event'],
      [{ event: { ...base, id: null } }, 'event.id'],
      [{ event: { ...base, id: '' } }, 'event.id'],
      [{ event: { ...base, event_type: 42 } }, 'event.event_type'],
      [{ event: { ...base, data: 'incident' } }, 'event.data'],
      [{ event: { ...base, data: undefined } }, 'event.data'],
      [{ event: { ...base, occurred_at: ['2026'] } }, 'event.occurred_at'],
      [{ event: { ...base, agent: 'me' } }, 'event.agent'],
    ];
    for (const [body, field] of cases) {
      const res = await post(JSON.stringify(body));
      assert.equal(res.status, 400, field);
      const p = await problemOf(res);
      assert.ok(p.errors?.some((e) => e.path === field), `${field}: ${JSON.stringify(p)}`);
    }
    assert.equal(await eventRow(base.id), undefined);
  });

  it('handles a wrong content type without crashing (the signature covers the raw bytes)', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id);
    const res = await post(JSON.stringify(payload), { 'content-type': 'text/plain' });
    assert.ok([202, 415].includes(res.status), String(res.status));
    const form = await post('event=1&x=2', { 'content-type': 'application/x-www-form-urlencoded' });
    assert.equal(form.status, 400);
  });

  it('answers 413 for bodies over the limit, declared or streamed', async function () {
    const big = JSON.stringify({ event: { pad: 'x'.repeat(300 * 1024) } });
    assert.equal((await post(big)).status, 413);
    // Chunked, no Content-Length: the limit still holds.
    const chunks = new ReadableStream<Uint8Array>({
      start(ctl) {
        for (let i = 0; i < 40; i++) ctl.enqueue(new TextEncoder().encode('x'.repeat(10 * 1024)));
        ctl.close();
      },
    });
    const streamed = await fetch(`${http.url}/webhooks/pagerduty`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-pagerduty-signature': 'v1=00' },
      body: chunks,
      duplex: 'half',
    } as RequestInit);
    assert.equal(streamed.status, 413);
  });

  it('survives 10,000 levels of nesting: 400 or accepted and stored, never lost or crashed', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id);
    const deep = '['.repeat(10_000) + ']'.repeat(10_000);
    const raw = JSON.stringify(payload).replace('"custom_fields"', `"deep":${deep},"custom_fields"`);
    assert.ok(raw.length < 256 * 1024);
    const res = await post(raw);
    assert.ok([202, 400].includes(res.status), `${res.status}`);
    if (res.status === 202) {
      await eventually(() => eventRow(payload.event.id), 30_000, 'deeply nested event stored');
      assert.ok(await incidentRow(id));
    }
    // A deep body that is not even a valid envelope.
    const res2 = await post('{"event":' + '{"a":'.repeat(10_000) + '1' + '}'.repeat(10_001));
    assert.equal(res2.status, 400);
  });

  it('stores huge strings and unicode (emoji, RTL, combining marks) verbatim', async function () {
    const id = newIncidentId();
    const title = `💥 db down — \u202Egnp.exe\u202C عربى e\u0301 ${'ü'.repeat(50_000)} :end`;
    const payload = sampleFor('v3-incident.triggered-01.json', id, { data: { title } });
    const res = await post(JSON.stringify(payload));
    assert.equal(res.status, 202);
    const row = await eventually(() => incidentRow(id), 30_000, 'unicode incident stored');
    assert.equal(row.title, title);
    assert.equal((await eventRow(payload.event.id))?.incident_id, id);
  });

  // Postgres rejects U+0000 in text and jsonb. PagerDuty titles are user input, so one NUL must not make
  // the persist activity fail forever (the event would be lost and the workflow stuck retrying).
  it('does not lose an event whose strings contain NUL (U+0000)', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'nul:\u0000:end', description: 'line\u0000two' } });
    const res = await post(JSON.stringify(payload));
    assert.equal(res.status, 202);
    const ev = await eventually(() => eventRow(payload.event.id), 20_000, 'event with NUL stored');
    assert.equal(ev.incident_id, id);
    const row = await eventually(() => incidentRow(id), 20_000, 'incident with NUL stored');
    assert.match(row.title ?? '', /^nul:.?:end$/u);
  });

  it('rejects forged, stale and garbled signatures with 401, storing nothing', async function () {
    const id = newIncidentId();
    const payload = sampleFor('v3-incident.triggered-01.json', id);
    const raw = JSON.stringify(payload);
    const headers = [
      signBody(raw, 'a-secret-we-rotated-away'), // stale secret
      signBody(raw.replace('Test Incident', 'Test incident'), WEBHOOK_SECRET), // other bytes
      'v1=',
      'v0=' + signBody(raw, WEBHOOK_SECRET).slice(3),
      'v1=zz' + 'f'.repeat(62),
      `v1=${'0'.repeat(64)},`.repeat(100),
      "' OR 1=1 --",
    ];
    for (const h of headers) {
      const res = await post(raw, { 'x-pagerduty-signature': h });
      assert.equal(res.status, 401, h.slice(0, 40));
      await problemOf(res);
    }
    // A header beyond Node's header limit is refused by the HTTP server itself (431), still a clear 4xx.
    const huge = await post(raw, { 'x-pagerduty-signature': `v1=${'0'.repeat(64)},`.repeat(1000) });
    assert.ok([401, 431].includes(huge.status), String(huge.status));
    const none = await fetch(`${http.url}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: raw });
    assert.equal(none.status, 401);
    assert.equal(await eventRow(payload.event.id), undefined);
    assert.equal(await incidentRow(id), undefined);
  });
});
