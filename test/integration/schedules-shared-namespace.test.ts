// Two deployments (two databases) sharing one Temporal namespace on one real dev server, as a staging and a
// production stack sharing a namespace, or a test stack joining a shared dev server. Each reconciles only
// the job schedules it created: it repairs its own missing ones, deletes its own orphans, and leaves the
// other's schedules and unmarked (pre-marker) ones alone. A job id the other already schedules is refused.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ScheduleNotFoundError, type Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { openDatabase } from '../../src/db/connect.js';
import type { Database } from '../../src/db/database.js';
import { deploymentId } from '../../src/db/repositories/deployment.js';
import { jobDefinitionSchema, type JobDefinition } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { DEPLOYMENT_MEMO_KEY, jobScheduleId } from '../../src/temporal/names.js';
import { ensureRetentionSchedule, RETENTION_SCHEDULE_ID, retentionScheduleId } from '../../src/temporal/retention.js';
import { createJobSchedule, jobScheduleOptions, reconcileSchedules } from '../../src/temporal/schedules.js';
import { adminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

const logger = createLogger({ level: 'silent' });
const TASK_QUEUE = 'schedules-shared-namespace';

describe('job schedules of two deployments sharing a Temporal namespace', function () {
  let client: Client;
  let a: TestDatabase;
  let b: TestDatabase;
  let idA: string;
  let idB: string;
  const run = randomBytes(3).toString('hex');
  const job = (name: string): JobDefinition =>
    ({ ...jobDefinitionSchema.parse({ name: `${run} ${name}`, schedule: { interval: '12h' }, targets: { all: true }, script: 'probe.sh' }), id: `shared-${run}-${name}` }) as JobDefinition;
  const ids: string[] = [];

  const insertJob = (db: Kysely<Database>, j: JobDefinition) =>
    db.insertInto('jobs').values({ id: j.id, name: j.name, definition: JSON.stringify(j), enabled: true, schedule_id: jobScheduleId(j.id) }).execute();
  const memoOf = async (jobId: string) => (await client.schedule.getHandle(jobScheduleId(jobId)).describe()).memo;
  const exists = async (jobId: string) => {
    try {
      await client.schedule.getHandle(jobScheduleId(jobId)).describe();
      return true;
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) return false;
      throw err;
    }
  };
  /** Schedule listing is eventually consistent: wait until every one of `jobIds` is listed. */
  const listed = (jobIds: string[]) =>
    eventually(async () => {
      const seen = new Set<string>();
      for await (const s of client.schedule.list()) seen.add(s.scheduleId);
      return jobIds.every((j) => seen.has(jobScheduleId(j)));
    }, 30_000, 'the schedules to be listed');
  const apiOf = (db: TestDatabase) => adminApi(db, client, TASK_QUEUE);

  const [aLive, aOrphan, aMissing, bLive, bOrphan, legacy] = ['a-live', 'a-orphan', 'a-missing', 'b-live', 'b-orphan', 'legacy'].map(job) as [JobDefinition, JobDefinition, JobDefinition, JobDefinition, JobDefinition, JobDefinition];

  before(async function () {
    client = (await testTemporal()).client;
    a = await createTestDatabase();
    b = await createTestDatabase();
    idA = await deploymentId(a.db);
    idB = await deploymentId(b.db);
  });

  after(async function () {
    for (const j of ids) await client.schedule.getHandle(jobScheduleId(j)).delete().catch(() => undefined);
  });

  it('each database has its own deployment id, made once and read back the same by every process', async function () {
    assert.match(idA, /^[0-9a-f-]{36}$/);
    assert.notEqual(idA, idB);
    // Another process (another pool on the same database) reads the same id; concurrent first reads agree.
    const other = await openDatabase({ url: a.url, dataDir: '', poolSize: 2 });
    try {
      assert.deepEqual(await Promise.all([deploymentId(other.db), deploymentId(other.db)]), [idA, idA]);
    } finally {
      await other.close();
    }
    const fresh = await createTestDatabase();
    const other2 = await openDatabase({ url: fresh.url, dataDir: '', poolSize: 4 });
    try {
      const [x, y] = await Promise.all([deploymentId(fresh.db), deploymentId(other2.db)]);
      assert.equal(x, y, 'two processes starting at once agree on one id');
      assert.equal((await fresh.db.selectFrom('deployment').select('id').execute()).length, 1);
    } finally {
      await other2.close();
      await fresh.close();
    }
  });

  it("reconcile repairs and prunes its own schedules and leaves the other deployment's and unmarked ones alone", async function () {
    ids.push(aLive.id, aOrphan.id, aMissing.id, bLive.id, bOrphan.id, legacy.id);
    // A: a live job with its schedule, an orphaned schedule (its job is gone), a job whose schedule is missing.
    await insertJob(a.db, aLive);
    await createJobSchedule(client, aLive, { taskQueue: TASK_QUEUE, deploymentId: idA });
    await createJobSchedule(client, aOrphan, { taskQueue: TASK_QUEUE, deploymentId: idA });
    await insertJob(a.db, aMissing);
    // B: a live job with its schedule, and an orphan of its own.
    await insertJob(b.db, bLive);
    await createJobSchedule(client, bLive, { taskQueue: TASK_QUEUE, deploymentId: idB });
    await createJobSchedule(client, bOrphan, { taskQueue: TASK_QUEUE, deploymentId: idB });
    // A schedule made before deployment markers existed: no deployment in its memo.
    const unmarked = jobScheduleOptions(legacy, { taskQueue: TASK_QUEUE, deploymentId: 'x' });
    await client.schedule.create({ ...unmarked, memo: { jobId: legacy.id, jobName: legacy.name } });
    await listed([aLive.id, aOrphan.id, bLive.id, bOrphan.id, legacy.id]);

    const ra = await reconcileSchedules(client, a.db, logger, { taskQueue: TASK_QUEUE });
    const mine = (list: string[]) => list.filter((j) => j.startsWith(`shared-${run}-`)).sort();
    assert.deepEqual(mine(ra.created), [aMissing.id]);
    assert.deepEqual(mine(ra.deleted), [aOrphan.id]);
    assert.deepEqual(mine(ra.keptUnowned), [bLive.id, bOrphan.id, legacy.id].sort());
    assert.deepEqual(mine(ra.conflicts), []);
    assert.equal(await exists(aOrphan.id), false, "A's orphan is deleted");
    for (const j of [aLive, aMissing, bLive, bOrphan, legacy]) assert.equal(await exists(j.id), true, `${j.id} is kept`);
    assert.equal((await memoOf(aMissing.id))?.[DEPLOYMENT_MEMO_KEY], idA, 'the repaired schedule is marked as A');
    assert.equal((await memoOf(bLive.id))?.[DEPLOYMENT_MEMO_KEY], idB);

    // B's turn: it deletes its own orphan and touches none of A's.
    await listed([aLive.id, aMissing.id]);
    const rb = await reconcileSchedules(client, b.db, logger, { taskQueue: TASK_QUEUE });
    assert.deepEqual(mine(rb.deleted), [bOrphan.id]);
    assert.deepEqual(mine(rb.created), []);
    assert.deepEqual(mine(rb.keptUnowned), [aLive.id, aMissing.id, legacy.id].sort());
    for (const j of [aLive, aMissing, bLive, legacy]) assert.equal(await exists(j.id), true, `${j.id} is kept`);
    assert.equal(await exists(bOrphan.id), false);
  });

  it("a job id the other deployment already schedules is refused (409), and its schedule is neither changed nor deleted", async function () {
    const apiB = apiOf(b);
    const before = await client.schedule.getHandle(jobScheduleId(aLive.id)).describe();
    const res = await apiB('POST', '/api/jobs', { id: aLive.id, name: `${run} clash`, schedule: { cron: '0 3 * * *' }, targets: { all: true }, script: 'other.sh' });
    assert.equal(res.status, 409, await res.clone().text());
    assert.match(((await res.json()) as { detail: string }).detail, /belongs to another Self-healing deployment/);
    assert.equal(await b.db.selectFrom('jobs').select('id').where('id', '=', aLive.id).executeTakeFirst(), undefined, 'nothing half-written in B');
    const after = await client.schedule.getHandle(jobScheduleId(aLive.id)).describe();
    assert.deepEqual(after.spec, before.spec, "A's schedule keeps its spec");
    assert.equal(after.memo?.[DEPLOYMENT_MEMO_KEY], idA);

    // A row for the same id in B (say, from before the marker): reconcile reports the clash, and deleting
    // B's job removes B's row only.
    await insertJob(b.db, { ...aLive, name: `${run} clash` });
    const rb = await reconcileSchedules(client, b.db, logger, { taskQueue: TASK_QUEUE });
    assert.deepEqual(rb.conflicts.filter((j) => j === aLive.id), [aLive.id]);
    const del = await apiB('DELETE', `/api/jobs/${aLive.id}`);
    assert.equal(del.status, 204, await del.clone().text());
    assert.equal(await exists(aLive.id), true, "A's schedule survives B deleting its job of the same id");

    // A itself still manages its own: its API updates and deletes the schedule.
    const apiA = apiOf(a);
    const put = await apiA('PUT', `/api/jobs/${aLive.id}`, { ...aLive, schedule: { interval: '6h' } });
    assert.equal(put.status, 200, await put.clone().text());
    const delA = await apiA('DELETE', `/api/jobs/${aLive.id}`);
    assert.equal(delA.status, 204, await delA.clone().text());
    assert.equal(await exists(aLive.id), false);
  });

  it('each deployment, on its own task queue, keeps its own history-retention schedule: a second worker does not take the first one over', async function () {
    const prod = `prod-${run}`;
    const staging = `staging-${run}`;
    try {
      await ensureRetentionSchedule(client, { taskQueue: prod, retentionDays: 90 });
      await ensureRetentionSchedule(client, { taskQueue: staging, retentionDays: 7 });
      const of = async (queue: string) => {
        const d = await client.schedule.getHandle(retentionScheduleId(queue)).describe();
        assert.equal(d.action.type, 'startWorkflow');
        return { queue: d.action.taskQueue, days: (d.action.args?.[0] as { retentionDays: number }).retentionDays };
      };
      assert.notEqual(retentionScheduleId(prod), retentionScheduleId(staging));
      assert.deepEqual(await of(prod), { queue: prod, days: 90 }, "production's history is still purged, by its own worker, after its own retention");
      assert.deepEqual(await of(staging), { queue: staging, days: 7 });
      assert.equal(retentionScheduleId('selfheal'), RETENTION_SCHEDULE_ID, 'the default task queue keeps the original id');
    } finally {
      for (const q of [prod, staging]) await client.schedule.getHandle(retentionScheduleId(q)).delete().catch(() => undefined);
    }
  });
});
