import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { MAX_LIST_BYTES, MAX_LIST_PAGES, pageFollower } from '../../src/cli/http-client.js';
import { selfheal } from '../helpers/cli.js';

// The CLI bounds one answer (64 MiB) and refuses a cursor handed out twice (test/cli/cursor-loop.test.ts),
// but a server that hands out a NEW cursor with every page (a hostile endpoint, a broken proxy, a server bug
// that never ends a list) was followed for ever, every page kept (http-client.ts allPages): `selfheal export`
// / `apply` / `diff` in CI never ended, or died out of memory with a V8 crash instead of the exit 3 a bad
// answer gets. The child runs with a 256 MB heap so that unbounded accumulation shows as a crash in seconds
// rather than eating the shared machine's memory. Found in review (failing before: killed, out of memory,
// after 226 pages).
describe('selfheal CLI: a list whose pages never end', function () {
  this.timeout(120_000);
  let server: Server;
  let url: string;
  let pages = 0;
  let runPages = 0;

  before(async function () {
    // One page: 500 rules of about 2 KB each (about 1 MiB), as a paged /api/rules may answer.
    const items = Array.from({ length: 500 }, (_, i) => ({ id: `r-${i}`, name: `rule-${i}`, version: 1, services: ['PABC123'], description: 'x'.repeat(2000), actions: [] }));
    const head = JSON.stringify({ items }).slice(0, -1);
    server = createServer((req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'application/json' });
      if (req.url?.startsWith('/api/jobs/j1/runs')) {
        // No run at all, and a new cursor every time: the runs the CLI waits for never come.
        runPages++;
        res.end(JSON.stringify({ items: [], nextCursor: `r${runPages}` }));
        return;
      }
      if (!req.url?.startsWith('/api/rules')) {
        res.end(JSON.stringify({ items: [], nextCursor: null }));
        return;
      }
      pages++;
      // Every page a new cursor: never the same twice.
      res.end(`${head},"nextCursor":"c${pages}"}`);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('selfheal export ends with exit 3 instead of paging until it runs out of memory', async function () {
    const r = await selfheal(['export'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: 't', NODE_OPTIONS: '--max-old-space-size=256' }, 90_000);
    // -1: killed by a signal (the 90 s timeout, or V8 aborting out of memory).
    const why = r.code === -1 ? 'killed (timed out, or aborted out of memory)' : `exit ${r.code}`;
    assert.equal(r.code, 3, `${why} after ${pages} pages requested: ${r.stderr.split('\n').filter((l) => l.trim()).slice(0, 2).join(' | ').slice(0, 300)}`);
    assert.match(r.stderr, new RegExp(`answered ${MAX_LIST_PAGES} pages \\(\\d+ MiB\\) of one list and still another cursor: the CLI follows at most ${MAX_LIST_PAGES} pages of a list; not followed further`));
    assert.equal(pages, MAX_LIST_PAGES, 'pages requested');
  });

  it('selfheal jobs runs ends with exit 3 when pages of no runs go on for ever', async function () {
    const r = await selfheal(['jobs', 'runs', 'j1'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: 't' }, 30_000);
    assert.equal(r.code, 3, r.code === -1 ? `still paging after 30 s (${runPages} pages requested); killed` : r.stderr);
    assert.match(r.stderr, /the CLI follows at most \d+ pages of a list/);
  });

  it('a list is refused once its pages pass 256 MiB together, before the next page is asked for', () => {
    const next = pageFollower('http://api');
    const page = 60 * 1024 * 1024;
    for (let i = 1; i * page < MAX_LIST_BYTES; i++) assert.equal(next(`c${i}`, page), `c${i}`);
    assert.throws(() => next('c5', page), /^CliError: http:\/\/api answered 5 pages \(300 MiB\) of one list and still another cursor: the CLI follows at most 256 MiB of a list; not followed further$/);
    // The last page of a list is taken whatever the total: the list is whole.
    assert.equal(pageFollower('http://api', 1, 1)(null, 2 * page), null);
  });
});
