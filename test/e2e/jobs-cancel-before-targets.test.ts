// A job run cancelled before it started a target (found in a read-only review). `overlap: cancel_other` has
// Temporal cancel the run going when the next one is due, and an SRE may cancel a run from Temporal; only a
// cancel reaching the run while its targets ran was recorded. One reaching it while it recorded its start
// (recordJobRunStart) or resolved its targets (resolveJobTargets) cancelled that activity and closed the run
// at once: its job_runs row, written by the start record, stayed `running` forever, and the runs list said
// so. The run now records itself `cancelled`, with a reason, wherever the cancel reaches it
// (workflows/job.ts, JOB_START_CANCEL_PATCH).
//
// Each activity is held where it reads or writes: a transaction of the test holds an exclusive lock on the
// table it needs (job_runs for the start record, environments for the targets), the run is cancelled once
// its workflow took the cancel in, and the lock is then released.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { WORKFLOW_TYPES } from '../../src/contracts/index.js';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { jobRunWorkflowIdPrefix } from '../../src/temporal/schedules.js';
import { cancelTakenIn, eventually, startStack, type Stack } from '../helpers/stack.js';

const ENV = 'cancel-before-targets';

describe('a job run cancelled before it started a target is recorded cancelled', function () {
  this.timeout(120_000);
  let stack: Stack;
  const jobIds: string[] = [];

  before(async function () {
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: ENV }) });
    assert.equal(res.status, 201, await res.text());
  });
  after(async function () {
    for (const id of jobIds) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await stack?.stop();
  });

  /**
   * Starts a run of a new job while `table` is locked, cancels it once `activity` waits on the lock and the
   * workflow took the cancel in, then releases the lock; answers the run's row once the run closed and its
   * start record ended, and the run as the API lists it.
   */
  async function cancelWhileHeld(table: 'job_runs' | 'environments', activity: 'recordJobRunStart' | 'resolveJobTargets') {
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ name: `cancel at ${activity}`, schedule: { interval: '6h', overlap: 'cancel_other' }, targets: { environments: [ENV] }, via: 'agent', script: 'probe.sh' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const jobId = ((await res.json()) as { id: string }).id;
    jobIds.push(jobId);
    const workflowId = `${jobRunWorkflowIdPrefix(jobId)}-manual-${randomBytes(4).toString('hex')}`;

    const locker = new pg.Client({ connectionString: stack.db.url });
    await locker.connect();
    let held = false;
    try {
      await locker.query('BEGIN');
      await locker.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      held = true;
      const handle = await stack.temporal.client.workflow.start(WORKFLOW_TYPES.job, { workflowId, taskQueue: stack.taskQueue, args: [{ jobId }] });
      await eventually(
        async () => (await handle.describe()).raw.pendingActivities?.some((a) => a.activityType?.name === activity && a.lastStartedTime) === true,
        30_000,
        `${activity} to wait on the lock of ${table}`,
      );
      await handle.cancel();
      // The workflow took the cancel in (a workflow task completed after it) while the activity still waits.
      await cancelTakenIn(handle);
      await locker.query('ROLLBACK');
      held = false;
      await eventually(async () => (await handle.describe()).status.name !== 'RUNNING', 30_000, 'the run to close');
      const closedAs = (await handle.describe()).status.name;
      // The start record runs to its end even when its run closed first (it does not heartbeat).
      const row = await eventually(() => stack.db.db.selectFrom('job_runs').selectAll().where('job_id', '=', jobId).executeTakeFirst(), 30_000, 'the start record');
      const list = (await (await stack.api(`/api/jobs/${jobId}/runs`)).json()) as { items: { id: string; status: string; summary: JobRunSummary | null }[] };
      return { workflowId, closedAs, row, listed: list.items };
    } finally {
      if (held) await locker.query('ROLLBACK').catch(() => undefined);
      await locker.end();
    }
  }

  for (const [table, activity] of [
    ['job_runs', 'recordJobRunStart'],
    ['environments', 'resolveJobTargets'],
  ] as const) {
    it(`cancelled while ${activity} runs: the run is recorded cancelled, with a reason, and listed so`, async function () {
      const { workflowId, closedAs, row, listed } = await cancelWhileHeld(table, activity);
      const detail = `run closed ${closedAs} in Temporal; its row: ${JSON.stringify({ id: row.id, status: row.status, finished_at: row.finished_at, summary: row.summary })}`;
      assert.equal(closedAs, 'CANCELLED', detail);
      assert.equal(row.id, workflowId, detail);
      assert.equal(row.status, 'cancelled', `a cancelled run should not stay running; ${detail}`);
      assert.ok(row.finished_at, detail);
      assert.match((row.summary as JobRunSummary).reason ?? '', /cancelled .*before it resolved its targets; no target was started/, detail);
      assert.deepEqual(
        listed.map((r) => ({ id: r.id, status: r.status })),
        [{ id: workflowId, status: 'cancelled' }],
        'the runs list (and the dashboard, which reads it) says cancelled',
      );
      // Nothing was started on the target.
      assert.equal((await stack.db.db.selectFrom('job_target_results').select('environment').where('job_run_id', '=', workflowId).execute()).length, 0);
    });
  }
});
