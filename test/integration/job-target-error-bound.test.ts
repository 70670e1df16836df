// A job target's error is what a failure said: one an agent raised (a compromised one, or whatever polls its
// queue, raises any message), or a VM's host. The run kept the end of it, up to 4,000 characters, so the
// message's own start (what failed) was cut off, where a rule run, an agent check and a script's own error
// keep the start (errorText: at most ERROR_CHARS characters and ERROR_JSON_BYTES as JSON, escape sequences
// removed, other control characters shown as U+FFFD). Now kept as they are, in the run's history, its row,
// its summary and its notice. The record of a target result bounds what it stores too, whatever a run of
// before passes it (an error of 4,000 characters, an exit status Postgres's `integer` cannot hold).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { createJobActivities } from '../../activities/jobs.js';
import type { JobRunSummary, JobWorkflowResult } from '../../src/contracts/jobs.js';
import { ERROR_CHARS, ERROR_JSON_BYTES, errorText } from '../../src/domain/agent-result.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { JOB_WORKFLOW_TYPE } from '../../src/temporal/schedules.js';
import { workerWithSlack } from '../helpers/workers.js';

describe("a job target's error is bounded as a rule run's, whatever the agent raised", function () {
  this.timeout(90_000);
  const SLACK_REF = 'SELFHEAL_SECRET_JOB_TARGET_ERROR_BOUND_SLACK';
  const sfx = randomUUID().slice(0, 6);
  const agentQueue = `agent-target-error-${sfx}`;
  /** What the agent raises: a bell, a colour and 300,000 two-byte characters after what failed. */
  const message = `probe failed on the host \x07\x1b[31mred${'é'.repeat(300_000)}`;
  const peers = workerWithSlack({
    slackSecret: SLACK_REF,
    agent: {
      taskQueue: agentQueue,
      runAgentScript: async (input) => {
        // An agent answering a timeout with no exit code and no error (agentOutcome leaves it so).
        if (input.context?.environment?.endsWith('-silent')) return { exitCode: null, outputExcerpt: '', timedOut: true };
        throw ApplicationFailure.nonRetryable(message, 'HostileError');
      },
    },
  });

  const bounded = (error: string | null | undefined, what: string) => {
    const e = error ?? '';
    assert.ok(e.startsWith('probe failed on the host \uFFFDredéé'), `${what} keeps what failed, the bell shown, the colour removed: ${JSON.stringify(e.slice(0, 40))}`);
    assert.ok(e.length <= ERROR_CHARS, `${what}: ${e.length} characters`);
    assert.ok(Buffer.byteLength(JSON.stringify(e)) <= ERROR_JSON_BYTES, `${what}: ${Buffer.byteLength(JSON.stringify(e))} bytes`);
  };

  it('keeps the start of a 300,000-character failure an agent raised, at most ERROR_CHARS characters and ERROR_JSON_BYTES, in the result, the row, the summary and the notice', async function () {
    const id = `target-error-${sfx}`;
    const env = `${id}-vm`;
    await peers.db.db.insertInto('environments').values({ name: env, labels: '{}', agent_task_queue: agentQueue, maintenance_windows: '[]' }).execute();
    const definition = { name: id, schedule: { interval: '1d' }, targets: { environments: [env] }, via: 'agent', script: 'probe.sh', notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } } };
    await peers.db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    const result = (await peers.temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, { taskQueue: peers.worker.taskQueue, workflowId: `jobrun-${id}`, args: [{ jobId: id }], workflowExecutionTimeout: '1 minute' })) as JobWorkflowResult;
    assert.equal(result.status, 'failed');
    const row = await peers.db.db.selectFrom('job_target_results').select(['status', 'error']).where('job_run_id', '=', result.jobRunId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'failed');
    bounded(row.error, "the target's row");
    assert.equal(row.error, errorText(message), 'kept as errorText keeps it');
    const run = await peers.db.db.selectFrom('job_runs').select('summary').where('id', '=', result.jobRunId).executeTakeFirstOrThrow();
    assert.ok((run.summary as JobRunSummary).failures[0]?.error?.startsWith('probe failed on the host \uFFFDred'), 'the summary');
    const notice = peers.slack.messages.find((m) => m.text.includes(result.jobRunId));
    assert.match(notice?.text ?? '', new RegExp(`- ${env}: failed \\(probe failed on the host \uFFFDredé`), 'the notice');
  });

  it('a target whose agent answered a timeout with no exit code and no error says it timed out, not "exit code null"', async function () {
    const id = `target-silent-${sfx}`;
    const env = `${id}-silent`;
    await peers.db.db.insertInto('environments').values({ name: env, labels: '{}', agent_task_queue: agentQueue, maintenance_windows: '[]' }).execute();
    const definition = { name: id, schedule: { interval: '1d' }, targets: { environments: [env] }, via: 'agent', script: 'probe.sh' };
    await peers.db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    const result = (await peers.temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, { taskQueue: peers.worker.taskQueue, workflowId: `jobrun-${id}`, args: [{ jobId: id }], workflowExecutionTimeout: '1 minute' })) as JobWorkflowResult;
    const row = await peers.db.db.selectFrom('job_target_results').select(['status', 'exit_code', 'error']).where('job_run_id', '=', result.jobRunId).executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.exit_code, row.error], ['timed_out', null, 'timed out (the agent gave no error and no exit code)']);
  });

  it('the record of a target result stores the error bounded and an exit status out of range as none, whatever the run passes it', async function () {
    const jobs = createJobActivities({ db: peers.db.db, logger: createLogger({ level: 'silent' }), env: {} });
    const jobRunId = `jobrun-record-${sfx}`;
    await peers.db.db.insertInto('job_runs').values({ id: jobRunId, run_id: null, job_id: `record-${sfx}`, trigger: 'manual', status: 'running' }).execute();
    const at = new Date().toISOString();
    // What a run of before passed: the end of the error, 4,000 characters, and the host's uint32 status.
    const error = `\x1b[1m${'\u0001'.repeat(3_990)}end`;
    await jobs.recordTargetResult({ jobRunId, environment: 'vm', via: 'ssh', status: 'failed', exitCode: 4294967295, error, startedAt: at, finishedAt: at });
    const row = await peers.db.db.selectFrom('job_target_results').select(['exit_code', 'error']).where('job_run_id', '=', jobRunId).executeTakeFirstOrThrow();
    assert.equal(row.exit_code, null);
    assert.equal(row.error, errorText(error));
    assert.ok(row.error!.length <= ERROR_CHARS && !row.error!.includes('\u0001'), `${row.error!.length} characters`);
  });
});
