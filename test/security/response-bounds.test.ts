// Answers are bounded too: a tracker (Jira, GitHub, EWM: operator configuration, but reached over the
// network and possibly compromised) that answers with an endless body cannot fill the worker's memory;
// before, `res.text()` read all of it. Rule-directed calls were already cut at 1 MiB by the egress
// transport (src/executors/egress.ts), and a webhook's answer is not read at all (its status-only mode,
// exercised here through the worker's own integrations); the other calls here go through plain fetch, so
// the second wall in src/executors/http.ts is what holds. Reading stops at the limit and the connection is dropped; the
// peer counts how much it managed to send.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpCallError } from '../../src/executors/errors.js';
import { httpRequest } from '../../src/executors/http.js';
import { loadConfig } from '../../src/config.js';
import { sendSlack } from '../../src/executors/notify.js';
import { createIntegrations } from '../../src/integrations.js';
import { createGitHubProvider } from '../../src/executors/work-items.js';
import { createPagerDutyClient, PagerDutyApiError } from '../../src/pagerduty/rest-client.js';
import { selfheal } from '../helpers/cli.js';

const CHUNK = Buffer.alloc(64 * 1024, 'a');
const ENDLESS = 160 * 1024 * 1024;

interface Flood {
  url: string;
  /** Bytes of body the peer wrote before the client hung up (or all of ENDLESS). */
  sent(): Promise<number>;
  close(): Promise<void>;
}

/** A peer answering `status` with up to 160 MiB of body, written as fast as the client reads. */
async function startFlood(status: number, contentType = 'application/json'): Promise<Flood> {
  let done: (n: number) => void = () => undefined;
  const finished = new Promise<number>((resolve) => (done = resolve));
  const server: Server = createServer((req, res) => {
    req.resume();
    res.writeHead(status, { 'content-type': contentType });
    let written = 0;
    const pump = (): void => {
      while (written < ENDLESS) {
        written += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      res.end();
      done(written);
    };
    res.on('close', () => done(written));
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    sent: () => finished,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What reached the socket at most: the limit plus the kernel's and the client's buffers. */
const SLACK = 64 * 1024 * 1024;

describe('security: answers of peers are read only up to a limit', function () {
  this.timeout(120_000);
  const floods: Flood[] = [];
  const flood = async (status: number) => {
    const f = await startFlood(status);
    floods.push(f);
    return f;
  };
  after(async () => Promise.all(floods.map((f) => f.close())));

  // notify.webhook goes through the transport the worker uses (src/integrations.ts: the egress guard, in
  // its status-only mode), with loopback allowed as an operator would allow a receiver's address. Before,
  // that transport read the whole answer: past 1 MiB (or 15 s) a delivered webhook was a retryable failure
  // and was sent again.
  const workerWebhook = () => createIntegrations(loadConfig({ ACTION_EGRESS_ALLOW: '127.0.0.1/32' })).webhook;

  it('notify.webhook does not read the answer at all: delivered on 2xx, the flood cut short', async function () {
    const f = await flood(200);
    await workerWebhook()({ url: `${f.url}/hook`, body: '{"hello":"world"}', idempotencyKey: 'k1' });
    assert.ok((await f.sent()) < SLACK, `the peer sent ${await f.sent()} bytes`);
  });

  it('notify.webhook: a receiver answering 200 with 2 MiB, or with a body that never ends, has the webhook delivered, once', async function () {
    let deliveries = 0;
    const server = createServer((req, res) => {
      req.resume();
      deliveries++;
      res.writeHead(200, { 'content-type': 'text/plain' });
      if (req.url === '/big') res.end(Buffer.alloc(2 * 1024 * 1024, 'a'));
      else res.write('still answering…'); // and never ends
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await workerWebhook()({ url: `http://127.0.0.1:${port}/big`, body: '{}', idempotencyKey: 'k2' });
      await workerWebhook()({ url: `http://127.0.0.1:${port}/endless`, body: '{}', idempotencyKey: 'k3' });
      assert.equal(deliveries, 2);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('notify.webhook: an error answer is a status and a fixed reason, the flood cut short', async function () {
    const f = await flood(500);
    await assert.rejects(workerWebhook()({ url: `${f.url}/hook`, body: '{}', idempotencyKey: 'k4' }), (err: Error) => err instanceof HttpCallError && err.status === 500 && !/aaaa/.test(err.message));
    assert.ok((await f.sent()) < SLACK, `the peer sent ${await f.sent()} bytes`);
  });

  it('the worker transport still refuses a webhook to a non-public address it was not allowed (status-only changes nothing there)', async function () {
    const f = await flood(200);
    const refused = createIntegrations(loadConfig({})).webhook({ url: `${f.url}/hook`, body: '{}', idempotencyKey: 'k5' });
    await assert.rejects(refused, (err: Error) => err instanceof HttpCallError && /loopback/.test(String((err.cause as Error | undefined)?.message ?? err.message)));
  });

  it('a Slack hook answering megabytes is refused for good after 64 KiB', async function () {
    const f = await flood(200);
    await assert.rejects(sendSlack({ webhookUrl: `${f.url}/services/T/B/x`, text: 'hi' }, { fetch: globalThis.fetch }), (err: Error) => err instanceof HttpCallError && !err.retryable && /larger than 65536 bytes/.test(err.message));
    assert.ok((await f.sent()) < SLACK, `the peer sent ${await f.sent()} bytes`);
  });

  it('a tracker answering an endless list is a permanent error, not an out-of-memory worker', async function () {
    const f = await flood(200);
    const gh = createGitHubProvider({ apiUrl: f.url, owner: 'o', repo: 'r', tokenRef: 'env:T' }, { env: { T: 't' }, fetch: globalThis.fetch });
    await assert.rejects(gh.findByIdempotencyKey('k'), (err: Error) => err instanceof HttpCallError && !err.retryable && /larger than \d+ bytes/.test(err.message));
    assert.ok((await f.sent()) < SLACK + 16 * 1024 * 1024, `the peer sent ${await f.sent()} bytes`);
  });

  it('PagerDuty answering an endless page is a permanent error after 8 MiB', async function () {
    const f = await flood(200);
    const client = createPagerDutyClient({ baseUrl: f.url, token: 't', fromEmail: 'a@example.com' });
    await assert.rejects(client.getIncident('Q1'), (err: Error) => err instanceof PagerDutyApiError && !err.retryable && /larger than 8388608 bytes/.test(err.message));
    assert.ok((await f.sent()) < SLACK + 8 * 1024 * 1024, `the peer sent ${await f.sent()} bytes`);
  });

  it('the CLI refuses a server answering an endless list after 64 MiB: exit 3, the flood cut short', async function () {
    const f = await flood(200);
    const run = await selfheal(['rules', 'list'], { SELFHEAL_URL: f.url, SELFHEAL_TOKEN: 'shk_test' });
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /the answer is larger than 64 MiB/);
    assert.equal(run.stdout, '', 'nothing of the flood is printed');
    assert.ok((await f.sent()) < SLACK + 64 * 1024 * 1024, `the peer sent ${await f.sent()} bytes`);
  });

  it('a body cut off after the status line is a retryable error naming the call, not a crash', async function () {
    const server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
      res.write('{"partial":');
      setImmediate(() => res.socket?.destroy());
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      await assert.rejects(httpRequest({ method: 'GET', url: `http://127.0.0.1:${port}/`, label: 'tracker' }), (err: Error) => err instanceof HttpCallError && err.retryable && /^tracker: HTTP 200, answer cut off/.test(err.message));
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
