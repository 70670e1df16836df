import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfheal } from '../helpers/cli.js';

// The server runs at most SELFHEAL_BACKTEST_MAX_CONCURRENT backtests at once and answers one more 503
// `limit: backtest-concurrency` with Retry-After, having done nothing (test/api/backtest-concurrency.test.ts).
// The CLI waits that out and sends the request again, as it does a 429 of its request budget; reported at
// once, `rules apply` counted the rule as "could not be backtested" whenever two other backtests ran. Any
// other 503 is reported at once. A scripted server answers as the API does.
describe('selfheal CLI: the server busy with other backtests', function () {
  this.timeout(60_000);
  let server: Server;
  let url: string;
  /** How many 503s the next requests get, and of which kind; every request seen. */
  let busyLeft = 0;
  let limit: string | undefined;
  const seen: string[] = [];

  before(async function () {
    server = createServer((req, res) => {
      req.resume();
      seen.push(`${req.method} ${req.url}`);
      if (busyLeft > 0) {
        busyLeft--;
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '1' });
        res.end(JSON.stringify({ type: 'about:blank', title: 'Service Unavailable', status: 503, detail: '2 backtests are already running on this server', ...(limit ? { limit } : {}) }));
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ items: [], nextCursor: null }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('a 503 of the backtest limit is waited out (Retry-After) and sent again; another 503 is reported at once', async function () {
    seen.length = 0;
    busyLeft = 2;
    limit = 'backtest-concurrency';
    const waited = await selfheal(['jobs', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: 't' }, 30_000);
    assert.equal(waited.code, 0, waited.stderr);
    assert.deepEqual(seen, ['GET /api/jobs?limit=500', 'GET /api/jobs?limit=500', 'GET /api/jobs?limit=500'], 'sent again after each busy answer');

    seen.length = 0;
    busyLeft = 1;
    limit = undefined;
    const other = await selfheal(['jobs', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: 't' }, 30_000);
    assert.equal(other.code, 3, other.stderr);
    assert.match(other.stderr, /GET \/api\/jobs\?limit=500 failed: 503 Service Unavailable/);
    assert.deepEqual(seen, ['GET /api/jobs?limit=500'], 'not sent again');
  });
});
