import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfheal } from '../helpers/cli.js';

// Where the CLI's requests go, as the servers it reaches see them: the real CLI against local HTTP peers.
// The API behind a path (an ingress routing https://tools.corp/selfheal/) gets the token there, never at
// the host's root; a redirect is not followed with the request body to another address; the webhook's
// answer to `pagerduty ping` is read only up to a bound.

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
  body: string;
}

/** A local HTTP server recording each request (with its body) and answering with `handle`. */
async function startPeer(handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; seen: Seen[]; close: () => Promise<void> }> {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization, body: Buffer.concat(chunks).toString() });
      handle(req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('selfheal CLI: where its requests go', function () {
  const TOKEN = 'sh_token-the-peer-takes';
  const peers: { close: () => Promise<void> }[] = [];
  after(async function () {
    for (const p of peers) await p.close();
  });
  const peer = async (handle: Parameters<typeof startPeer>[0]) => {
    const p = await startPeer(handle);
    peers.push(p);
    return p;
  };

  it('keeps the path of SELFHEAL_URL: an API behind /selfheal/ gets the request and the token there', async function () {
    const api = await peer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [] }));
    });
    for (const base of [`${api.url}/selfheal/`, `${api.url}/selfheal`]) {
      api.seen.length = 0;
      const run = await selfheal(['rules', 'list', '--json'], { SELFHEAL_URL: base, SELFHEAL_TOKEN: TOKEN });
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        api.seen.map((s) => [s.method, s.path, s.authorization]),
        [['GET', '/selfheal/api/rules?limit=500', `Bearer ${TOKEN}`]],
        `before, the request (and the token) went to /api/rules at the host's root (${base})`,
      );
    }
  });

  // `new URL('//host/…', origin)` is another host: a SELFHEAL_URL whose path starts with `//` (a base joined
  // with one slash too many) sent the request, and the token, to the host its first segment named.
  it('a SELFHEAL_URL whose path starts with // still sends the request and the token to its own host only', async function () {
    const api = await peer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [] }));
    });
    const other = await peer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [] }));
    });
    const otherHost = new URL(other.url).host;
    await selfheal(['rules', 'list', '--json'], { SELFHEAL_URL: `${api.url}//${otherHost}/selfheal`, SELFHEAL_TOKEN: TOKEN });
    assert.deepEqual(other.seen, [], 'the other host got nothing (before: the request and the token)');
    assert.deepEqual(api.seen.map((s) => [s.path, s.authorization]), [[`//${otherHost}/selfheal/api/rules?limit=500`, `Bearer ${TOKEN}`]]);
  });

  // fetch refused it with an error repeating the URL, password included, onto the terminal.
  it('refuses a SELFHEAL_URL carrying a user or password (exit 2), and never prints them', async function () {
    const closed = await peer(() => undefined);
    const port = new URL(closed.url).port;
    await closed.close();
    const run = await selfheal(['rules', 'list'], { SELFHEAL_URL: `http://ops:hunter2-secret@127.0.0.1:${port}/`, SELFHEAL_TOKEN: TOKEN });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /SELFHEAL_URL \(--url\) must not carry a user or password/);
    assert.ok(!`${run.stdout}${run.stderr}`.includes('hunter2-secret'), run.stderr);
  });

  it('does not follow a redirect with the request body to another address: it says where it pointed and exits 3', async function () {
    const elsewhere = await peer((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{}');
    });
    // A Location whose path and query carry secrets (a Slack-style webhook path, a token): the message lands in
    // CI logs, so it names the origin only.
    const api = await peer((_req, res) => {
      res.writeHead(307, { location: `${elsewhere.url}/services/T1/B2/SECRET?token=abc` });
      res.end();
    });
    const run = await selfheal(['teams', 'create', 'payments'], { SELFHEAL_URL: api.url, SELFHEAL_TOKEN: TOKEN });
    assert.equal(run.code, 3, `${run.stdout}${run.stderr}`);
    assert.match(run.stderr, /answered 307, redirecting to .*redirects are not followed/);
    assert.ok(run.stderr.includes(`"${new URL(elsewhere.url).origin}" (path withheld)`), run.stderr);
    assert.ok(!run.stderr.includes('SECRET') && !run.stderr.includes('abc'), `the redirect's path or query was printed: ${run.stderr}`);
    assert.equal(run.stdout, '', 'nothing reported as created');
    assert.deepEqual(elsewhere.seen, [], 'the other address received nothing: before, the body was sent there again');
    assert.equal(api.seen.length, 1);
  });

  it("`pagerduty ping` reads a bounded part of the webhook's answer: an answer that never ends does not hold it", async function () {
    const hook = await peer((_req, res) => {
      res.writeHead(202, { 'content-type': 'application/json' });
      // 1 MiB now and never an end: before, the CLI read until its 15 s timeout and then failed.
      res.write(`{"pad":"${'x'.repeat(1024 * 1024)}`);
    });
    const run = await selfheal(['pagerduty', 'ping', '--url', `${hook.url}/webhooks/pagerduty`, '--secret', 'whsec-test'], {}, 60_000);
    assert.equal(run.code, 0, `${run.stdout}${run.stderr}`);
    assert.doesNotMatch(run.stderr, /cannot reach/);
    assert.equal(hook.seen.length, 1, 'one ping sent');
  });
});
