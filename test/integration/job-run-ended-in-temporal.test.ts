// The worker's pass that records runs whose Temporal execution ended without recording it
// (src/temporal/ended-job-runs.ts, whole path with real Temporal in test/e2e/jobs-ended-in-temporal.test.ts)
// writes a row only while it still says `running`: the run's own workflow may record its end between the pass
// reading the row and writing it (an execution that completed after finishing its run), and that record is
// the run's real outcome.
import assert from 'node:assert/strict';
import { finishJobRunLeftRunning } from '../../src/db/repositories/job-runs.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('a run recorded ended by the pass is written only while it is still running', function () {
  let t: TestDatabase;

  before(async function () {
    t = await createTestDatabase();
  });

  after(async function () {
    await t?.close();
  });

  it('a run its workflow finished meanwhile keeps its own finish; one still running is written', async function () {
    const finishedAt = new Date('2026-12-06T05:01:00Z');
    await t.db
      .insertInto('job_runs')
      .values([
        { id: 'jobrun-a', run_id: 'r-a', job_id: 'a', trigger: 'schedule', status: 'succeeded', scheduled_at: null, finished_at: finishedAt, summary: JSON.stringify({ total: 1, succeeded: 1 }) },
        { id: 'jobrun-b', run_id: 'r-b', job_id: 'b', trigger: 'schedule', status: 'running', scheduled_at: null },
      ])
      .execute();
    const ended = { status: 'failed', summary: { reason: 'terminated' }, at: new Date('2026-12-06T06:00:00Z') };
    assert.equal(await finishJobRunLeftRunning(t.db, 'jobrun-a', ended), false);
    assert.equal(await finishJobRunLeftRunning(t.db, 'jobrun-b', ended), true);
    const rows = await t.db.selectFrom('job_runs').select(['id', 'status', 'summary', 'finished_at']).orderBy('id').execute();
    assert.deepEqual(
      rows.map((r) => [r.id, r.status, r.summary, new Date(r.finished_at!).toISOString()]),
      [
        ['jobrun-a', 'succeeded', { total: 1, succeeded: 1 }, finishedAt.toISOString()],
        ['jobrun-b', 'failed', { reason: 'terminated' }, ended.at.toISOString()],
      ],
    );
  });
});
