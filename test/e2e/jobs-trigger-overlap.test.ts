// A trigger of an enabled job goes through its Temporal Schedule under the job's overlap policy (found in
// review). Before, POST /api/jobs/{id}/trigger called triggerJobSchedule with no overlap, and the TypeScript
// SDK then sends ALLOW_ALL: Temporal neither held the run to the policy nor counted it among the schedule's
// running workflows, so neither the API's check (describe().runningWorkflowIds) nor the schedule saw it,
// and the worker's check (resolveJobTargets) looks only for runs started by hand. With the default `skip`,
// a second trigger, or the schedule's next firing, ran the script again on the same environment while
// the first run's script still ran there. What the script did is read from the file it appends to.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const ENV = 'trigger-overlap';

describe('a trigger of an enabled job keeps to its overlap policy (skip)', function () {
  this.timeout(300_000);
  let stack: Stack;
  let scriptsDir: string;
  let marksDir: string;
  let agent: { worker: Worker; running: Promise<void> } | undefined;
  const jobs: string[] = [];
  const log = () => `${marksDir}/${ENV}`;

  before(async function () {
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'trigger-overlap-scripts-'));
    await chmod(scriptsDir, 0o755);
    marksDir = await mkdtemp(path.join(os.tmpdir(), 'trigger-overlap-marks-'));
    // A long script (a password rotation across a VM group, say) saying when it starts and ends.
    await writeFile(
      path.join(scriptsDir, 'slow.sh'),
      `#!/bin/sh\necho "start $SELFHEAL_JOB_RUN_ID" >> "${log()}"\nsleep "\${1:-8}"\necho "end $SELFHEAL_JOB_RUN_ID" >> "${log()}"\necho "RESULT ok"\n`,
      { mode: 0o755 },
    );
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: ENV }) });
    assert.equal(res.status, 201, await res.text());
    const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: ENV, scriptsDir });
    agent = { worker, running: worker.run() };
  });

  after(async function () {
    for (const id of jobs) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    agent?.worker.shutdown();
    await agent?.running;
    await stack?.stop();
    for (const dir of [scriptsDir, marksDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const lines = async (): Promise<string[]> => (await readFile(log(), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
  /** Whether two executions of the script overlapped on the environment: a second start before the first end. */
  const overlapped = (l: string[]) => {
    const first = l.find((x) => x.startsWith('start '))?.slice(6);
    const firstEnd = l.indexOf(`end ${first}`);
    const secondStart = l.findIndex((x) => x.startsWith('start ') && x.slice(6) !== first);
    return secondStart !== -1 && (firstEnd === -1 || secondStart < firstEnd);
  };
  const createJob = async (name: string, nextInMs: number, sleepSeconds: number): Promise<string> => {
    const offset = Math.floor((Date.now() + nextInMs) / 1000) % 3600 || 1;
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      // overlap left out: `skip`, the default.
      body: JSON.stringify({ name, schedule: { interval: `every 1h offset ${offset}s` }, targets: { environments: [ENV] }, via: 'agent', script: 'slow.sh', args: [String(sleepSeconds)] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    jobs.push(id);
    return id;
  };

  it('a second trigger while the first triggered run goes: 409, nothing started', async function () {
    await rm(log(), { force: true });
    const id = await createJob('trigger twice', 1_800_000, 8);
    const first = await stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    assert.equal(first.status, 202, await first.clone().text());
    await eventually(async () => (await lines()).length > 0, 60_000, 'the first run to start the script');
    await new Promise((r) => setTimeout(r, 1500));
    const second = await stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    const secondBody = await second.text();
    await new Promise((r) => setTimeout(r, 15_000));
    const described = await stack.temporal.client.schedule.getHandle(jobScheduleId(id)).describe();
    const runs = await stack.db.db.selectFrom('job_runs').select(['id', 'trigger', 'status']).where('job_id', '=', id).execute();
    const detail = `second trigger answered ${second.status} ${secondBody}; script log ${JSON.stringify(await lines())}; runs ${JSON.stringify(runs)}; schedule: running ${JSON.stringify(described.info.runningActions.map((a) => a.workflow.workflowId))}, recent ${JSON.stringify(described.info.recentActions.map((a) => a.action.workflow.workflowId))}`;
    assert.equal(second.status, 409, `a job with overlap skip and a run going: the second trigger should be refused; ${detail}`);
  });

  it('the schedule fires while a triggered run goes: the firing is skipped, the script does not run twice at once', async function () {
    await rm(log(), { force: true });
    // Its next scheduled time some 25 s from now; the triggered run's script takes 40 s.
    const id = await createJob('trigger then schedule', 25_000, 40);
    const res = await stack.api(`/api/jobs/${id}/trigger`, { method: 'POST' });
    assert.equal(res.status, 202, await res.clone().text());
    await eventually(async () => (await lines()).length > 0, 20_000, 'the triggered run to start the script');
    // Past the scheduled time, well within the triggered run.
    await new Promise((r) => setTimeout(r, 35_000));
    const described = await stack.temporal.client.schedule.getHandle(jobScheduleId(id)).describe();
    const runs = await stack.db.db.selectFrom('job_runs').select(['id', 'trigger', 'status', 'scheduled_at']).where('job_id', '=', id).execute();
    const l = await lines();
    const detail = `script log ${JSON.stringify(l)}; runs ${JSON.stringify(runs)}; schedule skipped for overlap ${described.info.numActionsSkippedOverlap}, actions taken ${described.info.numActionsTaken}`;
    assert.ok(!overlapped(l), `the scheduled run started the script on ${ENV} while the triggered run's script was still running there (overlap: skip); ${detail}`);
  });
});
