// A run started by hand is not one of its schedule's runs: Temporal's overlap policy does not see it. The
// worker's check does: unless the job's overlap is allow_all, a scheduled run finding a run started by hand
// still going, or a run started by hand finding any earlier run still going, is recorded skipped and starts
// no script. A row left `running` by a run terminated from outside never holds the job: Temporal is asked.
// (The whole path, with a script at a real agent, is in test/e2e/jobs.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createJobActivities } from '../../activities/jobs.js';
import { createLogger } from '../../src/logger.js';
import { jobRunWorkflowIdPrefix } from '../../src/temporal/schedules.js';
import { jobRunsSuite } from '../helpers/job-runs-suite.js';

const logger = createLogger({ level: 'silent' });
// Nothing polls this queue: a run started on it stays open until terminated.
const TASK_QUEUE = 'job-overlap-manual';

describe('a run started by hand holds its job against overlapping runs', function () {
  const suite = jobRunsSuite(TASK_QUEUE);
  const { open, suffix } = suite;
  const createJob = (name: string, overlap: string) => suite.createJob(name, overlap);
  /** A run of `jobId` as the workflow records it first (job_runs row), open in Temporal unless `closed`. */
  const startRun = async (jobId: string, trigger: 'manual' | 'schedule', opts: { closed?: boolean } = {}): Promise<string> => {
    const id = `${jobRunWorkflowIdPrefix(jobId)}-${trigger}-${randomBytes(4).toString('hex')}`;
    if (!opts.closed) {
      await suite.client.workflow.start('jobWorkflow', { taskQueue: TASK_QUEUE, workflowId: id, args: [{ jobId }] });
      open.push(id);
    }
    await suite.t.db.insertInto('job_runs').values({ id, job_id: jobId, trigger, status: 'running', run_id: null, scheduled_at: null }).execute();
    return id;
  };
  const activities = () => createJobActivities({ db: suite.t.db, logger, env: {}, temporal: () => suite.client });

  it('a scheduled run finding a run started by hand still going is skipped, naming it; the API refuses a trigger the same way', async function () {
    const id = await createJob('by-hand', 'skip');
    const manual = await startRun(id, 'manual');
    const scheduled = await startRun(id, 'schedule');
    const r = await activities().resolveJobTargets({ jobId: id, trigger: 'schedule', jobRunId: scheduled });
    assert.ok('skipped' in r, `skipped: ${JSON.stringify(r)}`);
    assert.match(r.skipped, new RegExp(`run ${manual} of job ${id}, started by hand, is still in progress and the job's overlap policy is skip`));

    // Before, the API asked only the schedule, which knows nothing of this run, and answered 202.
    const res = await suite.api('POST', `/api/jobs/${id}/trigger`);
    assert.equal(res.status, 409, await res.clone().text());
    assert.match(((await res.json()) as { detail: string }).detail, new RegExp(`has a run in progress \\(${manual}\\)`));

    await suite.client.workflow.getHandle(manual).terminate('terminated from outside');
    const after = await activities().resolveJobTargets({ jobId: id, trigger: 'schedule', jobRunId: scheduled });
    assert.ok(!('skipped' in after), `a row left running by a terminated run holds nothing: ${JSON.stringify(after)}`);
    assert.deepEqual(after.targets.map((x) => x.environment), [`env-${suffix}`]);
  });

  it('of two runs started by hand at once, the later is skipped and the earlier runs', async function () {
    const id = await createJob('twice', 'buffer_one');
    const first = await startRun(id, 'manual');
    const second = await startRun(id, 'manual');
    const a = await activities().resolveJobTargets({ jobId: id, trigger: 'manual', jobRunId: first });
    const b = await activities().resolveJobTargets({ jobId: id, trigger: 'manual', jobRunId: second });
    assert.ok(!('skipped' in a), `the earlier runs: ${JSON.stringify(a)}`);
    assert.ok('skipped' in b && b.skipped.includes(`run ${first} of job ${id} is still in progress`), JSON.stringify(b));
  });

  it('a row never closed by its run (no such workflow) holds nothing; allow_all never checks', async function () {
    const gone = await createJob('gone', 'skip');
    await startRun(gone, 'manual', { closed: true });
    const scheduled = await startRun(gone, 'schedule', { closed: true });
    const r = await activities().resolveJobTargets({ jobId: gone, trigger: 'schedule', jobRunId: scheduled });
    assert.ok(!('skipped' in r), JSON.stringify(r));

    const all = await createJob('all', 'allow_all');
    await startRun(all, 'manual');
    const mine = await startRun(all, 'manual');
    const m = await activities().resolveJobTargets({ jobId: all, trigger: 'manual', jobRunId: mine });
    assert.ok(!('skipped' in m), `allow_all lets runs overlap: ${JSON.stringify(m)}`);
  });
});
