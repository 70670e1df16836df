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

// How many backtests one API process runs at once (SELFHEAL_BACKTEST_MAX_CONCURRENT). The caller budget
// bounds each caller; before this, any number of read tokens could each hold a backtest (up to its time
// budget of the event loop, and its window's events) at the same time. The backtests are held in place by a
// lock on the events they count, so which ones are running is known, not guessed from timing.

const ADMIN = 'backtest-concurrency-admin-0123456789';
const HOUR = 3_600_000;

describe('API: backtests at once', function () {
  let db: TestDatabase;
  let call: (body: unknown, path?: string) => Promise<{ status: number; headers: Headers; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let to: Date;

  before(async function () {
    db = await createTestDatabase();
    const base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR);
    to = new Date(base.getTime() + 3 * 24 * HOUR);
    await storeHistory(db.db, buildHistory({ incidents: 30, from: base, hours: 48 }));
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_RATE_LIMIT_BURST: '100000',
      SELFHEAL_BACKTEST_MAX_CONCURRENT: '2',
    });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    call = async (body, path = '/api/rules/backtest') => {
      const res = await app.request(path, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : {} };
    };
  });
  after(async () => db?.close());

  const request = () => ({
    rule: { name: 'disk-full', services: ['PSTORAGE1'], conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] },
    from: new Date(to.getTime() - 3 * 24 * HOUR).toISOString(),
    to: to.toISOString(),
  });

  /** Holds every read of the stored events until `release` is called (a lock the backtests' count waits on). */
  async function holdEvents(): Promise<{ waiting: () => Promise<number>; release: () => Promise<void> }> {
    const locker = new pg.Client({ connectionString: db.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE incident_events IN ACCESS EXCLUSIVE MODE');
    const watcher = new pg.Client({ connectionString: db.url });
    await watcher.connect();
    return {
      // Sessions of this database waiting on the lock: the backtests that got as far as counting events.
      waiting: async () => Number((await watcher.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`)).rows[0].n),
      release: async () => {
        await locker.query('ROLLBACK');
        await locker.end();
        await watcher.end();
      },
    };
  }

  it('a backtest past the limit is answered 503 at once, and runs once a slot is free', async function () {
    const held = await holdEvents();
    let released = false;
    try {
      const first = call(request());
      const second = call(request());
      await eventually(async () => ((await held.waiting()) === 2 ? true : undefined), 10_000, 'two backtests to be counting events');

      const third = await call(request());
      assert.equal(third.status, 503, JSON.stringify(third.body));
      assert.equal(third.headers.get('content-type'), 'application/problem+json');
      assert.equal(third.headers.get('retry-after'), '5');
      assert.equal(third.body.limit, 'backtest-concurrency');
      assert.equal(third.body.maxConcurrent, 2);
      assert.match(third.body.detail, /2 backtests are already running on this server, its limit \(SELFHEAL_BACKTEST_MAX_CONCURRENT\); nothing was done/);
      // The refused one never reached the database: still only the two first wait on the lock.
      assert.equal(await held.waiting(), 2);
      // Attaching a backtest to a rule takes a slot as well.
      const created = await call({ name: 'attach-me', services: ['PSTORAGE1'], conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'n', type: 'pagerduty.note', content: 'x' }] }, '/api/rules');
      assert.equal(created.status, 201, JSON.stringify(created.body));
      const attach = await call({ since: '1d' }, `/api/rules/${created.body.id}/backtest`);
      assert.equal(attach.status, 503, JSON.stringify(attach.body));

      await held.release();
      released = true;
      const answers = await Promise.all([first, second]);
      assert.deepEqual(
        answers.map((a) => a.status),
        [200, 200],
      );
      assert.ok(answers[0]!.body.summary, 'the held backtests answered their results');
    } finally {
      if (!released) await held.release();
    }
    // The slots were given back, by answers and by refusals alike.
    const again = await Promise.all([call(request()), call(request())]);
    assert.deepEqual(
      again.map((a) => a.status),
      [200, 200],
    );
  });

  it('a backtest refused for its window gives its slot back', async function () {
    for (let i = 0; i < 3; i++) {
      const refused = await call({ ...request(), maxEvents: 1 });
      assert.equal(refused.status, 400, JSON.stringify(refused.body));
    }
    const [a, b] = await Promise.all([call(request()), call(request())]);
    assert.equal(a.status, 200, JSON.stringify(a.body));
    assert.equal(b.status, 200, JSON.stringify(b.body));
  });
});
