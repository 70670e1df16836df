import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PagerDutyApiError, createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { startHttpPeer, type HttpPeer } from '../helpers/http-recorder.js';
import { startPagerDutyPeer } from '../helpers/pagerduty-peer.js';
import type { PagerDutyPeer } from '../helpers/pagerduty-peer.js';

const TOKEN = 'u+test-token-abc123';
const FROM = 'selfheal@example.com';

const realAlerts = (
  JSON.parse(
    readFileSync(new URL('../fixtures/pagerduty/samples/rest-GET-incident-alerts-response-alertmanager-real.json', import.meta.url), 'utf8'),
  ) as { alerts: Record<string, unknown>[] }
).alerts;

async function rejection(promise: Promise<unknown>): Promise<PagerDutyApiError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PagerDutyApiError, `expected PagerDutyApiError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

describe('PagerDuty REST client against the OpenAPI-checked peer', () => {
  let peer: PagerDutyPeer;
  const client = () => createPagerDutyClient({ baseUrl: peer.url, token: TOKEN, fromEmail: FROM });

  beforeEach(async () => {
    peer = await startPagerDutyPeer({ token: TOKEN });
  });
  afterEach(async () => {
    await peer.close();
  });

  it('fetches an incident’s real alerts', async () => {
    peer.seedAlerts('Q0TUTXDJ0P1RRT', realAlerts);
    const alerts = await client().listIncidentAlerts('Q0TUTXDJ0P1RRT');
    assert.equal(alerts.length, 1);
    assert.equal(alerts[0]?.id, 'Q1RPVEX3LK98BU');
    assert.equal((alerts[0]?.['body'] as { details: { environment: string } }).details.environment, 'prod-west');
    const [request] = peer.requests;
    assert.equal(request?.status, 200);
    assert.equal(request?.operationId, 'listIncidentAlerts');
    assert.equal(request?.headers['authorization'], `Token token=${TOKEN}`);
    assert.equal(request?.headers['accept'], 'application/json');
    assert.equal(request?.headers['from'], undefined, 'reads carry no From');
  });

  it('follows pagination until `more` is false', async () => {
    const many = Array.from({ length: 230 }, (_, i) => ({ ...realAlerts[0], id: `A${String(i).padStart(4, '0')}` }));
    peer.seedAlerts('PINC1', many);
    const alerts = await client().listIncidentAlerts('PINC1');
    assert.equal(alerts.length, 230);
    assert.deepEqual(alerts.map((a) => a.id), many.map((a) => a.id));
    assert.deepEqual(peer.requests.map((r) => r.query['offset']), ['0', '100', '200']);
    assert.ok(peer.requests.every((r) => r.status === 200));
  });

  it('stops at the page cap', async () => {
    const smallPages = await startPagerDutyPeer({ token: TOKEN, maxPageSize: 10 });
    try {
      smallPages.seedAlerts('PBIG', Array.from({ length: 50 }, (_, i) => ({ id: `A${i}`, type: 'alert' })));
      const capped = createPagerDutyClient({ baseUrl: smallPages.url, token: TOKEN, fromEmail: FROM, maxPages: 2 });
      const alerts = await capped.listIncidentAlerts('PBIG');
      assert.deepEqual(alerts.map((a) => a.id), Array.from({ length: 20 }, (_, i) => `A${i}`));
      assert.deepEqual(smallPages.requests.map((r) => r.query['offset']), ['0', '10']);
    } finally {
      await smallPages.close();
    }
  });

  it('an incident without alerts gives an empty list', async () => {
    assert.deepEqual(await client().listIncidentAlerts('PNONE'), []);
  });

  it('posts a note that the OpenAPI schema accepts', async () => {
    const note = await client().addNote('PINC1', 'Self-healing ran restart-nginx on web-1: exit 0');
    assert.equal(note.content, 'Self-healing ran restart-nginx on web-1: exit 0');
    assert.match(note.id, /^N/);
    const [request] = peer.requests;
    assert.equal(request?.method, 'POST');
    assert.equal(request?.path, '/incidents/PINC1/notes');
    assert.equal(request?.status, 200, request?.errors.join('; '));
    assert.deepEqual(request?.body, { note: { content: 'Self-healing ran restart-nginx on web-1: exit 0' } });
    assert.equal(request?.headers['from'], FROM);
    assert.equal(request?.headers['content-type'], 'application/json');
    assert.deepEqual(peer.notes('PINC1').map((n) => [n.content, n.from]), [['Self-healing ran restart-nginx on web-1: exit 0', FROM]]);
  });

  it('acknowledges, re-prioritises, escalates and resolves an incident', async () => {
    const pd = client();
    assert.equal((await pd.updateIncident('PINC2', { status: 'acknowledged' }))['status'], 'acknowledged');
    await pd.updateIncident('PINC2', { priorityId: 'PSO75BM', escalationLevel: 2 });
    const resolved = await pd.updateIncident('PINC2', { status: 'resolved', resolution: 'disk cleaned by self-healing' });
    assert.equal(resolved['status'], 'resolved');
    assert.deepEqual(peer.incident('PINC2'), {
      id: 'PINC2',
      status: 'resolved',
      priority: { id: 'PSO75BM' },
      escalation_level: 2,
      resolution: 'disk cleaned by self-healing',
    });
    assert.deepEqual(peer.requests[1]?.body, {
      incident: { type: 'incident_reference', priority: { id: 'PSO75BM', type: 'priority_reference' }, escalation_level: 2 },
    });
    assert.ok(peer.requests.every((r) => r.method === 'PUT' && r.status === 200 && r.headers['from'] === FROM));
  });

  it('creates, lists and deletes a webhook subscription like the PagerDuty docs sample', async () => {
    const sample = JSON.parse(
      readFileSync(new URL('../fixtures/pagerduty/samples/api-create-webhook-subscription-request-pdDocs.json', import.meta.url), 'utf8'),
    ) as { webhook_subscription: { description: string; events: string[]; delivery_method: { url: string; custom_headers: { name: string; value: string }[] }; filter: { id: string } } };
    const expected = sample.webhook_subscription;
    const pd = client();
    const created = await pd.createWebhookSubscription({
      url: expected.delivery_method.url,
      events: expected.events,
      filter: { type: 'service_reference', id: expected.filter.id },
      description: expected.description,
      customHeaders: expected.delivery_method.custom_headers,
    });
    // Same body as PagerDuty's own example.
    assert.deepEqual(peer.requests[0]?.body, sample);
    assert.equal(peer.requests[0]?.status, 200, peer.requests[0]?.errors.join('; '));
    assert.ok(created.delivery_method?.secret, 'the signing secret is returned on create');

    const listed = await pd.listWebhookSubscriptions({ type: 'service', id: expected.filter.id });
    assert.deepEqual(listed.map((s) => s.id), [created.id]);
    assert.equal(listed[0]?.delivery_method?.secret, null);
    assert.deepEqual(await pd.listWebhookSubscriptions({ type: 'team', id: 'PTEAM' }), []);

    await pd.deleteWebhookSubscription(created.id);
    assert.deepEqual(await pd.listWebhookSubscriptions(), []);
    const again = await rejection(pd.deleteWebhookSubscription(created.id));
    assert.equal(again.status, 404);
    assert.equal(again.retryable, false);
  });

  it('a bad token is a non-retryable error that does not leak the token', async () => {
    const bad = createPagerDutyClient({ baseUrl: peer.url, token: 'wrong-token-SECRET', fromEmail: FROM });
    const error = await rejection(bad.addNote('PINC1', 'hello'));
    assert.equal(error.status, 401);
    assert.equal(error.retryable, false);
    assert.doesNotMatch(error.message, /wrong-token-SECRET/);
    assert.doesNotMatch(JSON.stringify(error.details), /wrong-token-SECRET/);
    assert.match(error.message, /401/);
    assert.deepEqual(peer.notes('PINC1'), []);
  });

  it('a 500 or 429 is retryable; the next attempt succeeds', async () => {
    peer.failNext(500);
    const error = await rejection(client().addNote('PINC1', 'x'));
    assert.equal(error.status, 500);
    assert.equal(error.retryable, true);
    assert.doesNotMatch(error.message, new RegExp(TOKEN.replace('+', '\\+')));

    peer.failNext(429);
    const limited = await rejection(client().listIncidentAlerts('PINC1'));
    assert.equal(limited.status, 429);
    assert.equal(limited.retryable, true);
    assert.equal(limited.details.retryAfterMs, 1000);

    await client().addNote('PINC1', 'x');
    assert.equal(peer.notes('PINC1').length, 1);
  });

  it('a request the schema rejects is a non-retryable 400 carrying the reasons', async () => {
    const noFrom = createPagerDutyClient({ baseUrl: peer.url, token: TOKEN, fromEmail: 'not-an-email' });
    const error = await rejection(noFrom.addNote('PINC1', 'x'));
    assert.equal(error.status, 400);
    assert.equal(error.retryable, false);
    assert.match(error.message, /header From must match format "email"/);
  });

  it('a network failure is retryable', async () => {
    const address = peer.url;
    await peer.close();
    const error = await rejection(createPagerDutyClient({ baseUrl: address, token: TOKEN, fromEmail: FROM }).listIncidentAlerts('P1'));
    assert.equal(error.status, undefined);
    assert.equal(error.retryable, true);
    assert.doesNotMatch(error.message, new RegExp(TOKEN.replace('+', '\\+')));
    peer = await startPagerDutyPeer({ token: TOKEN });
  });

  it('a hung server times out as a retryable error', async () => {
    const hung = createServer(() => undefined);
    await new Promise<void>((resolve) => hung.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = hung.address() as AddressInfo;
      const slow = createPagerDutyClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN, fromEmail: FROM, timeoutMs: 200 });
      const error = await rejection(slow.listIncidentAlerts('P1'));
      assert.equal(error.retryable, true);
      assert.match(error.message, /timed out/);
    } finally {
      hung.closeAllConnections();
      hung.close();
    }
  });

  // A write inside an action's attempt is bounded by the attempt's deadline (its signal), which follows the
  // action's `timeoutSeconds`. A fixed 15 s on top cut a PagerDuty that answered in 20 s with 30 s left: an
  // unanswered write, looked up and sent again by the next attempt.
  it("a write given the attempt's deadline waits for PagerDuty until then, not 15 s; past it, it is cut", async function () {
    this.timeout(40_000);
    const answers: number[] = [];
    const timers: NodeJS.Timeout[] = [];
    const slow = createServer((req, res) => {
      req.resume();
      const at = Date.now();
      timers.push(setTimeout(() => {
        if (res.destroyed) return;
        answers.push(Date.now() - at);
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ note: { id: 'PNOTE1', content: 'x' } }));
      }, 20_000));
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = slow.address() as AddressInfo;
      const pd = createPagerDutyClient({ baseUrl: `http://127.0.0.1:${port}`, token: TOKEN, fromEmail: FROM });
      const note = await pd.addNote('PINC1', 'x', { signal: AbortSignal.timeout(30_000) });
      assert.equal(note.id, 'PNOTE1');
      assert.equal(answers.length, 1);

      const started = Date.now();
      const error = await rejection(pd.addNote('PINC1', 'x', { signal: AbortSignal.timeout(2_000) }));
      assert.match(error.message, /timed out after the attempt deadline/);
      assert.ok(Date.now() - started < 5_000, 'cut at the deadline');
    } finally {
      timers.forEach(clearTimeout);
      slow.closeAllConnections();
      slow.close();
    }
  });
});

// fetch follows a 3xx by default: a redirect from PAGERDUTY_API_URL (or a proxy in between) sent the request,
// its body and From, on to wherever it pointed, and on the same origin the Authorization header too.
describe('PagerDuty REST client and redirects', () => {
  let pagerduty: PagerDutyPeer;
  let front: HttpPeer | undefined;
  beforeEach(async () => {
    pagerduty = await startPagerDutyPeer({ token: TOKEN });
  });
  afterEach(async () => {
    await front?.close();
    front = undefined;
    await pagerduty.close();
  });

  it('a 307 to another address is not followed: that address receives nothing, the call fails naming the redirect', async () => {
    front = await startHttpPeer([{ method: 'POST', path: /^\/incidents\//, handle: (req) => ({ status: 307, headers: { location: `${pagerduty.url}${req.path}` } }) }]);
    const error = await rejection(createPagerDutyClient({ baseUrl: front.url, token: TOKEN, fromEmail: FROM }).addNote('PINC1', 'restarted nginx'));
    assert.deepEqual(pagerduty.requests, [], 'the other address got nothing (before: the note, From included)');
    assert.equal(front.requests.length, 1);
    assert.equal(error.status, 307);
    assert.equal(error.retryable, false);
    assert.equal(error.message, `PagerDuty API POST /incidents/PINC1/notes answered 307, redirecting to "${pagerduty.url}" (path withheld): redirects are not followed, so the write was not made; set PAGERDUTY_API_URL to the address that answers`);
    assert.doesNotMatch(error.message, new RegExp(TOKEN.replace('+', '\\+')));
  });

  it('a redirect on the same origin is not followed either: the token is sent once, to the path asked', async () => {
    front = await startHttpPeer([
      { method: 'GET', path: '/incidents/PINC1', handle: () => ({ status: 308, headers: { location: '/moved/incidents/PINC1' } }) },
      { method: 'GET', path: '/moved/incidents/PINC1', handle: () => ({ status: 200, json: { incident: { id: 'PINC1', status: 'triggered' } } }) },
    ]);
    const error = await rejection(createPagerDutyClient({ baseUrl: front.url, token: TOKEN, fromEmail: FROM }).getIncident('PINC1'));
    assert.deepEqual(front.requests.map((r) => [r.path, r.headers['authorization']]), [['/incidents/PINC1', `Token token=${TOKEN}`]], 'before: the token went to /moved/… as well');
    assert.equal(error.status, 308);
    // The Location is named resolved against the request's address, as its origin only.
    assert.ok(error.message.startsWith(`PagerDuty API GET /incidents/PINC1 answered 308, redirecting to "${front.url}" (path withheld): redirects are not followed`), error.message);
  });
});

describe('PagerDuty peer', () => {
  let peer: PagerDutyPeer;
  beforeEach(async () => {
    peer = await startPagerDutyPeer({ token: TOKEN });
  });
  afterEach(async () => {
    await peer.close();
  });

  const headers = { Authorization: `Token token=${TOKEN}`, Accept: 'application/json', 'Content-Type': 'application/json', From: FROM };

  it('rejects bodies that break the official schema, naming the fields', async () => {
    const res = await fetch(`${peer.url}/incidents/P1`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ incident: { type: 'incident', status: 'snoozed', escalation_level: '2' } }),
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { errors: string[] } };
    assert.ok(body.error.errors.some((e) => e.includes('body/incident/status')));
    assert.ok(body.error.errors.some((e) => e.includes('body/incident/escalation_level')));
    assert.equal(peer.incident('P1'), undefined);
  });

  it('requires From on writes and Content-Type where the operation declares it', async () => {
    const { From: _from, ...noFrom } = headers;
    const res = await fetch(`${peer.url}/incidents/P1/notes`, { method: 'POST', headers: noFrom, body: JSON.stringify({ note: { content: 'x' } }) });
    assert.equal(res.status, 400);
    assert.deepEqual(peer.requests[0]?.errors, ['header From is required']);
    const { 'Content-Type': _ct, ...noType } = headers;
    const get = await fetch(`${peer.url}/incidents/P1/alerts`, { headers: noType });
    assert.equal(get.status, 400);
  });

  it('rejects unknown query parameters and unknown routes', async () => {
    assert.equal((await fetch(`${peer.url}/incidents/P1/alerts?limt=5`, { headers })).status, 400);
    assert.equal((await fetch(`${peer.url}/incidents/P1/frobnicate`, { headers })).status, 404);
  });
});
