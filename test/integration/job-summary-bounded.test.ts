// A job run's summary (job_runs.summary, the failure notice's input, the workflow's result, all of them in
// the run's history) listed every failed target with its error, up to 4,000 characters each of what a
// possibly compromised agent said: megabytes for a run of hundreds of failing targets. Found in review. It
// now lists the first JOB_SUMMARY_FAILURES with the start of each error and counts the rest
// (`failuresOmitted`); every target's row keeps its own result whole. The agent is a fake on one queue
// serving every environment, answering each script failed with a long error.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { JOB_SUMMARY_ERROR_CHARS, JOB_SUMMARY_FAILURES, type JobRunSummary, type JobWorkflowResult } from '../../src/contracts/jobs.js';
import { errorText } from '../../src/domain/agent-result.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { JOB_WORKFLOW_TYPE } from '../../src/temporal/schedules.js';
import { workerWithSlack } from '../helpers/workers.js';

const FAILING = 70;
const SUCCEEDING = 5;

describe("a job run's summary is bounded however many targets fail", function () {
  this.timeout(180_000);
  const SLACK_REF = 'SELFHEAL_SECRET_JOB_SUMMARY_BOUNDED_SLACK';
  const sfx = randomUUID().slice(0, 6);
  const agentQueue = `agent-summary-${sfx}`;
  /** What the agent says of each failed script: longer than an agent's error is kept (errorText, 2,000 characters). */
  const longError = (environment: string) => `${environment} failed: ${'E'.repeat(3990)}`.slice(0, 4000);

  const peers = workerWithSlack({
    slackSecret: SLACK_REF,
    agent: {
      taskQueue: agentQueue,
      runAgentScript: async (input) => {
        const environment = input.context?.environment ?? '?';
        return environment.includes('-ok-') ? { exitCode: 0, outputExcerpt: 'RESULT ok', timedOut: false } : { exitCode: 1, outputExcerpt: 'RESULT failed', error: longError(environment), timedOut: false };
      },
    },
  });

  it('keeps the first 50 failures with the start of their errors and counts the rest; the notice says how many failed; every target row keeps its whole error', async function () {
    const id = `summary-bounded-${sfx}`;
    const fleet = `fleet-${id}`;
    const names = [...Array.from({ length: FAILING }, (_, i) => `${id}-bad-${i}`), ...Array.from({ length: SUCCEEDING }, (_, i) => `${id}-ok-${i}`)];
    await peers.db.db.insertInto('environments').values(names.map((name) => ({ name, labels: JSON.stringify({ fleet }), agent_task_queue: agentQueue, maintenance_windows: '[]' }))).execute();
    const definition = { name: id, schedule: { interval: '1d' }, targets: { selector: { fleet } }, via: 'agent', script: 'probe.sh', concurrency: 20, notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } } };
    await peers.db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    const result = (await peers.temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, { taskQueue: peers.worker.taskQueue, workflowId: `jobrun-${id}`, args: [{ jobId: id }], workflowExecutionTimeout: '2 minutes' })) as JobWorkflowResult;
    assert.equal(result.status, 'partial');

    const row = await peers.db.db.selectFrom('job_runs').select(['status', 'summary']).where('id', '=', result.jobRunId).executeTakeFirstOrThrow();
    const summary = row.summary as JobRunSummary;
    assert.equal(row.status, 'partial');
    assert.deepEqual([summary.total, summary.failed, summary.succeeded], [FAILING + SUCCEEDING, FAILING, SUCCEEDING]);
    assert.equal(summary.failures.length, JOB_SUMMARY_FAILURES);
    assert.equal(summary.failuresOmitted, FAILING - JOB_SUMMARY_FAILURES);
    for (const f of summary.failures) {
      assert.ok(f.environment.startsWith(`${id}-bad-`), f.environment);
      assert.ok((f.error ?? '').length <= JOB_SUMMARY_ERROR_CHARS, `an error of ${f.error?.length} characters`);
      assert.ok(f.error?.startsWith(`${f.environment} failed: EEE`), f.error);
    }
    // 50 failures of about 600 bytes, not 70 of an agent's 2,000 characters (140 KB).
    assert.ok(JSON.stringify(summary).length < 40_000, `a summary of ${JSON.stringify(summary).length} characters`);

    // The notice counts every failure, lists the first and says how many more.
    const messages = peers.slack.messages.filter((m) => m.text.includes(result.jobRunId));
    assert.equal(messages.length, 1);
    const text = messages[0]!.text;
    assert.match(text, new RegExp(`: partial, ${FAILING} of ${FAILING + SUCCEEDING} targets failed\\.`));
    assert.equal(text.split('\n').filter((l) => l.startsWith(`- ${id}-bad-`)).length, 20);
    assert.match(text, new RegExp(`\\n- and ${FAILING - 20} more failed targets: see the run's targets`));

    // Nothing lost: every target's own row keeps its whole error (as kept of any agent's: errorText).
    const targets = await peers.db.db.selectFrom('job_target_results').select(['environment', 'status', 'error']).where('job_run_id', '=', result.jobRunId).execute();
    assert.equal(targets.length, FAILING + SUCCEEDING);
    for (const t of targets.filter((x) => x.status === 'failed')) assert.equal(t.error, errorText(longError(t.environment)));
  });
});
