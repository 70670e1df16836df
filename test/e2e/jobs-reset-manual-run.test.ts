// The overlap check asks Temporal about the execution a `running` row recorded, not the latest execution of
// its workflow id (found in a read-only review). A run ended from outside records nothing: its row stays
// `running`, which the check tolerates by asking Temporal. But a later execution of the same workflow id
// (recorded `<workflow id>@<run id>`, insertJobRunStart) found the ended run's row, asked about that workflow
// id's latest execution, which is itself, was told it was running, and skipped itself ("run … is still in
// progress and the job's overlap policy is skip"). It now asks about the stored run id (job_runs.run_id,
// jobRunInProgress): the ended execution is closed, and the later one runs.
//
// A run the schedule starts (a backfill over the time of a terminated run, say) counts only runs started by
// hand, whose workflow ids are never reused by a schedule, so it never met this. A run started by hand meets
// it when an operator resets it to its first workflow task (`temporal workflow reset --type
// FirstWorkflowTask`, for a run stuck on a bad worker): Temporal terminates the execution and starts it again
// under the same workflow id, from the start.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { stackWithJobAgent } from '../helpers/agent-host.js';
import { eventually } from '../helpers/stack.js';

const ENV = 'reset-manual-run';

describe('a run started by hand and reset to its start is not held by its own ended execution', function () {
  this.timeout(240_000);
  const peers = stackWithJobAgent({
    prefix: 'reset-manual-run',
    environment: ENV,
    // Logs the run id it was told; the first execution (an id without `@`) hangs until it is stopped, a later
    // execution of the same workflow id ends at once.
    scripts: (marksDir) => ({
      'hang-once.sh': [`echo "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/$SELFHEAL_ENVIRONMENT"`, 'case "$SELFHEAL_JOB_RUN_ID" in *@*) ;; *) sleep 300 & wait $! ;; esac', 'echo "RESULT ok"'].join('\n'),
    }),
  });

  it('reset to its first workflow task while its script runs: the new execution runs, not skipped for the one the reset ended', async function () {
    // A paused job (overlap skip, the default): a trigger starts its run by hand.
    const jobId = await peers.createJob({ name: 'reset by hand', enabled: false, schedule: { interval: '6h' }, targets: { environments: [ENV] }, via: 'agent', script: 'hang-once.sh', concurrency: 1 });
    const trig = await peers.stack.api(`/api/jobs/${jobId}/trigger`, { method: 'POST' });
    assert.equal(trig.status, 202, await trig.clone().text());
    const workflowId = ((await trig.json()) as { runId: string }).runId;
    assert.ok(workflowId, 'the API started the run itself and named it');

    // Its script going, the operator resets it: the first execution is terminated, its row left `running`.
    await eventually(async () => (await peers.marks()).length >= 1, 60_000, 'the run to start its script');
    const first = await peers.stack.db.db.selectFrom('job_runs').selectAll().where('id', '=', workflowId).executeTakeFirstOrThrow();
    assert.equal(first.trigger, 'manual');
    const history = await peers.stack.temporal.client.workflow.getHandle(workflowId, first.run_id!).fetchHistory();
    const firstTask = history.events!.find((e) => e.workflowTaskStartedEventAttributes)!.eventId!;
    const { runId: again } = await peers.stack.temporal.client.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId, runId: first.run_id! },
      reason: 'stuck run, reset to its first workflow task (test)',
      workflowTaskFinishEventId: firstTask,
      requestId: randomUUID(),
    });
    assert.ok(again);
    assert.equal((await peers.stack.temporal.client.workflow.getHandle(workflowId, first.run_id!).describe()).status.name, 'TERMINATED');

    const second = await peers.runEnded('id', `${workflowId}@${again}`, 60_000, 'the new execution to finish');
    const ran = await peers.marks();
    const stale = await peers.stack.db.db.selectFrom('job_runs').select('status').where('id', '=', workflowId).executeTakeFirstOrThrow();
    const detail = `new execution ${second.id}: ${second.status} (${(second.summary as JobRunSummary | null)?.reason ?? 'no reason'}); the ended one's row: ${stale.status}; script executions: ${JSON.stringify(ran)}`;
    assert.equal(second.status, 'succeeded', `the new execution should not be held by the row of the execution the reset ended; ${detail}`);
    assert.deepEqual(ran, [workflowId, second.id], detail);
    const list = (await (await peers.stack.api(`/api/jobs/${jobId}/runs`)).json()) as { items: { id: string; status: string }[] };
    assert.equal(list.items.find((r) => r.id === second.id)?.status, 'succeeded', JSON.stringify(list.items));
  });
});
