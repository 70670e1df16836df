// A job and its Temporal Schedule must agree. The API changes the row, calls Temporal, then commits; when
// the call lands and the commit does not (connection lost, API killed, Temporal answering after the API's
// deadline), the API answers 5xx while the schedule has changed. The worker's reconcile (at start, then
// every SELFHEAL_SCHEDULE_RECONCILE_SECONDS) brings such a schedule back in line with the job, and a run
// the schedule starts while the job is paused does nothing.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { createJobActivities } from '../../activities/jobs.js';
import { deploymentId } from '../../src/db/repositories/deployment.js';
import { lockJobId } from '../../src/db/repositories/jobs.js';
import { jobDefinitionSchema, type JobDefinition } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { keepSchedulesReconciled, reconcileSchedules, scheduleFingerprint, updateJobSchedule } from '../../src/temporal/schedules.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal } from '../helpers/temporal.js';

const logger = createLogger({ level: 'silent' });
const TASK_QUEUE = 'schedule-drift';

describe('job schedules drifted from their job are brought back in line', function () {
  let client: Client;
  let t: TestDatabase;
  const id = `drift-${randomBytes(3).toString('hex')}`;
  let api: AdminApi;
  const describeIt = () => client.schedule.getHandle(jobScheduleId(id)).describe();

  before(async function () {
    client = (await testTemporal()).client;
    t = await createTestDatabase();
    api = adminApi(t, client, TASK_QUEUE);
    const created = await api('POST', '/api/jobs', { id, name: id, schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(created.status, 201, await created.clone().text());
  });
  after(async function () {
    await client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await t?.close();
  });

  it('a schedule in line with its job is left alone', async function () {
    const r = await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE });
    assert.deepEqual(r.updated, []);
    assert.deepEqual(r.created, []);
  });

  it('a pause whose commit failed (API answered 5xx, schedule paused): the reconcile resumes the schedule of the enabled job', async function () {
    // The commit of the next change to `jobs` fails, after the Temporal call (the transaction's last step).
    await sql`CREATE FUNCTION drift_fail_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'commit lost'; END $$`.execute(t.db);
    await sql`CREATE CONSTRAINT TRIGGER drift_fail_commit AFTER UPDATE ON jobs DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION drift_fail_commit()`.execute(t.db);
    const paused = await api('POST', `/api/jobs/${id}/pause`);
    await sql`DROP TRIGGER drift_fail_commit ON jobs`.execute(t.db);
    assert.ok(paused.status >= 500, `the pause failed (${paused.status})`);
    const row = await t.db.selectFrom('jobs').select('enabled').where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.enabled, true, 'the job is still enabled in Postgres');
    assert.equal((await describeIt()).state.paused, true, 'yet its schedule is paused: the job would never run again');

    const r = await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE });
    assert.deepEqual(r.updated, [id]);
    assert.equal((await describeIt()).state.paused, false, 'the schedule runs again, as the job says');
  });

  it('a spec changed in Temporal only, or runs started on another task queue, are put back; the periodic reconcile does it without a restart', async function () {
    const row = await t.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const job = { ...jobDefinitionSchema.parse(row.definition), id, enabled: true } as JobDefinition;
    // As an update whose commit was lost would leave it: a new interval, on an old task queue.
    await updateJobSchedule(client, { ...job, schedule: { ...job.schedule, interval: '5m' } }, { taskQueue: 'old-queue', deploymentId: await deploymentId(t.db) });
    assert.equal((await describeIt()).spec.intervals?.[0]?.every, 5 * 60_000);

    const keeper = keepSchedulesReconciled(client, t.db, logger, { taskQueue: TASK_QUEUE }, 3600);
    try {
      await keeper.first;
    } finally {
      await keeper.stop();
    }
    const d = await describeIt();
    assert.equal(d.spec.intervals?.[0]?.every, 60 * 60_000, 'the job says 1h');
    assert.equal(d.action.taskQueue, TASK_QUEUE, 'runs start where this deployment polls');
    assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [], 'and now they agree');
  });

  // Found in review: an edit in the Temporal UI keeps the action's memo (and so our digest of the job), and
  // only the memo was compared: a schedule set to fire every second stayed so while its job said every hour.
  it('a schedule edited by hand in Temporal, its memo kept (as the UI does), is put back: the interval, a cron, the action', async function () {
    const h = client.schedule.getHandle(jobScheduleId(id));
    await h.update((prev) => ({ ...prev, spec: { intervals: [{ every: '1s' }] } }));
    assert.equal((await describeIt()).spec.intervals?.[0]?.every, 1000);
    try {
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [id]);
    } finally {
      if ((await describeIt()).spec.intervals?.[0]?.every === 1000) await h.pause('the test stops the 1 s runs');
    }
    assert.equal((await describeIt()).spec.intervals?.[0]?.every, 60 * 60_000, 'the job says 1h');
    assert.equal((await describeIt()).state.paused, false);

    // A cron job: Temporal keeps its cron compiled into calendars; an edited day still shows.
    const cronId = `${id}-cron`;
    const made = await api('POST', '/api/jobs', { id: cronId, name: cronId, schedule: { cron: '0 3 * * MON' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(made.status, 201, await made.clone().text());
    const c = client.schedule.getHandle(jobScheduleId(cronId));
    try {
      const before = JSON.stringify((await c.describe()).spec);
      await c.update((prev) => ({ ...prev, spec: { cronExpressions: ['* * * * *'] } }));
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [cronId]);
      assert.equal(JSON.stringify((await c.describe()).spec), before);
      // Another job's id in the action: this schedule would run that job at this one's times.
      await c.update((prev) => ({ ...prev, action: { ...prev.action, args: [{ jobId: id }] } as typeof prev.action }));
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [cronId]);
      const action = (await c.describe()).action;
      assert.deepEqual(action.type === 'startWorkflow' ? action.args : undefined, [{ jobId: cronId }]);
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [], 'and then they agree');
    } finally {
      await c.delete().catch(() => undefined);
      await t.db.updateTable('jobs').set({ deleted_at: new Date() }).where('id', '=', cronId).execute();
    }
  });

  // Found in review: with no fingerprint stored (every job right after the upgrade), the schedule as it stood
  // was taken as ours, so an edit made in the Temporal UI before the upgrade was kept for good.
  it('a job saved before fingerprints were kept: its schedule is written from the job once, so an earlier hand edit is put back; a paused job stays paused', async function () {
    const h = client.schedule.getHandle(jobScheduleId(id));
    const fingerprintOf = async () => (await t.db.selectFrom('jobs').select('schedule_fingerprint').where('id', '=', id).executeTakeFirstOrThrow()).schedule_fingerprint;
    const forgetFingerprint = () => t.db.updateTable('jobs').set({ schedule_fingerprint: null }).where('id', '=', id).execute();

    // Not edited: it keeps running as it was, and its fingerprint is stored.
    await forgetFingerprint();
    const unedited = await describeIt();
    assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [], 'nothing to put back');
    const stored = await fingerprintOf();
    assert.match(stored ?? '', /^[0-9a-f]{32}$/);
    assert.equal(stored, scheduleFingerprint(await describeIt()));
    assert.deepEqual((await describeIt()).spec, unedited.spec);
    assert.deepEqual((await describeIt()).policies, unedited.policies);
    assert.equal((await describeIt()).state.paused, false);

    // Edited by hand before the upgrade (its memo kept, as the UI does): the interval and the overlap.
    await h.update((prev) => ({ ...prev, spec: { intervals: [{ every: '5m' }] }, policies: { ...prev.policies, overlap: 'ALLOW_ALL' } }));
    await forgetFingerprint();
    assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [id]);
    let d = await describeIt();
    assert.equal(d.spec.intervals?.[0]?.every, 60 * 60_000, 'the job says 1h');
    assert.equal(d.policies.overlap, 'SKIP');
    assert.equal(d.state.paused, false);
    assert.equal(await fingerprintOf(), scheduleFingerprint(d), 'the fingerprint of the rewritten schedule is stored');
    assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [], 'and now they agree');

    // A later hand edit is seen against the stored fingerprint.
    await h.update((prev) => ({ ...prev, policies: { ...prev.policies, overlap: 'ALLOW_ALL' } }));
    assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [id]);
    assert.equal((await describeIt()).policies.overlap, 'SKIP');

    // A paused job edited by hand: put back, and still paused.
    assert.equal((await api('POST', `/api/jobs/${id}/pause`)).status, 200);
    try {
      await h.update((prev) => ({ ...prev, spec: { intervals: [{ every: '5m' }] } }));
      await forgetFingerprint();
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, [id]);
      d = await describeIt();
      assert.equal(d.spec.intervals?.[0]?.every, 60 * 60_000);
      assert.equal(d.state.paused, true, 'the paused job stays paused');
      assert.equal(await fingerprintOf(), scheduleFingerprint(d));
      assert.deepEqual((await reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE })).updated, []);
      assert.equal((await describeIt()).state.paused, true);
    } finally {
      assert.equal((await api('POST', `/api/jobs/${id}/resume`)).status, 200);
    }
  });

  // Found in review: the first job whose turn failed (a schedule Temporal refuses for good) ended the whole
  // pass, at every pass: no later job's schedule was repaired, no orphan deleted.
  it("one job's failing turn is that job's: the jobs after it are still repaired; Temporal unreachable still ends the pass", async function () {
    const bad = `${id.replace('drift-', 'aaa-')}`; // listed before the others (by id)
    const missing = `${id}-missing`;
    for (const j of [bad, missing]) assert.equal((await api('POST', '/api/jobs', { id: j, name: j, schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' })).status, 201);
    await client.schedule.getHandle(jobScheduleId(missing)).delete();
    const failing = (err: Error) =>
      new Proxy(client, {
        get: (c, prop) =>
          prop !== 'schedule'
            ? Reflect.get(c, prop)
            : new Proxy(c.schedule, {
                get: (s, p) =>
                  p !== 'getHandle'
                    ? (Reflect.get(s, p) as unknown)
                    : (scheduleId: string) => {
                        const handle = s.getHandle(scheduleId);
                        if (scheduleId !== jobScheduleId(bad)) return handle;
                        return new Proxy(handle, { get: (h, q) => (q === 'describe' ? () => Promise.reject(err) : Reflect.get(h, q)) });
                      },
              }),
      }) as Client;
    try {
      const r = await reconcileSchedules(failing(new Error('refused for good')), t.db, logger, { taskQueue: TASK_QUEUE });
      assert.deepEqual(r.failed, [bad]);
      assert.deepEqual(r.created, [missing], 'the job after the failing one still got its schedule');
      await client.schedule.getHandle(jobScheduleId(missing)).delete();
      const unreachable = Object.assign(new Error('14 UNAVAILABLE: connection refused'), { code: 14 });
      await assert.rejects(reconcileSchedules(failing(unreachable), t.db, logger, { taskQueue: TASK_QUEUE }), /UNAVAILABLE/);
    } finally {
      for (const j of [bad, missing]) {
        await client.schedule.getHandle(jobScheduleId(j)).delete().catch(() => undefined);
        await t.db.updateTable('jobs').set({ deleted_at: new Date() }).where('id', '=', j).execute();
      }
    }
  });

  it('a resume that lands while a reconcile is going is not undone: the reconcile reads each job again under its lock', async function () {
    const paused = await api('POST', `/api/jobs/${id}/pause`);
    assert.equal(paused.status, 200, await paused.clone().text());
    assert.equal((await describeIt()).state.paused, true);
    let reconciling: ReturnType<typeof reconcileSchedules> | undefined;
    // The API's resume, step by step under the job's lock: the row, then the schedule, then the commit.
    // The reconcile starts in between: it lists the jobs before the commit (the job still paused there).
    await t.db.transaction().execute(async (trx) => {
      await lockJobId(trx, id);
      const row = await trx.selectFrom('jobs').select('definition').where('id', '=', id).forUpdate().executeTakeFirstOrThrow();
      await trx.updateTable('jobs').set({ enabled: true, definition: JSON.stringify({ ...(row.definition as object), enabled: true }) }).where('id', '=', id).execute();
      await client.schedule.getHandle(jobScheduleId(id)).unpause('resumed by the test');
      reconciling = reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE });
      // Unlocked, the reconcile read the paused row now, found the schedule running and paused it again.
      await new Promise((r) => setTimeout(r, 1500));
    });
    const r = await reconciling!;
    assert.deepEqual(r.updated, [], 'nothing to put back once the resume committed');
    assert.equal((await describeIt()).state.paused, false, 'the resume stands');
    assert.equal((await t.db.selectFrom('jobs').select('enabled').where('id', '=', id).executeTakeFirstOrThrow()).enabled, true);
  });

  it('a run the schedule starts while the job is paused is skipped; a manual trigger still runs', async function () {
    await t.db.updateTable('jobs').set({ enabled: false }).where('id', '=', id).execute();
    // One environment for `all` to reach (a job matching none is skipped for that reason instead).
    await t.db.insertInto('environments').values({ name: `${id}-env`, labels: '{}', agent_task_queue: null, maintenance_windows: '[]', ssh: null }).execute();
    const jobs = createJobActivities({ db: t.db, logger, env: {} });
    const scheduled = await jobs.resolveJobTargets({ jobId: id, trigger: 'schedule' });
    assert.ok('skipped' in scheduled && /is paused/.test(scheduled.skipped), JSON.stringify(scheduled));
    const manual = await jobs.resolveJobTargets({ jobId: id, trigger: 'manual' });
    assert.ok(!('skipped' in manual), `a run asked for by hand is not refused: ${JSON.stringify(manual)}`);
    await t.db.updateTable('jobs').set({ enabled: true }).where('id', '=', id).execute();
  });
});
