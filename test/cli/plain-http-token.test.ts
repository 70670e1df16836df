import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { main, type Io } from '../../src/cli/index.js';
import { selfheal } from '../helpers/cli.js';

// The CLI sends the SRE's bearer token with every request: over plain http to a host that is not on this
// machine, anyone on the way read it. It is refused before any connection, DNS lookup included, unless
// the address is loopback (localhost, 127.0.0.0/8, ::1) or the user opts out (--insecure-http,
// SELFHEAL_INSECURE_HTTP=1).

const TOKEN = 'sh_token-not-for-the-wire';
const REFUSED = /^refusing to send the API token over plain http to (\S+): anyone on the way could read it\. Give an https:\/\/ SELFHEAL_URL \(--url\); plain http is for localhost, 127\.0\.0\.0\/8 and ::1 only\.\nOn a network you trust, --insecure-http \(or SELFHEAL_INSECURE_HTTP=1\) sends it anyway\.$/;

/** A local API answering every request with an empty list, recording the Authorization header of each. */
async function startApi(): Promise<{ port: number; seen: (string | undefined)[]; close: () => Promise<void> }> {
  const seen: (string | undefined)[] = [];
  const server: Server = createServer((req, res) => {
    seen.push(req.headers.authorization);
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [], nextCursor: null }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe('selfheal CLI: the token over plain http', function () {
  let api: Awaited<ReturnType<typeof startApi>>;
  before(async () => {
    api = await startApi();
  });
  after(async () => {
    await api.close();
  });
  beforeEach(() => {
    api.seen.length = 0;
  });

  it('http:// to a name that is not loopback: refused with exit 2 before any lookup (our error, not a DNS one)', async () => {
    const run = await selfheal(['rules', 'list'], { SELFHEAL_URL: 'http://selfheal.invalid', SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: undefined });
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr.trimEnd(), REFUSED);
    assert.equal(REFUSED.exec(run.stderr.trimEnd())?.[1], 'selfheal.invalid');
    assert.doesNotMatch(run.stderr, /ENOTFOUND|cannot reach|getaddrinfo/, 'before: exit 3, the name was looked up and the token would have been sent to whatever it resolved to');
    assert.ok(!run.stderr.includes(TOKEN));
  });

  // 0.0.0.0 is no loopback address, yet on Linux a connection to it reaches this machine's 127.0.0.1:
  // the API there proves that no connection was made, and that the opt-outs do reach it.
  it('http:// to an address that is not loopback: the API there sees nothing, unless --insecure-http or SELFHEAL_INSECURE_HTTP=1', async () => {
    const url = `http://0.0.0.0:${api.port}`;
    const refused = await selfheal(['rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: undefined });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr.trimEnd(), REFUSED);
    assert.deepEqual(api.seen, [], 'before: the request and the token were sent');

    const flag = await selfheal(['rules', 'list', '--insecure-http'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: undefined });
    assert.equal(flag.code, 0, flag.stderr);
    assert.deepEqual(api.seen, [`Bearer ${TOKEN}`]);

    const env = await selfheal(['rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: '1' });
    assert.equal(env.code, 0, env.stderr);
    assert.deepEqual(api.seen, [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });

  it('http:// to loopback keeps working: localhost and 127.0.0.1 get the token', async () => {
    for (const host of ['localhost', '127.0.0.1']) {
      const run = await selfheal(['rules', 'list'], { SELFHEAL_URL: `http://${host}:${api.port}`, SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: undefined });
      assert.equal(run.code, 0, `${host}: ${run.stderr}`);
    }
    assert.deepEqual(api.seen, [`Bearer ${TOKEN}`, `Bearer ${TOKEN}`]);
  });
});

describe('selfheal CLI: which addresses get the token over plain http (in process)', function () {
  const realFetch = globalThis.fetch;
  const asked: { url: string; authorization: string | null }[] = [];
  before(() => {
    globalThis.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      asked.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
      return new Response(JSON.stringify({ items: [], nextCursor: null }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as typeof fetch;
  });
  after(() => {
    globalThis.fetch = realFetch;
  });
  beforeEach(() => {
    asked.length = 0;
  });

  async function run(argv: string[], env: Record<string, string | undefined>) {
    const err: string[] = [];
    const io: Io = { out: () => undefined, err: (t) => err.push(t), env };
    return { code: await main(argv, io), stderr: err.join('\n') };
  }

  for (const url of ['http://localhost:8080', 'http://LOCALHOST', 'http://127.0.0.1:8080', 'http://127.8.9.10', 'http://[::1]:8080', 'http://[::ffff:127.0.0.1]', 'https://selfheal.invalid', 'https://10.0.0.5']) {
    it(`${url}: the token is sent`, async () => {
      const r = await run(['rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: TOKEN });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(asked.map((a) => a.authorization), [`Bearer ${TOKEN}`]);
    });
  }

  for (const url of ['http://selfheal.invalid', 'http://10.0.0.5:8080', 'http://0.0.0.0:8080', 'http://[::]:8080', 'http://[::2]', 'http://localhost.example.com', 'http://127.0.0.1.nip.io']) {
    it(`${url}: refused, nothing sent`, async () => {
      const r = await run(['rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: TOKEN });
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, REFUSED);
      assert.deepEqual(asked, []);
    });
  }

  it('without a token, plain http goes anywhere (there is nothing to steal)', async () => {
    const r = await run(['rules', 'list'], { SELFHEAL_URL: 'http://selfheal.invalid' });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(asked, [{ url: 'http://selfheal.invalid/api/rules?limit=500', authorization: null }]);
  });

  it('--insecure-http, --token and --url as flags; SELFHEAL_INSECURE_HTTP other than 1 is no opt-out', async () => {
    const flag = await run(['rules', 'list', '--insecure-http', '--url', 'http://10.0.0.5', '--token', TOKEN], {});
    assert.equal(flag.code, 0, flag.stderr);
    assert.deepEqual(asked.map((a) => [a.url, a.authorization]), [['http://10.0.0.5/api/rules?limit=500', `Bearer ${TOKEN}`]]);
    asked.length = 0;
    for (const value of ['0', 'yes', '']) {
      const r = await run(['rules', 'list'], { SELFHEAL_URL: 'http://10.0.0.5', SELFHEAL_TOKEN: TOKEN, SELFHEAL_INSECURE_HTTP: value });
      assert.equal(r.code, 2, `SELFHEAL_INSECURE_HTTP=${value}: ${r.stderr}`);
    }
    assert.deepEqual(asked, []);
  });
});
