// A trigger of an enabled job goes through its Temporal Schedule under the job's overlap policy (found in
// review). Before, POST /api/jobs/{id}/trigger called triggerJobSchedule with no overlap, and the TypeScript
// SDK then sends ALLOW_ALL: Temporal neither held the run to the policy nor counted it among the schedule's
// running workflows, so neither the API's check (describe().runningWorkflowIds) nor the schedule saw it,
// and the worker's check (resolveJobTargets) looks only for runs started by hand. With the default `skip`,
// a second trigger, or the schedule's next firing, ran the script again on the same environment while
// the first run's script still ran there. What the script did is read from the file it appends to.
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { jobScheduleId } from '../../src/temporal/names.js';
import { stackWithJobAgent } from '../helpers/agent-host.js';
import { eventually } from '../helpers/stack.js';

const ENV = 'trigger-overlap';

describe('a trigger of an enabled job keeps to its overlap policy (skip)', function () {
  this.timeout(300_000);
  const peers = stackWithJobAgent({
    prefix: 'trigger-overlap',
    environment: ENV,
    // A long script (a password rotation across a VM group, say) saying when it starts and ends.
    scripts: (marksDir) => ({
      'slow.sh': `echo "start $SELFHEAL_JOB_RUN_ID" >> "${marksDir}/${ENV}"\nsleep "\${1:-8}"\necho "end $SELFHEAL_JOB_RUN_ID" >> "${marksDir}/${ENV}"\necho "RESULT ok"`,
    }),
  });
  const log = () => peers.markFile();
  const lines = () => peers.marks();
  /** Whether two executions of the script overlapped on the environment: a second start before the first end. */
  const overlapped = (l: string[]) => {
    const first = l.find((x) => x.startsWith('start '))?.slice(6);
    const firstEnd = l.indexOf(`end ${first}`);
    const secondStart = l.findIndex((x) => x.startsWith('start ') && x.slice(6) !== first);
    return secondStart !== -1 && (firstEnd === -1 || secondStart < firstEnd);
  };
  const createJob = async (name: string, nextInMs: number, sleepSeconds: number): Promise<string> => {
    const offset = Math.floor((Date.now() + nextInMs) / 1000) % 3600 || 1;
    // overlap left out: `skip`, the default.
    return peers.createJob({ name, schedule: { interval: `every 1h offset ${offset}s` }, targets: { environments: [ENV] }, via: 'agent', script: 'slow.sh', args: [String(sleepSeconds)] });
  };

  it('a second trigger while the first triggered run goes: 409, nothing started', async function () {
    await rm(log(), { force: true });
    const id = await createJob('trigger twice', 1_800_000, 8);
    const first = await peers.stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    assert.equal(first.status, 202, await first.clone().text());
    await eventually(async () => (await lines()).length > 0, 60_000, 'the first run to start the script');
    await new Promise((r) => setTimeout(r, 1500));
    const second = await peers.stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    const secondBody = await second.text();
    await new Promise((r) => setTimeout(r, 15_000));
    const described = await peers.stack.temporal.client.schedule.getHandle(jobScheduleId(id)).describe();
    const runs = await peers.stack.db.db.selectFrom('job_runs').select(['id', 'trigger', 'status']).where('job_id', '=', id).execute();
    const detail = `second trigger answered ${second.status} ${secondBody}; script log ${JSON.stringify(await lines())}; runs ${JSON.stringify(runs)}; schedule: running ${JSON.stringify(described.info.runningActions.map((a) => a.workflow.workflowId))}, recent ${JSON.stringify(described.info.recentActions.map((a) => a.action.workflow.workflowId))}`;
    assert.equal(second.status, 409, `a job with overlap skip and a run going: the second trigger should be refused; ${detail}`);
  });

  it('the schedule fires while a triggered run goes: the firing is skipped, the script does not run twice at once', async function () {
    await rm(log(), { force: true });
    // Its next scheduled time some 25 s from now; the triggered run's script takes 40 s.
    const id = await createJob('trigger then schedule', 25_000, 40);
    const res = await peers.stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    await eventually(async () => (await lines()).length > 0, 20_000, 'the triggered run to start the script');
    // Past the scheduled time, well within the triggered run.
    await new Promise((r) => setTimeout(r, 35_000));
    const described = await peers.stack.temporal.client.schedule.getHandle(jobScheduleId(id)).describe();
    const runs = await peers.stack.db.db.selectFrom('job_runs').select(['id', 'trigger', 'status', 'scheduled_at']).where('job_id', '=', id).execute();
    const l = await lines();
    const detail = `script log ${JSON.stringify(l)}; runs ${JSON.stringify(runs)}; schedule skipped for overlap ${described.info.numActionsSkippedOverlap}, actions taken ${described.info.numActionsTaken}`;
    assert.ok(!overlapped(l), `the scheduled run started the script on ${ENV} while the triggered run's script was still running there (overlap: skip); ${detail}`);
  });
});
