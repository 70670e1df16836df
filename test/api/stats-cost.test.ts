// The statistics routes cost like a backtest against the caller's request budget (src/api/routes/stats.ts
// STATS_REQUEST_COST). Each answer may read up to 50,000 matches and label up to 20,000 incidents; at the
// cost of an ordinary request, one read token asking for a year-long range again and again kept the API
// busy. (The grouping of those rows is linear since the same review; that has no honest non-timed test,
// see pushTo in src/services/stats.ts.)
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

// A burst of 30 refilled at 1 a second: a call that costs 10 needs 10 s to earn back, far longer than
// the few milliseconds the calls below take, so how many are served does not depend on timing.
const BURST = 30;
const CALLS = 6;

describe('effectiveness statistics cost ten requests of the caller budget', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_RATE_LIMIT_BURST: String(BURST),
      SELFHEAL_RATE_LIMIT_PER_SECOND: '1',
    });
    app = createApp({ config, db: db.db, temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);
    await db.db.insertInto('rules').values({ id: 'rule-cost', name: 'rule-cost', version: 1, enabled: true, definition: JSON.stringify({ name: 'rule-cost', services: ['*'] }) }).execute();
  });
  after(async () => db?.close());

  let n = 0;
  async function readToken(): Promise<string> {
    const res = await app.request('/api/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `stats-reader-${++n}`, scopes: ['read'] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }
  /** `CALLS` requests at once with a fresh read token: how many were answered with each status. */
  async function flood(path: string): Promise<{ statuses: Record<number, number>; refused: Response | undefined }> {
    const token = await readToken();
    const answers = await Promise.all(Array.from({ length: CALLS }, () => app.request(path, { headers: { authorization: `Bearer ${token}` } })));
    const statuses: Record<number, number> = {};
    for (const r of answers) statuses[r.status] = (statuses[r.status] ?? 0) + 1;
    return { statuses, refused: answers.find((r) => r.status === 429) };
  }

  it('a read token is served three statistics answers out of a burst of 30, then 429 caller-budget; a cheap route serves all six', async function () {
    for (const path of ['/api/stats', '/api/rules/rule-cost/stats']) {
      const { statuses, refused } = await flood(path);
      assert.deepEqual(statuses, { 200: 3, 429: 3 }, path);
      assert.equal(refused!.headers.get('content-type'), 'application/problem+json');
      assert.equal(((await refused!.json()) as { limit: string }).limit, 'caller-budget');
    }
    assert.deepEqual((await flood('/api/rules')).statuses, { 200: CALLS }, 'an ordinary read costs 1');
  });
});
