// The bounded JSON reader (src/api/body.ts) walks every body it parses twice, for strings past the route's
// limit and for strings Postgres cannot store. Each walk wrote the path of every value it passed (`a.b[17]`)
// and took every member of an object as a pair, whether or not anything was wrong: a read token's rule test
// (4 MiB allowed) of 1.9 million zeros, or of an object of 330,000 keys, held the API's event loop for
// seconds, some fifty and some ten times what JSON.parse of the same body takes. Now a walk keeps the way
// to where it is as a list and spells out a path only for the string it refuses, and the validator parses
// the text the reader read rather than a copy written from the value. What is asserted is the cost relative
// to JSON.parse of the same body on the same machine (best of three of each), not a time.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { sampleFor } from '../helpers/samples.js';

const ADMIN = 'security-json-reader-admin-token-0123456789';

describe('security: reading a JSON body costs a few times JSON.parse of it (read token)', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let reader: string;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const issued = await app.request('/api/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'reader', scopes: ['read'] }),
    });
    reader = ((await issued.json()) as { token: string }).token;
  });
  after(async () => db?.close());

  /** A rule test whose payload holds `blob` (JSON text) at event.data.blob. */
  function ruleTest(blob: string): string {
    const payload = sampleFor('v3-incident.triggered-01.json', 'QJSONCOST') as unknown as { event: { data: Record<string, unknown> } };
    payload.event.data.blob = '@@BLOB@@';
    const rule = { name: 'reader-cost', services: ['*'], conditions: { field: 'incident.title', op: 'contains', value: 'disk' }, actions: [{ type: 'pagerduty.note', content: 'x' }] };
    return JSON.stringify({ rule, payload }).replace('"@@BLOB@@"', blob);
  }

  async function bestOf3(run: () => Promise<void> | void): Promise<number> {
    let best = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      await run();
      best = Math.min(best, performance.now() - started);
    }
    return best;
  }

  for (const [shape, blob] of [
    ['1.9 million zeros in an array', () => `[${new Array(1_900_000).fill(0).join(',')}]`],
    ['an object of 330,000 keys', () => `{${Array.from({ length: 330_000 }, (_, i) => `"k${i}":0`).join(',')}}`],
  ] as const) {
    it(`a 3.6 MiB rule test of ${shape} is answered in a few times JSON.parse of its body`, async function () {
      const body = ruleTest(blob());
      assert.ok(body.length > 3.5 * 1024 * 1024 && body.length < 4 * 1024 * 1024, `${body.length} bytes`);
      const parseMs = await bestOf3(() => void JSON.parse(body));
      const requestMs = await bestOf3(async () => {
        const res = await app.request('/api/rules/test', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body });
        assert.equal(res.status, 200, await res.clone().text());
        await res.arrayBuffer();
      });
      assert.ok(requestMs < 6 * parseMs + 150, `the rule test took ${Math.round(requestMs)} ms; JSON.parse of its body ${Math.round(parseMs)} ms`);
    });
  }

  it('a string past the limit, or one Postgres cannot store, is still named by its path', async function () {
    const deep = { a: [0, 1, { b: [{ c: 'x'.repeat(256 * 1024 + 1) }] }] };
    const res = await app.request('/api/rules/test', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: ruleTest(JSON.stringify(deep)) });
    assert.equal(res.status, 400);
    const long = (await res.json()) as { errors: { path: string; message: string }[] };
    assert.deepEqual(long.errors[0], { path: 'payload.event.data.blob.a[2].b[0].c', message: 'string of 262145 characters; the limit is 262144' });

    const unstorable = `{"k":[1,{"${'y'.repeat(120)}":["ok","\\ud800"]}]}`;
    const bad = await app.request('/api/rules/test', { method: 'POST', headers: { authorization: `Bearer ${reader}`, 'content-type': 'application/json' }, body: ruleTest(unstorable) });
    assert.equal(bad.status, 400);
    const problem = (await bad.json()) as { errors: { path: string; message: string }[] };
    assert.deepEqual(problem.errors[0], { path: `payload.event.data.blob.k[1].${'y'.repeat(100)}[1]`, message: 'contains a lone UTF-16 surrogate' });
  });
});
