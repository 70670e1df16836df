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
  const start = (runId: string) => insertJobRunStart(t.db, { id: wf, runId, jobId: 'nightly', trigger: 'schedule', scheduledAt: '2026-12-06T05:00:00Z' });
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

  it('the id names the Temporal execution it is', function () {
    assert.deepEqual(jobRunExecution(wf), { workflowId: wf });
    assert.deepEqual(jobRunExecution(`${wf}@run-2`), { workflowId: wf, runId: 'run-2' });
  });
});
