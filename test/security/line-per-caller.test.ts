// The statistics answers and the YAML conversions each wait in a line of five places per API process (one
// at work, four waiting). One caller without the admin scope holds at most all of them but one
// (src/api/caller-share.ts); before, one read token's burst (ten of either at a cost of 10) filled the line
// alone, and every other caller was answered 503 for as long as it kept sending.
import assert from 'node:assert/strict';
import type { KyselyPlugin } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { MAX_CONVERSIONS, MAX_WAITING_CONVERSIONS } from '../../src/api/convert.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { MAX_STATS_AT_ONCE, MAX_WAITING_STATS } from '../../src/api/routes/stats.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

interface Problem {
  detail: string;
  limit?: string;
  perCaller?: number;
}

describe('security: one caller holds all the places of the stats and conversion lines but one', function () {
  let db: TestDatabase;
  // Each rule_matches read is held while `held`: the statistics line stays full until the test lets go.
  let held = true;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const matchQueries = new Set<unknown>();
    const holdMatches: KyselyPlugin = {
      transformQuery(args) {
        if (JSON.stringify(args.node).includes('rule_matches')) matchQueries.add(args.queryId);
        return args.node;
      },
      async transformResult(args) {
        if (held && matchQueries.has(args.queryId)) await gate;
        return args.result;
      },
    };
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db.withPlugin(holdMatches), temporal: {} as never, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => {
    held = false;
    release();
    await db?.close();
  });

  let n = 0;
  async function readToken(): Promise<string> {
    const res = await app.request('/api/tokens', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `line-reader-${++n}`, scopes: ['read'] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }

  /** `count` requests at once; resolves with the first answered (while the others still wait) and all of them. */
  function burst(count: number, send: () => Response | Promise<Response>): { first: Promise<Response>; all: Promise<Response[]> } {
    const sent = Array.from({ length: count }, async () => send());
    return { first: Promise.race(sent), all: Promise.all(sent) };
  }

  it("a read token's burst of statistics takes four of the five places, its fifth and sixth are 503 perCaller, and another token is served", async function () {
    this.timeout(60_000);
    const places = MAX_STATS_AT_ONCE + MAX_WAITING_STATS;
    const [first, second] = [await readToken(), await readToken()];
    const stats = (token: string) => () => app.request('/api/stats', { headers: { authorization: `Bearer ${token}` } });
    // Six at once: the first is held computing, so whatever is answered now was turned away at the line.
    const flood = burst(places + 1, stats(first));
    const early = await flood.first;
    assert.equal(early.status, 503, await early.clone().text());
    // The first token is still sending; another token's answer is computed in its turn.
    const other = stats(second)();
    const late = await Promise.race([other, new Promise<'pending'>((r) => setTimeout(() => r('pending'), 300))]);
    assert.equal(late === 'pending' ? late : `${late.status} ${await late.clone().text()}`, 'pending', "the other token's answer was refused");
    held = false;
    release();
    const answers = await flood.all;
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 200, 200, 200, 503, 503]);
    for (const busy of answers.filter((a) => a.status === 503)) {
      assert.equal(busy.headers.get('retry-after'), '5');
      const body = (await busy.json()) as Problem;
      assert.deepEqual([body.limit, body.perCaller], ['stats-per-caller', places - 1], body.detail);
    }
    assert.equal((await other).status, 200);
  });

  it("a read token's burst of slow conversions takes four of the five places, the rest are 503 perCaller, and another token's document converts", async function () {
    this.timeout(60_000);
    const places = MAX_CONVERSIONS + MAX_WAITING_CONVERSIONS;
    const [first, second] = [await readToken(), await readToken()];
    const convert = (token: string, text: string) => () =>
      app.request('/ui/convert', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ text, from: 'yaml', to: 'object' }) });
    // Each of these runs to the 2 s time limit: the line stays full for seconds.
    const slow = `${'!a '.repeat(21_000)}x`;
    const flood = burst(places + 1, convert(first, slow));
    const early = await flood.first;
    assert.equal(early.status, 503, await early.clone().text());
    const other = await convert(second, 'a: 1')();
    assert.equal(other.status, 200, await other.clone().text());
    assert.deepEqual(((await other.json()) as { value: unknown }).value, { a: 1 });
    const answers = await flood.all;
    assert.deepEqual(answers.map((a) => a.status).sort(), [400, 400, 400, 400, 503, 503]);
    for (const busy of answers.filter((a) => a.status === 503)) {
      assert.equal(busy.headers.get('retry-after'), '1');
      const body = (await busy.json()) as Problem;
      assert.deepEqual([body.limit, body.perCaller], ['convert-per-caller', places - 1], body.detail);
    }
  });
});
