import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

// A job starts its script on every environment it targets at each run: one saved with a 1-second interval
// is runaway automation. An interval under a minute is refused with 400 naming schedule.interval and the
// minimum, on create and on update, before anything is stored or scheduled.

const ADMIN = 'jobs-interval-admin-token-0123456789';

describe('jobs API: a schedule may not fire more often than once a minute', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const { temporal, calls } = stubScheduleClient();
  /** Schedules Temporal was asked to create or update (the stub accepts every one). */
  const scheduled = calls.scheduled;
  /** Backfills Temporal was asked for. */
  const backfills = calls.backfills;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  const call = async (method: string, path: string, body: unknown) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, type: res.headers.get('content-type'), body: (await res.json()) as { detail?: string; errors?: { path: string; message: string }[]; schedule?: unknown } };
  };
  const job = (id: string, schedule: Record<string, unknown>) => ({ id, name: id, schedule, targets: { all: true }, script: 'probe.sh' });

  it('create: an interval under 60 s is a 400 naming schedule.interval and the minimum; nothing is stored or scheduled', async function () {
    for (const interval of ['1s', '30s', '59s', 'every 30s offset 10s', '@every 10s']) {
      const res = await call('POST', '/api/jobs', job('too-often', { interval }));
      assert.equal(res.status, 400, `${interval}: ${JSON.stringify(res.body)}`);
      assert.equal(res.type, 'application/problem+json');
      assert.deepEqual(res.body.errors?.map((e) => e.path), ['schedule.interval'], interval);
      assert.match(res.body.errors![0]!.message, /^must be at least 60s \(1m\)/);
      assert.match(res.body.detail ?? '', /^invalid request body: schedule\.interval: must be at least 60s \(1m\)/);
    }
    assert.equal(await db.db.selectFrom('jobs').select('id').where('id', '=', 'too-often').executeTakeFirst(), undefined, 'no job stored');
    assert.deepEqual(scheduled.filter((s) => s.id === jobScheduleId('too-often')), [], 'no schedule made');
  });

  it('create: one minute, a longer interval and a cron (at most once a minute) are taken', async function () {
    assert.equal((await call('POST', '/api/jobs', job('every-minute', { interval: '1m' }))).status, 201);
    assert.equal((await call('POST', '/api/jobs', job('every-minute-offset', { interval: 'every 60s offset 30s' }))).status, 201);
    assert.equal((await call('POST', '/api/jobs', job('every-minute-cron', { cron: '* * * * *' }))).status, 201);
    assert.deepEqual(
      scheduled.filter((s) => s.id.startsWith(jobScheduleId('every-minute'))),
      [
        { id: jobScheduleId('every-minute'), every: 60_000 },
        { id: jobScheduleId('every-minute-offset'), every: 60_000 },
        { id: jobScheduleId('every-minute-cron'), cron: '* * * * *' },
      ],
    );
    // Seconds are not a cron field here: a 6-field cron is refused, naming schedule.cron.
    const seconds = await call('POST', '/api/jobs', job('every-second-cron', { cron: '* * * * * *' }));
    assert.equal(seconds.status, 400);
    assert.deepEqual(seconds.body.errors?.map((e) => e.path), ['schedule.cron']);
  });

  it('update: an existing job cannot be moved to an interval under 60 s; the stored job and its schedule are unchanged', async function () {
    assert.equal((await call('POST', '/api/jobs', job('hourly', { interval: '1h' }))).status, 201);
    const before = scheduled.length;
    const res = await call('PUT', '/api/jobs/hourly', job('hourly', { interval: '5s' }));
    assert.equal(res.status, 400, JSON.stringify(res.body));
    assert.equal(res.type, 'application/problem+json');
    assert.deepEqual(res.body.errors?.map((e) => e.path), ['schedule.interval']);
    assert.equal(scheduled.length, before, 'the schedule was not touched');
    const row = await db.db.selectFrom('jobs').select('definition').where('id', '=', 'hourly').executeTakeFirstOrThrow();
    assert.equal((row.definition as { schedule: { interval: string } }).schedule.interval, '1h');
  });

  it('backfill: a window of more than 24 scheduled runs is a 400 naming end; Temporal is not asked', async function () {
    // A write token backfilling a week of a one-minute job (10,080 runs, each on every target; with
    // overlap allow_all all at once) was passed to Temporal as asked.
    assert.equal((await call('POST', '/api/jobs', job('minutely', { interval: '1m' }))).status, 201);
    assert.equal((await call('POST', '/api/jobs', job('daily-cron', { cron: '@daily' }))).status, 201);
    for (const [id, start, end] of [
      ['minutely', '2026-11-01T00:00:00Z', '2026-11-08T00:00:00Z'],
      ['minutely', '2026-11-01T00:00:00Z', '2026-11-01T00:25:00Z'],
      ['daily-cron', '2026-01-01T00:00:00Z', '2026-03-01T00:00:00Z'],
    ] as const) {
      const res = await call('POST', `/api/jobs/${id}/backfill`, { start, end, overlap: 'allow_all' });
      assert.equal(res.status, 400, `${id} ${start}..${end}: ${JSON.stringify(res.body)}`);
      assert.equal(res.type, 'application/problem+json');
      assert.deepEqual(res.body.errors?.map((e) => e.path), ['end']);
      assert.match(res.body.errors![0]!.message, /at most 24 scheduled runs/);
    }
    assert.equal(backfills.length, 0, 'Temporal was not asked');
    // Catching up what was missed stays possible: 20 minutes of the minutely job, three weeks of the daily one.
    assert.equal((await call('POST', '/api/jobs/minutely/backfill', { start: '2026-11-01T00:00:00Z', end: '2026-11-01T00:20:00Z' })).status, 202);
    assert.equal((await call('POST', '/api/jobs/daily-cron/backfill', { start: '2026-01-01T00:00:00Z', end: '2026-01-21T00:00:00Z' })).status, 202);
    assert.deepEqual(backfills.map((b) => b.id), [jobScheduleId('minutely'), jobScheduleId('daily-cron')]);
  });

  it('an interval over 366d or a catchupWindow over 7d is a 400 naming the field and the bound; nothing is stored or scheduled', async function () {
    // Before: 201, a schedule that never fires (106752d overflows Temporal's durations) or a window Temporal caps silently.
    const refused: [string, Record<string, unknown>, string, RegExp][] = [
      ['long-interval', { interval: '367d' }, 'schedule.interval', /^must be at most 366d, got "367d"/],
      ['huge-interval', { interval: '100000000d' }, 'schedule.interval', /^must be at most 366d, got "100000000d"/],
      ['overflow-interval', { interval: '106752d' }, 'schedule.interval', /^must be at most 366d/],
      ['offset-interval', { interval: 'every 400d offset 1h' }, 'schedule.interval', /^must be at most 366d/],
      ['long-catchup', { interval: '1h', catchupWindow: '8d' }, 'schedule.catchupWindow', /^must be at most 7d, got "8d"/],
      ['huge-catchup', { cron: '0 6 * * *', catchupWindow: '100000000d' }, 'schedule.catchupWindow', /^must be at most 7d, got "100000000d"/],
    ];
    for (const [id, schedule, path, message] of refused) {
      const res = await call('POST', '/api/jobs', job(id, schedule));
      assert.equal(res.status, 400, `${id}: ${JSON.stringify(res.body)}`);
      assert.equal(res.type, 'application/problem+json');
      assert.deepEqual(res.body.errors?.map((e) => e.path), [path], id);
      assert.match(res.body.errors![0]!.message, message, id);
      assert.ok(res.body.detail?.startsWith(`invalid request body: ${path}: must be at most`), res.body.detail);
      assert.equal(await db.db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst(), undefined, `${id}: no job stored`);
      assert.deepEqual(scheduled.filter((s) => s.id === jobScheduleId(id)), [], `${id}: no schedule made`);
    }
    // The bounds themselves are taken, and an existing job cannot be moved past them.
    assert.equal((await call('POST', '/api/jobs', job('yearly-interval', { interval: '366d', catchupWindow: '7d' }))).status, 201);
    const moved = await call('PUT', '/api/jobs/yearly-interval', job('yearly-interval', { interval: '366d', catchupWindow: '7d1s' }));
    assert.equal(moved.status, 400, JSON.stringify(moved.body));
    assert.deepEqual(moved.body.errors?.map((e) => e.path), ['schedule.catchupWindow']);
  });
});
