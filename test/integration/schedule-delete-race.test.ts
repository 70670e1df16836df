// A trigger or a backfill reads its job, then asks Temporal; when the job's schedule is missing there, it is
// recreated from the job first (Temporal lost it, or it was never made). A DELETE landing in between used to
// lose: the trigger had read the job before the DELETE committed, found the schedule the DELETE had just
// removed missing, and recreated it from that stale row, so a deleted job's schedule fired again for good.
// The job is now read again under its lock before a schedule is recreated: the DELETE is waited for, and the
// trigger answers 404. The DELETE is played here step by step under the job's lock, as the API does it.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import { deleteJob, lockJobId } from '../../src/db/repositories/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal } from '../helpers/temporal.js';

const TASK_QUEUE = 'schedule-delete-race';

describe('a trigger or backfill racing a DELETE does not bring the deleted job back', function () {
  let client: Client;
  let t: TestDatabase;
  let api: AdminApi;
  const made: string[] = [];

  before(async function () {
    client = (await testTemporal()).client;
    t = await createTestDatabase();
    api = adminApi(t, client, TASK_QUEUE);
  });
  after(async function () {
    for (const id of made) await client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await t?.close();
  });

  const createJob = async (): Promise<string> => {
    const id = `race-${randomBytes(3).toString('hex')}`;
    const res = await api('POST', '/api/jobs', { id, name: id, schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(res.status, 201, await res.clone().text());
    made.push(id);
    return id;
  };
  const scheduleExists = (id: string) =>
    client.schedule
      .getHandle(jobScheduleId(id))
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof ScheduleNotFoundError) return false;
          throw err;
        },
      );

  for (const [what, request] of [
    ['a trigger', (id: string) => api('POST', `/api/jobs/${id}/trigger`)],
    ['a backfill', (id: string) => api('POST', `/api/jobs/${id}/backfill`, { start: new Date(Date.now() - 3 * 3_600_000).toISOString(), end: new Date().toISOString() })],
  ] as const) {
    it(`${what} that read the job before the DELETE committed answers 404 and recreates no schedule`, async function () {
      const id = await createJob();
      let racing: Promise<Response> | undefined;
      // The DELETE: the job's lock, its row marked deleted, its schedule removed, then (1.5 s later) the commit.
      await t.db.transaction().execute(async (trx) => {
        await lockJobId(trx, id);
        assert.ok(await deleteJob(trx, id));
        await client.schedule.getHandle(jobScheduleId(id)).delete();
        racing = request(id);
        await new Promise((r) => setTimeout(r, 1500));
      });
      const res = await racing!;
      assert.equal(res.status, 404, await res.clone().text());
      assert.match(((await res.json()) as { detail: string }).detail, new RegExp(`job ${id} is not known`));
      assert.equal(await scheduleExists(id), false, `the deleted job's schedule was recreated by ${what}`);
    });
  }

  it('a schedule missing while its job stands is still recreated by a trigger', async function () {
    const id = await createJob();
    await client.schedule.getHandle(jobScheduleId(id)).delete();
    const res = await api('POST', `/api/jobs/${id}/trigger`);
    assert.equal(res.status, 202, await res.clone().text());
    assert.equal(await scheduleExists(id), true);
  });
});
