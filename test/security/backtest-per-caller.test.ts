// One read token must not take every backtest slot of the server (SELFHEAL_BACKTEST_MAX_CONCURRENT) for
// itself. Its request budget lets it start ten backtests at once (a burst of 100, 10 each); before, the
// first two took both slots and every other caller's backtest was answered 503 for as long as the token kept
// starting more. A caller without the admin scope now holds all the slots but one (one at least): its next
// one is the 503, and another caller's backtest runs. The backtests are held in place by a lock on the
// events they count, so which ones are running is known, not guessed from timing.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import pg from 'pg';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/stack.js';
import { buildHistory, storeHistory, TITLE_EXTRACTORS } from '../helpers/history.js';

const ADMIN = 'backtest-per-caller-admin-0123456789';
const HOUR = 3_600_000;

/** What `p` settled with within `ms`, or 'pending'. A backtest refused is refused before it reads anything. */
async function within<T>(p: Promise<T>, ms: number): Promise<T | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([p, pending]);
  } finally {
    clearTimeout(timer);
  }
}

type Answer = { status: number; body: { limit?: string; perCaller?: number; detail?: string; summary?: unknown } };

describe('security: one caller cannot take every backtest slot', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let to: Date;

  before(async function () {
    db = await createTestDatabase();
    const base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR);
    to = new Date(base.getTime() + 3 * 24 * HOUR);
    await storeHistory(db.db, buildHistory({ incidents: 30, from: base, hours: 48 }));
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_BACKTEST_MAX_CONCURRENT: '2' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
  });
  after(async () => db?.close());

  async function readToken(name: string): Promise<string> {
    const res = await app.request('/api/tokens', { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name, scopes: ['read'] }) });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }

  const backtest = async (token: string): Promise<Answer> => {
    const rule = { name: 'disk-full', services: ['PSTORAGE1'], conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] };
    const body = { rule, from: new Date(to.getTime() - 3 * 24 * HOUR).toISOString(), to: to.toISOString() };
    const res = await app.request('/api/rules/backtest', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, body: text ? (JSON.parse(text) as Answer['body']) : {} };
  };

  it("a read token holds one of two backtest slots; its next is 503 (perCaller) and another token's backtest runs", async function () {
    const [greedy, other] = [await readToken('greedy-reader'), await readToken('other-reader')];
    const locker = new pg.Client({ connectionString: db.url });
    const watcher = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await watcher.connect();
    // Backtests that got as far as counting events wait on this lock.
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE incident_events IN ACCESS EXCLUSIVE MODE');
    const waiting = async () => Number((await watcher.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n);
    const started: Promise<Answer>[] = [];
    let released = false;
    try {
      started.push(backtest(greedy));
      await eventually(async () => ((await waiting()) === 1 ? true : undefined), 10_000, "the greedy token's first backtest to be counting events");
      // Its second: refused at once now; before, it took the last slot (and waited on the lock).
      const second = backtest(greedy);
      started.push(second);
      const settled = await within(second, 2_000);

      // Another reader asks for one backtest: it runs (waits on the lock); before, it was refused at once.
      const theirs = backtest(other);
      started.push(theirs);
      const outcome = await within(theirs, 2_000);
      assert.equal(outcome, 'pending', `the other token's backtest was refused: ${JSON.stringify(outcome === 'pending' ? '' : outcome.body)}`);
      await eventually(async () => ((await waiting()) === 2 ? true : undefined), 10_000, "the other token's backtest to be counting events");

      assert.notEqual(settled, 'pending', "the greedy token's second backtest took the last slot");
      const refused = settled as Answer;
      assert.equal(refused.status, 503, JSON.stringify(refused.body));
      assert.equal(refused.body.limit, 'backtest-concurrency');
      assert.equal(refused.body.perCaller, 1);
      assert.match(refused.body.detail ?? '', /^this caller already runs 1 backtest on this server, as many as one caller may .*; nothing was done, try again in 5 s$/);

      await locker.query('ROLLBACK');
      released = true;
      const [first, , last] = await Promise.all(started);
      assert.deepEqual([first!.status, last!.status], [200, 200]);
      assert.ok(last!.body.summary, "the other token's backtest answered its results");
    } finally {
      if (!released) await locker.query('ROLLBACK');
      await locker.end();
      await watcher.end();
      await Promise.allSettled(started);
    }
    // The greedy token's slot was given back with its answer.
    assert.equal((await backtest(greedy)).status, 200);
  });
});
