import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfheal } from '../helpers/cli.js';

// A token that a header cannot carry (a line break inside it: a token file of two lines read with
// `$(cat token)`, a secret pasted with a wrapped line; a typographic character such as U+2019) made fetch
// throw before any connection, and the CLI printed fetch's message as the reason it "cannot reach" the
// server: for the line break, `Headers.append: "Bearer <the whole token>" is an invalid header value.`, on
// stderr, in the CI log. Multi-line secrets are the ones CI masking handles worst (GitLab refuses to mask
// them at all). The token is now checked before it is sent, and refused (exit 2) naming where it came from,
// never showing it. Found in review (failing before: the whole token on stderr).
describe('selfheal CLI: a token a header cannot carry', function () {
  this.timeout(60_000);
  let server: Server;
  let url: string;
  const seen: string[] = [];

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [], nextCursor: null, webhook_subscriptions: [], more: false }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });
  beforeEach(() => {
    seen.length = 0;
  });

  it('a token with a line break in it fails without its text on stdout or stderr', async () => {
    const token = 'sht_live_SECRETFIRSTLINE0123456789\nsht_live_SECRETSECONDLINE';
    const r = await selfheal(['rules', 'list'], { SELFHEAL_URL: 'http://127.0.0.1:65000', SELFHEAL_TOKEN: token }, 30_000);
    assert.notEqual(r.code, 0);
    for (const part of ['SECRETFIRSTLINE', 'SECRETSECONDLINE']) {
      assert.ok(!`${r.stdout}${r.stderr}`.includes(part), `the token's ${part} is printed: ${r.stderr.trim()}`);
    }
    assert.equal(r.code, 2, r.stderr);
    assert.equal(
      r.stderr.trim(),
      'the token given by SELFHEAL_TOKEN holds a line break, which an HTTP header cannot carry; nothing was sent. Give the token alone, on one line, as it was issued (the token is not shown here)',
    );
  });

  it('--token with a typographic quote is refused naming --token, and the server sees no request', async () => {
    const r = await selfheal(['--token', 'sht_live_SECRET\u2019QUOTED', 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^the token given by --token holds a character that is not ASCII \(U\+2019\), which an HTTP header cannot carry; nothing was sent/m);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('SECRET'), r.stderr);
    assert.deepEqual(seen, []);
  });

  it('a PagerDuty token with a line break is refused alike, naming PAGERDUTY_API_TOKEN, and PagerDuty sees no request', async () => {
    const r = await selfheal(['pagerduty', 'list'], { PAGERDUTY_API_URL: url, PAGERDUTY_API_TOKEN: 'pd_SECRETFIRST\npd_SECRETSECOND' }, 30_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /^the token given by PAGERDUTY_API_TOKEN holds a line break, which an HTTP header cannot carry; nothing was sent/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('SECRET'), r.stderr);
    assert.deepEqual(seen, []);
  });
});
