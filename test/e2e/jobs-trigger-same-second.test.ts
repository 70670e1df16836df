// Runs asked for in the same second (found in review). A trigger of an enabled job went through its Temporal
// Schedule, which names the run `jobrun-<job>-<now, to the second>`: of two triggers of an `allow_all` job
// in one second (two SREs, a retried request, a CI step and a person), Temporal refused the second start as
// already started and the schedule dropped it without a word, while the API answered 202 to both. An
// allow_all job's trigger now starts its run by hand, its id ending in a random part, as a paused job's
// does (startManualJobRun); Temporal neither holds an allow_all start to a policy nor tracks it.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { startStack, type Stack } from '../helpers/stack.js';

const ENV = 'trigger-same-second';

describe('two triggers of an allow_all job in the same second', function () {
  this.timeout(180_000);
  let stack: Stack;
  let scriptsDir: string;
  let marksDir: string;
  let agent: { worker: Worker; running: Promise<void> } | undefined;
  let jobId: string | undefined;

  before(async function () {
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'same-second-scripts-'));
    await chmod(scriptsDir, 0o755);
    marksDir = await mkdtemp(path.join(os.tmpdir(), 'same-second-marks-'));
    await writeFile(path.join(scriptsDir, 'mark.sh'), `#!/bin/sh\necho "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/$SELFHEAL_ENVIRONMENT"\nsleep 3\necho "RESULT ok"\n`, { mode: 0o755 });
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: ENV }) });
    assert.equal(res.status, 201, await res.text());
    const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: ENV, scriptsDir });
    agent = { worker, running: worker.run() };
  });

  after(async function () {
    if (jobId) await stack?.temporal.client.schedule.getHandle(jobScheduleId(jobId)).delete().catch(() => undefined);
    agent?.worker.shutdown();
    await agent?.running;
    await stack?.stop();
    for (const dir of [scriptsDir, marksDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('both answered 202: both run', async function () {
    // Its own next time far away (an hour from the epoch's offset of now + 30 min).
    const offset = Math.floor((Date.now() + 1_800_000) / 1000) % 3600 || 1;
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ name: 'same second', schedule: { interval: `every 1h offset ${offset}s`, overlap: 'allow_all' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    jobId = ((await res.json()) as { id: string }).id;

    // Early in a second, so both land in it.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 50));
    const answers = await Promise.all([0, 1].map(() => stack.api(`/api/jobs/${jobId}/trigger`, { method: 'POST' })));
    const statuses = answers.map((a) => a.status);
    const bodies = await Promise.all(answers.map((a) => a.text()));
    assert.deepEqual(statuses, [202, 202], bodies.join('\n'));

    await new Promise((r) => setTimeout(r, 20_000));
    const ran = (await readFile(path.join(marksDir, ENV), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');
    const rows = await stack.db.db.selectFrom('job_runs').select(['id', 'status']).where('job_id', '=', jobId).execute();
    const described = await stack.temporal.client.schedule.getHandle(jobScheduleId(jobId)).describe();
    const detail = `API answers ${JSON.stringify(bodies)}; script executions ${JSON.stringify(ran)}; job_runs ${JSON.stringify(rows)}; schedule actions taken ${described.info.numActionsTaken}`;
    assert.equal(ran.length, 2, `two triggers accepted (202, 202) of an allow_all job should run the script twice; ${detail}`);
    assert.equal(rows.length, 2, detail);
    // Each answer names its own run, the one that ran.
    const runIds = bodies.map((b) => (JSON.parse(b) as { runId: string | null }).runId);
    assert.deepEqual([...runIds].sort(), rows.map((r) => r.id).sort(), detail);
    assert.deepEqual(rows.map((r) => r.status), ['succeeded', 'succeeded'], detail);
  });
});
