// A job may not fire more often than once a minute (each run starts its script on every environment it
// targets). The API refuses such an interval when a job is saved; this attacks the jobs stored before that
// rule: one whose Temporal Schedule still fires every 10 s. The worker's reconcile holds its schedule
// paused, a run the schedule starts anyway does nothing, resuming or backfilling it is refused (409), a
// run asked for by hand still runs, and editing the interval releases it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { createJobActivities } from '../../activities/jobs.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { reconcileSchedules } from '../../src/temporal/schedules.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

const logger = createLogger({ level: 'silent' });
const TASK_QUEUE = 'schedule-minimum';

describe('a job stored with an interval under the minimum is held', function () {
  let client: Client;
  let t: TestDatabase;
  const id = `held-${randomBytes(3).toString('hex')}`;
  let api: AdminApi;
  const handle = () => client.schedule.getHandle(jobScheduleId(id));
  const job = (interval: string) => ({ id, name: id, schedule: { interval }, targets: { all: true }, script: 'probe.sh' });
  const reconcile = () => reconcileSchedules(client, t.db, logger, { taskQueue: TASK_QUEUE });
  /** Workflow ids of the runs started for the job (by its schedule or by hand). */
  const runIds = async () => {
    const ids: string[] = [];
    for await (const w of client.workflow.list({ query: `SelfhealJobId = '${id}'` })) ids.push(w.workflowId);
    return ids;
  };

  before(async function () {
    client = (await testTemporal()).client;
    t = await createTestDatabase();
    api = adminApi(t, client, TASK_QUEUE);
    const created = await api('POST', '/api/jobs', job('1h'));
    assert.equal(created.status, 201, await created.clone().text());
    await t.db.insertInto('environments').values({ name: `${id}-env`, labels: '{}', agent_task_queue: null, maintenance_windows: '[]', ssh: null }).execute();

    // As a job saved before the minimum stands: its row says every 10 s, and so does its running schedule.
    await sql`update jobs set definition = jsonb_set(definition, '{schedule,interval}', '"10s"') where id = ${id}`.execute(t.db);
    await handle().update((prev) => ({ ...prev, spec: { intervals: [{ every: '10s' }] }, state: { paused: false } }));
    assert.equal((await handle().describe()).state.paused, false);
  });
  after(async function () {
    for (const w of await runIds().catch(() => [])) await client.workflow.getHandle(w).terminate('test over').catch(() => undefined);
    await handle().delete().catch(() => undefined);
    await t?.close();
  });

  it('the reconcile pauses its schedule and says why; the next reconcile changes nothing', async function () {
    const first = await reconcile();
    assert.deepEqual(first.held, [id]);
    assert.deepEqual(first.updated, [id], 'the running schedule was changed');
    const d = await handle().describe();
    assert.equal(d.state.paused, true);
    assert.match(d.state.note ?? '', /^held by Self-healing: schedule\.interval "10s" fires more often than once every 60s/);

    const again = await reconcile();
    assert.deepEqual(again.held, [id]);
    assert.deepEqual(again.updated, [], 'a held schedule is not drift');
  });

  it('a run its schedule starts anyway does nothing; a run asked for by hand runs', async function () {
    const jobs = createJobActivities({ db: t.db, logger, env: {} });
    const scheduled = await jobs.resolveJobTargets({ jobId: id, trigger: 'schedule' });
    assert.ok('skipped' in scheduled && /held by Self-healing/.test(scheduled.skipped), JSON.stringify(scheduled));
    const manual = await jobs.resolveJobTargets({ jobId: id, trigger: 'manual' });
    assert.ok(!('skipped' in manual) && manual.targets.length === 1, JSON.stringify(manual));
  });

  it('resume and backfill are refused with 409, naming the interval; nothing changes in Temporal', async function () {
    // The old schedule may have fired once before the first reconcile held it: compare with what was there.
    const runsBefore = await runIds();
    const resumed = await api('POST', `/api/jobs/${id}/resume`);
    assert.equal(resumed.status, 409);
    assert.equal(resumed.headers.get('content-type'), 'application/problem+json');
    assert.match(((await resumed.json()) as { detail: string }).detail, /not resumed: its schedule is held by Self-healing: schedule\.interval "10s"/);

    const backfill = await api('POST', `/api/jobs/${id}/backfill`, { start: new Date(Date.now() - 60_000).toISOString(), end: new Date().toISOString() });
    assert.equal(backfill.status, 409);
    assert.match(((await backfill.json()) as { detail: string }).detail, /nothing was backfilled, its schedule is held/);

    assert.equal((await handle().describe()).state.paused, true);
    assert.deepEqual(await runIds(), runsBefore, 'no run was started');
  });

  it('a trigger by hand starts one run outside the schedule', async function () {
    const triggered = await api('POST', `/api/jobs/${id}/trigger`);
    assert.equal(triggered.status, 202, await triggered.clone().text());
    // Started by hand (its id says so), so the worker does not skip it as a run of the held schedule.
    const manual = async () => (await runIds()).filter((w) => w.startsWith(`jobrun-${id}-manual-`));
    // Temporal lists a started run once its visibility record is written, which lags the start: it was
    // looked for 50 times 100 ms, and a loaded machine (Temporal, Postgres and the test on two cores) let
    // five seconds pass before it was listed. A run listed is then counted: exactly one.
    const ids = await eventually(async () => {
      const listed = await manual();
      return listed.length > 0 && listed;
    }, 60_000, 'the run started by hand, listed in Temporal');
    assert.equal(ids.length, 1);
    assert.equal((await handle().describe()).state.paused, true, 'the schedule stays held');
  });

  it('editing the interval to a minute or more releases the schedule', async function () {
    const edited = await api('PUT', `/api/jobs/${id}`, job('5m'));
    assert.equal(edited.status, 200, await edited.clone().text());
    const d = await handle().describe();
    assert.equal(d.state.paused, false);
    assert.equal(d.state.note, `job ${id}`);
    const after = await reconcile();
    assert.deepEqual([after.held, after.updated], [[], []]);
  });
});
