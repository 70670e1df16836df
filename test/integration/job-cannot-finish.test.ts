// A selector job whose matched environments grew past what a run can finish in 24 h: the run starts no
// target (Temporal would end it midway), and it is the job's failure, not a harmless skip. Found in review:
// it was recorded `skipped` on every run, no failure notice sent, `jobs trigger --wait` exiting 0.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { JobWorkflowResult } from '../../src/contracts/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { JOB_WORKFLOW_TYPE } from '../../src/temporal/schedules.js';
import { workerWithSlack } from '../helpers/workers.js';

describe('a job run that cannot finish within its limit is failed, and its failure notice sent', function () {
  this.timeout(120_000);
  const SLACK_REF = 'SELFHEAL_SECRET_JOB_CANNOT_FINISH_SLACK';
  const sfx = randomUUID().slice(0, 6);
  const peers = workerWithSlack({ slackSecret: SLACK_REF });

  async function runOf(id: string, notifyOnFailure?: Record<string, unknown>): Promise<JobWorkflowResult> {
    const fleet = `fleet-${id}`;
    await peers.db.db.insertInto('environments').values([0, 1].map((i) => ({ name: `${id}-${i}`, labels: JSON.stringify({ fleet }), maintenance_windows: '[]' }))).execute();
    // Two targets of 50,000 s (+ 60 s pickup + 30 s), one at a time: 100,180 s, past the 86,400 s limit.
    const definition = { name: id, schedule: { interval: '1d' }, targets: { selector: { fleet } }, via: 'agent', script: 'probe.sh', timeoutSecondsPerTarget: 50_000, concurrency: 1, ...(notifyOnFailure ? { notifyOnFailure } : {}) };
    await peers.db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    return (await peers.temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, { taskQueue: peers.worker.taskQueue, workflowId: `jobrun-${id}-${Date.now()}`, args: [{ jobId: id }], workflowExecutionTimeout: '1 minute' })) as JobWorkflowResult;
  }

  it('recorded failed, no target started, and the Slack notice names why', async function () {
    const id = `cannot-finish-${sfx}`;
    const result = await runOf(id, { slack: { webhookUrlRef: `env:${SLACK_REF}` } });
    assert.equal(result.status, 'failed');
    assert.equal(result.summary.total, 0);
    assert.match(result.summary.reason ?? '', /a run of 2 targets, 1 at a time, may take 100180 s, longer than a run's limit of 86400 s/);
    assert.equal(result.summary.notification, 'notified via slack');
    const messages = peers.slack.messages.filter((m) => m.text.includes(result.jobRunId));
    assert.equal(messages.length, 1);
    assert.match(messages[0]!.text, new RegExp(`^Job "${id}" \\(${id}\\) run ${result.jobRunId}: failed: job ${id} did not start: a run of 2 targets`));
    const row = await peers.db.db.selectFrom('job_runs').select(['status']).where('id', '=', result.jobRunId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'failed');
    assert.equal((await peers.db.db.selectFrom('job_target_results').select('id').where('job_run_id', '=', result.jobRunId).execute()).length, 0, 'no target was started');
  });

  it('without a notice configured: recorded failed, nothing sent', async function () {
    const before = peers.slack.requests.length;
    const result = await runOf(`cannot-finish-quiet-${sfx}`);
    assert.equal(result.status, 'failed');
    assert.equal(result.summary.notification, undefined);
    assert.equal(peers.slack.requests.length, before);
  });
});
