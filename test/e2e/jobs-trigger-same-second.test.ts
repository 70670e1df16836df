// Runs asked for in the same second (found in review). A trigger of an enabled job went through its Temporal
// Schedule, which names the run `jobrun-<job>-<now, to the second>`: of two triggers of an `allow_all` job
// in one second (two SREs, a retried request, a CI step and a person), Temporal refused the second start as
// already started and the schedule dropped it without a word, while the API answered 202 to both. An
// allow_all job's trigger now starts its run by hand, its id ending in a random part, as a paused job's
// does (startManualJobRun); Temporal neither holds an allow_all start to a policy nor tracks it.
import assert from 'node:assert/strict';
import { jobScheduleId } from '../../src/temporal/names.js';
import { stackWithJobAgent } from '../helpers/agent-host.js';

const ENV = 'trigger-same-second';

describe('two triggers of an allow_all job in the same second', function () {
  this.timeout(180_000);
  const peers = stackWithJobAgent({
    prefix: 'same-second',
    environment: ENV,
    scripts: (marksDir) => ({ 'mark.sh': `echo "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/$SELFHEAL_ENVIRONMENT"\nsleep 3\necho "RESULT ok"` }),
  });

  it('both answered 202: both run', async function () {
    // Its own next time far away (an hour from the epoch's offset of now + 30 min).
    const offset = Math.floor((Date.now() + 1_800_000) / 1000) % 3600 || 1;
    const jobId = await peers.createJob({ name: 'same second', schedule: { interval: `every 1h offset ${offset}s`, overlap: 'allow_all' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });

    // Early in a second, so both land in it.
    await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 50));
    const answers = await Promise.all([0, 1].map(() => peers.stack.api(`/api/jobs/${jobId}/trigger`, { method: 'POST' })));
    const statuses = answers.map((a) => a.status);
    const bodies = await Promise.all(answers.map((a) => a.text()));
    assert.deepEqual(statuses, [202, 202], bodies.join('\n'));

    await new Promise((r) => setTimeout(r, 20_000));
    const ran = await peers.marks();
    const rows = await peers.stack.db.db.selectFrom('job_runs').select(['id', 'status']).where('job_id', '=', jobId).execute();
    const described = await peers.stack.temporal.client.schedule.getHandle(jobScheduleId(jobId)).describe();
    const detail = `API answers ${JSON.stringify(bodies)}; script executions ${JSON.stringify(ran)}; job_runs ${JSON.stringify(rows)}; schedule actions taken ${described.info.numActionsTaken}`;
    assert.equal(ran.length, 2, `two triggers accepted (202, 202) of an allow_all job should run the script twice; ${detail}`);
    assert.equal(rows.length, 2, detail);
    // Each answer names its own run, the one that ran.
    const runIds = bodies.map((b) => (JSON.parse(b) as { runId: string | null }).runId);
    assert.deepEqual([...runIds].sort(), rows.map((r) => r.id).sort(), detail);
    assert.deepEqual(rows.map((r) => r.status), ['succeeded', 'succeeded'], detail);
  });
});
