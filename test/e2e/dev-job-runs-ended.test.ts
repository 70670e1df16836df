// `npm start` (src/dev.ts: the API and the worker in one process) runs the worker's job-schedule pass as
// src/worker.ts does (keepJobSchedulesReconciled): at start and every SELFHEAL_SCHEDULE_RECONCILE_SECONDS, a
// run whose Temporal execution ended without recording its end is recorded ended. Before, npm start
// reconciled the schedules once at start and never ran the pass: a run terminated from the Temporal UI stayed
// `running` for ever in the runs list, the CLI and the dashboard.
//
// The run here waits on an agent that never answers (no agent polls its environment; a pickup time of an
// hour), so it stays `running` until its workflow is terminated.
import assert from 'node:assert/strict';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startDev } from '../helpers/dev.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

const ENV = 'dev-ended-in-temporal';

describe('npm start records a job run whose workflow ended in Temporal as ended, as the worker does', function () {
  this.timeout(300_000);
  let temporal: TestTemporal;
  let db: TestDatabase;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
  });

  it('a run terminated in Temporal while npm start runs is listed failed, saying so', async function () {
    const dev = await startDev({ temporal, db }, 'dev-ended', { SELFHEAL_SCHEDULE_RECONCILE_SECONDS: '10' });
    const api = dev.api;
    let jobId: string | undefined;
    try {
      const env = await api('/api/environments', { method: 'POST', body: JSON.stringify({ name: ENV }) });
      assert.equal(env.status, 201, await env.text());
      const res = await api('/api/jobs', {
        method: 'POST',
        body: JSON.stringify({ name: 'terminated under npm start', enabled: false, schedule: { interval: '6h' }, targets: { environments: [ENV] }, via: 'agent', script: 'never.sh', agentPickupTimeoutSeconds: 3600 }),
      });
      assert.equal(res.status, 201, await res.clone().text());
      jobId = ((await res.json()) as { id: string }).id;
      const trig = await api(`/api/jobs/${jobId}/trigger`, { method: 'POST' });
      assert.equal(trig.status, 202, await trig.clone().text());
      const workflowId = ((await trig.json()) as { runId: string }).runId;
      const row = await eventually(async () => db.db.selectFrom('job_runs').selectAll().where('id', '=', workflowId).executeTakeFirst(), 30_000, 'the run recorded');
      assert.equal(row.status, 'running');

      // Terminated from outside (the Temporal UI), and going for a while: past the pass's grace for a run just started.
      await temporal.client.workflow.getHandle(workflowId, row.run_id!).terminate('test');
      await db.db.updateTable('job_runs').set({ started_at: new Date(Date.now() - 10 * 60_000) }).where('id', '=', workflowId).execute();

      const ended = await eventually(
        async () => {
          const r = await db.db.selectFrom('job_runs').selectAll().where('id', '=', workflowId).executeTakeFirst();
          return r && r.status !== 'running' ? r : undefined;
        },
        90_000,
        "npm start's job-schedule pass to record the terminated run ended",
      );
      assert.equal(ended.status, 'failed');
      assert.match((ended.summary as JobRunSummary).reason ?? '', /terminated in Temporal .* before it recorded its end/);
      const listed = await api(`/api/jobs/${jobId}/runs`);
      const run = ((await listed.json()) as { items: { id: string; status: string }[] }).items.find((r) => r.id === workflowId);
      assert.equal(run?.status, 'failed', 'the runs list shows it failed');
    } finally {
      await dev.stop();
      if (jobId) await temporal.client.schedule.getHandle(jobScheduleId(jobId)).delete().catch(() => undefined);
    }
  });
});
