import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { selfheal } from '../helpers/cli.js';

// The CLI bounds every answer (64 MiB) so that a hostile or broken server cannot fill its memory, and it
// follows `nextCursor` only while the cursor moves on (src/cli/http-client.ts, allPages): a server that
// answers the same cursor again (a proxy caching the first page, a server bug, an attacker's endpoint) used
// to keep `selfheal teams list` / `tokens list` requesting and accumulating pages for ever.
describe('the CLI stops following a cursor that does not move on', function () {
  this.timeout(60_000);
  let server: Server;
  let url: string;
  let pages = 0;

  before(async function () {
    server = createServer((req, res) => {
      req.resume();
      pages++;
      res.writeHead(200, { 'content-type': 'application/json' });
      // Every page the same team and the same cursor.
      res.end(JSON.stringify({ items: [{ name: 'default', description: null, createdAt: '2026-01-01T00:00:00Z' }], nextCursor: 'c1' }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('selfheal teams list ends (exit 3) instead of paging for ever', async function () {
    const r = await selfheal(['teams', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: 't' }, 15_000);
    assert.notEqual(r.code, -1, `still paging after 15 s (${pages} pages requested); killed`);
    assert.equal(r.code, 3, `${r.stdout}${r.stderr}`);
  });
});
