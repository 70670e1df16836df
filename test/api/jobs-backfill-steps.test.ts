import assert from 'node:assert/strict';
import { CronExpression } from 'cron-parser';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { MAX_BACKFILL_COUNT_STEPS, MAX_BACKFILL_RUNS } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

// POST /api/jobs/{id}/backfill counts the scheduled times of its window on the API's event loop, with
// cron-parser, before refusing a window of more than 24 runs. Found in review: nothing bounded the window
// (years 0001 to 9999 are valid datetimes) nor the steps, and a cron whose two day fields rarely meet
// ("0 0 29 2 1": a Monday 29 February, every 28 years or so) walked every day matching either field, 2,822
// steps of cron-parser (hasNext and next each) at up to 0.7 ms each in a time zone: 1.4 s of a blocked
// event loop per request, for any editor of a job. The count now jumps to the next day matching both fields
// and takes at most MAX_BACKFILL_COUNT_STEPS steps (a window that needs more is a 400 on `end` naming the
// latest end that fits: test/unit/backfill-count.test.ts). The steps are counted (every call of
// cron-parser's next and hasNext), not timed.

const ADMIN = 'jobs-backfill-steps-admin-token-0123456789';
/** The steps a count may take (MAX_BACKFILL_COUNT_STEPS, asserted to be no more). */
const STEPS = 100;

describe('jobs API: a backfill counts its window in a bounded number of steps', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const { temporal, calls } = stubScheduleClient();
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    return { status: res.status, body: (await res.json()) as { detail?: string; errors?: { path: string; message: string }[] } };
  };

  /** Calls of cron-parser's next and hasNext (each computes a next time) while `f` runs. */
  async function cronSteps<T>(f: () => Promise<T>): Promise<{ result: T; steps: number }> {
    const proto = CronExpression.prototype as unknown as { next: (...a: unknown[]) => unknown; hasNext: (...a: unknown[]) => unknown };
    const { next, hasNext } = proto;
    let steps = 0;
    proto.next = function (this: unknown, ...a: unknown[]) {
      steps += 1;
      return next.apply(this, a);
    };
    proto.hasNext = function (this: unknown, ...a: unknown[]) {
      steps += 1;
      return hasNext.apply(this, a);
    };
    try {
      return { result: await f(), steps };
    } finally {
      proto.next = next;
      proto.hasNext = hasNext;
    }
  }

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const [id, cron] of [
      ['leap', '0 0 29 2 1'],
      ['friday13', '0 9 13 * FRI'],
    ]) {
      const created = await call('POST', '/api/jobs', { id, name: id, schedule: { cron, timezone: 'America/Santiago' }, targets: { all: true }, script: 'probe.sh' });
      assert.equal(created.status, 201, JSON.stringify(created.body));
    }
  });
  after(async () => db?.close());

  it('years 0001 to 9999 of "0 0 29 2 1" in America/Santiago: the 400 on end (more than 24 runs) within the step budget; nothing backfilled', async function () {
    const { result: r, steps } = await cronSteps(() => call('POST', '/api/jobs/leap/backfill', { start: '0001-01-01T00:00:00Z', end: '9999-12-31T23:59:59Z' }));
    assert.equal(r.status, 400, JSON.stringify(r.body));
    assert.ok(steps <= STEPS, `the count took ${steps} steps of cron-parser (at most ${STEPS})`);
    assert.ok(MAX_BACKFILL_COUNT_STEPS <= STEPS, `MAX_BACKFILL_COUNT_STEPS ${MAX_BACKFILL_COUNT_STEPS}`);
    assert.match(r.body.errors?.find((e) => e.path === 'end')?.message ?? '', new RegExp(`at most ${MAX_BACKFILL_RUNS} scheduled runs`), JSON.stringify(r.body));
    assert.deepEqual(calls.backfills, [], 'nothing was backfilled');
  });

  it('a window that fits is counted as before: a few years of Fridays the 13th are backfilled, two days of an hourly job are the 400 on the run count', async function () {
    const years = await cronSteps(() => call('POST', '/api/jobs/friday13/backfill', { start: '2020-01-01T00:00:00Z', end: '2022-12-31T00:00:00Z' }));
    assert.equal(years.result.status, 202, JSON.stringify(years.result.body)); // 2020-2022: 5 Fridays the 13th
    assert.ok(years.steps <= STEPS, `${years.steps} steps`);
    const many = await call('POST', '/api/jobs/friday13/backfill', { start: '2000-01-01T00:00:00Z', end: '2001-01-01T00:00:00Z' });
    assert.equal(many.status, 202, JSON.stringify(many.body));
    // An hourly schedule: one step a run, the cap is met well within the budget.
    const hourly = await call('POST', '/api/jobs', { id: 'hourly', name: 'hourly', schedule: { cron: '0 * * * *', timezone: 'America/Santiago' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(hourly.status, 201);
    const day = await cronSteps(() => call('POST', '/api/jobs/hourly/backfill', { start: '2026-01-01T00:00:00Z', end: '2026-01-03T00:00:00Z' }));
    assert.equal(day.result.status, 400, JSON.stringify(day.result.body));
    assert.match(day.result.body.errors?.find((e) => e.path === 'end')?.message ?? '', new RegExp(`at most ${MAX_BACKFILL_RUNS} scheduled runs`));
    assert.ok(day.steps <= MAX_BACKFILL_RUNS + 2, `${day.steps} steps`);
  });
});
