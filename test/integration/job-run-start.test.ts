// A job run's start is recorded under its workflow id, unless another execution of that workflow id holds it:
// Temporal starts a backfilled or triggered run of a schedule with the id of a closed one (a backfill over a
// time the schedule already ran). That execution is a run of its own, `<workflow id>@<run id>`, the first
// run's row left as it was; a retried write answers the id it wrote and adds nothing. The whole path, with a
// script at a real agent and its failure notice, is in test/e2e/jobs-backfill-again.test.ts.
import assert from 'node:assert/strict';
import { insertJobRunStart } from '../../src/db/repositories/job-runs.js';
import { jobRunExecution } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('a job run is recorded once per execution of its workflow', function () {
  let t: TestDatabase;
  const wf = 'jobrun-nightly-2026-12-06T05:00:00Z';
  const start = (runId: string, temporalStartedAt: Date | null = null) => insertJobRunStart(t.db, { id: wf, runId, jobId: 'nightly', trigger: 'schedule', scheduledAt: '2026-12-06T05:00:00Z', temporalStartedAt });
  const rows = () => t.db.selectFrom('job_runs').select(['id', 'run_id', 'status']).orderBy('id').execute();

  before(async function () {
    t = await createTestDatabase();
  });

  after(async function () {
    await t?.close();
  });

  it('the first execution is its workflow id, a retry of it the same row', async function () {
    assert.equal(await start('run-1'), wf);
    assert.equal(await start('run-1'), wf);
    assert.deepEqual(await rows(), [{ id: wf, run_id: 'run-1', status: 'running' }]);
  });

  it('a later execution of that workflow id is a run of its own, named by its run id; its retry adds nothing', async function () {
    await t.db.updateTable('job_runs').set({ status: 'succeeded', finished_at: new Date() }).where('id', '=', wf).execute();
    assert.equal(await start('run-2'), `${wf}@run-2`);
    assert.equal(await start('run-2'), `${wf}@run-2`);
    assert.equal(await start('run-3'), `${wf}@run-3`);
    assert.deepEqual(await rows(), [
      { id: wf, run_id: 'run-1', status: 'succeeded' },
      { id: `${wf}@run-2`, run_id: 'run-2', status: 'running' },
      { id: `${wf}@run-3`, run_id: 'run-3', status: 'running' },
    ]);
  });

  it("the start's time by Temporal's clock is the first write's; a row an earlier run's claim wrote for that execution takes it", async function () {
    const id = 'jobrun-hourly-2026-12-06T06:00:00Z';
    const [first, retry] = [new Date('2026-12-06T06:03:00Z'), new Date('2026-12-06T06:09:00Z')];
    const write = (runId: string, at: Date) => insertJobRunStart(t.db, { id, runId, jobId: 'hourly', trigger: 'schedule', scheduledAt: '2026-12-06T06:00:00Z', temporalStartedAt: at });
    const stamp = async (rowId: string) => (await t.db.selectFrom('job_runs').select('temporal_started_at').where('id', '=', rowId).executeTakeFirstOrThrow()).temporal_started_at;
    // An earlier run of the catch-up claimed this execution before it recorded its start (insertClaimedJobRun).
    await t.db.insertInto('job_runs').values({ id, run_id: 'run-a', job_id: 'hourly', trigger: 'schedule', status: 'running', scheduled_at: '2026-12-06T06:00:00Z', catch_up_decision: 'claimed' }).execute();
    assert.equal(await stamp(id), null);
    assert.equal(await write('run-a', first), id);
    assert.deepEqual(await stamp(id), first);
    assert.equal(await write('run-a', retry), id);
    assert.deepEqual(await stamp(id), first, "a retried start record keeps the first attempt's time");
    // Another execution of that workflow id: its own row and time, the first row's left as it was.
    await t.db.updateTable('job_runs').set({ status: 'succeeded' }).where('id', '=', id).execute();
    assert.equal(await write('run-b', retry), `${id}@run-b`);
    assert.deepEqual([await stamp(id), await stamp(`${id}@run-b`)], [first, retry]);
  });

  it('the id names the Temporal execution it is', function () {
    assert.deepEqual(jobRunExecution(wf), { workflowId: wf });
    assert.deepEqual(jobRunExecution(`${wf}@run-2`), { workflowId: wf, runId: 'run-2' });
  });
});
