// The API process (src/server.ts) stopped with SIGTERM, as Kubernetes and docker stop it, while requests are
// in flight: they get their answers, new connections are refused at once, idle keep-alive connections are
// closed at once, and a request that never finishes is cut after the drain bound so the process still exits.
//
// "In flight" is made deterministic with `Expect: 100-continue`: Node answers `100 Continue` only once it has
// parsed the request and handed it to the app, so when the client sees it the request is being handled; the
// client then holds the body back until the test lets it go.
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { API_DRAIN_SECONDS } from '../../src/server.js';
import { signBody } from '../../src/pagerduty/signature.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, SAMPLE_HISTORY_DAYS, WEBHOOK_SECRET } from '../helpers/stack.js';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A POST whose headers go out now and whose body goes out when `send()` is called. */
interface HeldRequest {
  /** Resolves when the server answered 100 Continue: the request is in the app's hands. */
  continued: Promise<void>;
  send(): void;
  /** The answer, or the error the connection ended with. */
  answer: Promise<Answer>;
  socketClosed: Promise<void>;
}

function heldPost(port: number, path: string, body: string, headers: Record<string, string>, agent: http.Agent): HeldRequest {
  let continued!: () => void;
  const continuedP = new Promise<void>((r) => (continued = r));
  let socketClosed!: () => void;
  const socketClosedP = new Promise<void>((r) => (socketClosed = r));
  const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)), expect: '100-continue' } });
  req.on('socket', (s) => s.once('close', () => socketClosed()));
  req.on('continue', () => continued());
  const answer = new Promise<Answer>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      res.on('error', reject);
    });
    req.on('error', reject);
  });
  answer.catch(() => undefined); // awaited later; a cut connection is an outcome the test checks
  req.flushHeaders();
  return { continued: continuedP, send: () => req.end(body), answer, socketClosed: socketClosedP };
}

/** A raw keep-alive connection that made one request and now sits idle. */
async function idleKeepAlive(port: number): Promise<{ closed: Promise<void>; isClosed(): boolean }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  let closed = false;
  const closedP = new Promise<void>((r) => socket.once('close', () => ((closed = true), r())));
  socket.on('error', () => undefined);
  await new Promise<void>((r) => socket.once('connect', () => r()));
  let got = '';
  const answered = new Promise<void>((r) => socket.on('data', (d: Buffer) => ((got += d.toString()), /\r\n\r\n[\s\S]*"ok"/.test(got) && r())));
  socket.write('GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n');
  await answered;
  assert.doesNotMatch(got, /connection: close/i, 'the connection is kept alive before the stop');
  return { closed: closedP, isClosed: () => closed };
}

function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = net.connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(undefined);
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

const exited = (api: ChildRoot) =>
  new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    const p = api.process;
    if (p.exitCode !== null || p.signalCode !== null) resolve({ code: p.exitCode, signal: p.signalCode });
    else p.once('exit', (code, signal) => resolve({ code, signal }));
  });

describe('fault: the API stopped with SIGTERM while requests are in flight', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let proxy: TcpProxy;
  let api: ChildRoot;
  let port: number;
  let agent: http.Agent;

  const signedWebhook = (incidentId: string) => {
    const raw = JSON.stringify(sampleFor('v3-incident.triggered-01.json', incidentId));
    return { raw, headers: { 'content-type': 'application/json', 'x-pagerduty-signature': signBody(raw, WEBHOOK_SECRET) } };
  };

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
  });

  beforeEach(async function () {
    const [host, tport] = temporal.address.split(':');
    proxy = await startTcpProxy(host!, Number(tport));
    api = startChildRoot('src/server.ts', {
      PORT: '0',
      HOST: '127.0.0.1',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: `127.0.0.1:${proxy.port}`,
      TEMPORAL_TASK_QUEUE: `shutdown-${Date.now()}`,
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      SELFHEAL_RETENTION_DAYS: SAMPLE_HISTORY_DAYS,
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
    });
    await api.waitFor(/"msg":"API listening"/);
    port = Number(/"url":"http:\/\/localhost:(\d+)"/.exec(api.output())![1]);
    agent = new http.Agent({ keepAlive: true });
    // One delivery first, so the lazy Temporal connection is made before anything is stalled.
    const warm = signedWebhook(newIncidentId());
    const res = await fetch(`http://127.0.0.1:${port}/webhooks/pagerduty`, { method: 'POST', headers: warm.headers, body: warm.raw });
    assert.equal(res.status, 202, await res.text());
  });

  afterEach(async function () {
    proxy.resume();
    await api?.stop();
    agent?.destroy();
    await proxy?.close();
  });

  it('answers the request in flight, refuses new connections and closes idle ones at once, then exits 0', async function () {
    const idle = await idleKeepAlive(port);
    const incidentId = newIncidentId();
    const { raw, headers } = signedWebhook(incidentId);
    const held = heldPost(port, '/webhooks/pagerduty', raw, headers, agent);
    await held.continued;

    const stopped = exited(api);
    api.process.kill('SIGTERM');
    await api.waitFor(/"msg":"shutting down"/);
    assert.equal(await connectError(port), 'ECONNREFUSED', 'a new connection is refused once the API stops');
    await eventually(async () => idle.isClosed(), 30_000, 'the idle keep-alive connection to be closed');
    // The request in flight is still waiting for its body, and its connection is open.
    assert.equal(api.process.exitCode, null, 'the process waits for the request in flight');

    held.send();
    const answer = await held.answer;
    assert.equal(answer.status, 202, answer.body);
    assert.equal((JSON.parse(answer.body) as { incidentId: string }).incidentId, incidentId);
    assert.equal(answer.headers.connection, 'close', 'the answer closes its keep-alive connection');
    await held.socketClosed;
    // Accepted means started in Temporal: the incident is not lost with the process.
    await temporal.client.workflow.getHandle(incidentWorkflowId(incidentId)).describe();

    assert.deepEqual(await stopped, { code: 0, signal: null });
    assert.doesNotMatch(api.output(), /still in flight after the drain bound/);
  });

  it('a webhook waiting on a stalled Temporal at SIGTERM still gets its answer', async function () {
    const incidentId = newIncidentId();
    const { raw, headers } = signedWebhook(incidentId);
    proxy.stall();
    const held = heldPost(port, '/webhooks/pagerduty', raw, headers, agent);
    await held.continued;
    held.send();
    // The body is sent: the handler goes on to signalWithStart, which waits on the stalled Temporal.
    const stopped = exited(api);
    api.process.kill('SIGTERM');
    await api.waitFor(/"msg":"shutting down"/);
    assert.equal(await connectError(port), 'ECONNREFUSED');
    proxy.resume();

    const answer = await held.answer;
    // 202 when Temporal answered within the webhook's 4-s bound, else 503 (PagerDuty retries): an answer
    // either way, never a cut connection (before, the stop closed every connection at once).
    assert.ok([202, 503].includes(answer.status), `${answer.status} ${answer.body}`);
    if (answer.status === 202) await temporal.client.workflow.getHandle(incidentWorkflowId(incidentId)).describe();
    else assert.match(answer.body, /PagerDuty will retry/);
    assert.deepEqual(await stopped, { code: 0, signal: null });
  });

  it(`a request that never finishes is cut after the drain bound (${API_DRAIN_SECONDS} s) and the process exits`, async function () {
    const held = heldPost(port, '/webhooks/pagerduty', '{}', { 'content-type': 'application/json' }, agent);
    await held.continued;
    const stopped = exited(api);
    api.process.kill('SIGTERM');
    // The body never comes. The process must not wait for it forever.
    const { code, signal } = await stopped;
    assert.deepEqual({ code, signal }, { code: 0, signal: null });
    assert.match(api.output(), /"msg":"API stopping: requests still in flight after the drain bound; closing their connections"/);
    await assert.rejects(held.answer, /socket hang up|ECONNRESET/);
  });
});
