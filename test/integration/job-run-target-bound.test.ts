// A job whose selector (or `all`) matches more environments than one run may hold (MAX_JOB_RUN_TARGETS).
// A run is one Temporal workflow execution, every target adding about a dozen events and up to about 17 KB
// to its history, and Temporal ends a workflow past 51,200 events or 50 MB: a run over a large estate was
// ended midway, its row left `running`, the rest of its targets never run and no failure notice sent.
// Found in review. Now such a run is not begun (recorded failed, its notice sent, no script started) and
// a save whose selector matches too many now is refused (422). What the agent ran is read at the agent: one
// Doctor agent, a fake that counts the scripts it was asked to run, serves every environment's queue.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { JobWorkflowResult } from '../../src/contracts/jobs.js';
import { MAX_JOB_RUN_TARGETS } from '../../src/domain/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { JOB_WORKFLOW_TYPE } from '../../src/temporal/schedules.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { workerWithSlack } from '../helpers/workers.js';

describe('a job run over more targets than one run may hold', function () {
  this.timeout(180_000);
  let api: AdminApi;
  /** The scripts the agent was asked to run, by environment. */
  const ran: string[] = [];
  const SLACK_REF = 'SELFHEAL_SECRET_JOB_TARGET_BOUND_SLACK';
  const sfx = randomUUID().slice(0, 6);
  const fleet = `big-${sfx}`;
  const agentQueue = `agent-big-${sfx}`;
  const made: string[] = [];

  const peers = workerWithSlack({
    slackSecret: SLACK_REF,
    agent: {
      taskQueue: agentQueue,
      runAgentScript: async (input) => {
        ran.push(input.context?.environment ?? '?');
        return { exitCode: 0, outputExcerpt: 'RESULT ok', timedOut: false };
      },
    },
  });

  before(async function () {
    api = adminApi(peers.db, peers.temporal.apiClient, peers.worker.taskQueue);
    // One more environment than a run may hold, each served by the one agent; all but one also `half`.
    const rows = Array.from({ length: MAX_JOB_RUN_TARGETS + 1 }, (_, i) => ({
      name: `${fleet}-${String(i).padStart(4, '0')}`,
      labels: JSON.stringify(i < MAX_JOB_RUN_TARGETS ? { fleet, half: 'yes' } : { fleet }),
      agent_task_queue: agentQueue,
      maintenance_windows: '[]',
    }));
    await peers.db.db.insertInto('environments').values(rows).execute();
  });
  after(async function () {
    for (const id of made) await peers.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
  });

  const definition = (id: string, targets: Record<string, unknown>) => ({
    id,
    name: id,
    schedule: { interval: '1d' },
    targets,
    via: 'agent',
    script: 'probe.sh',
    concurrency: 50,
    notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } },
  });

  it('a run matching 501 is recorded failed naming the count and the bound, its notice sent, no script started', async function () {
    const id = `target-bound-${sfx}`;
    // Stored as a save before the estate grew would have left it (the save now refuses it, below).
    await peers.db.db.insertInto('jobs').values({ id, name: id, definition: JSON.stringify(definition(id, { selector: { fleet } })), enabled: true, schedule_id: jobScheduleId(id) }).execute();
    const result = (await peers.temporal.client.workflow.execute(JOB_WORKFLOW_TYPE, {
      taskQueue: peers.worker.taskQueue,
      workflowId: `jobrun-${id}-${Date.now()}`,
      args: [{ jobId: id }],
      workflowExecutionTimeout: '2 minutes',
    })) as JobWorkflowResult;

    const why = `the job's targets match ${MAX_JOB_RUN_TARGETS + 1} environments, more than the ${MAX_JOB_RUN_TARGETS} one run may hold`;
    assert.equal(result.status, 'failed', JSON.stringify(result.summary).slice(0, 500));
    assert.equal(result.summary.total, 0);
    assert.ok(result.summary.reason?.startsWith(`job ${id} did not start: ${why}`), result.summary.reason);
    assert.match(result.summary.reason ?? '', /split the job into several jobs, each with a label selector/);
    const row = await peers.db.db.selectFrom('job_runs').select(['status', 'summary']).where('id', '=', result.jobRunId).executeTakeFirstOrThrow();
    assert.equal(row.status, 'failed');
    assert.equal((row.summary as { reason?: string }).reason, result.summary.reason);
    // The notice, at the Slack peer.
    const messages = peers.slack.messages.filter((m) => m.text.includes(result.jobRunId));
    assert.equal(messages.length, 1);
    assert.ok(messages[0]!.text.startsWith(`Job "${id}" (${id}) run ${result.jobRunId}: failed: job ${id} did not start: ${why}`), messages[0]!.text);
    // No target begun: none recorded, no script asked of the agent.
    assert.equal((await peers.db.db.selectFrom('job_target_results').select('id').where('job_run_id', '=', result.jobRunId).execute()).length, 0, 'a target was recorded');
    assert.deepEqual(ran, [], 'the agent was asked to run the script');
  });

  it('a save whose selector or `all` matches more now is refused 422 naming the count and the bound; one matching the bound is saved', async function () {
    const id = `target-bound-save-${sfx}`;
    made.push(id);
    for (const targets of [{ selector: { fleet } }, { all: true }]) {
      const res = await api('POST', '/api/jobs', definition(id, targets));
      assert.equal(res.status, 422, await res.clone().text());
      assert.match(res.headers.get('content-type') ?? '', /^application\/problem\+json/);
      const problem = (await res.json()) as { detail: string; matched: number; maxTargets: number; errors: { path: string; message: string }[] };
      assert.match(problem.detail, new RegExp(`match ${MAX_JOB_RUN_TARGETS + 1} environments, more than the ${MAX_JOB_RUN_TARGETS} one run may hold`));
      assert.deepEqual([problem.matched, problem.maxTargets], [MAX_JOB_RUN_TARGETS + 1, MAX_JOB_RUN_TARGETS]);
      assert.equal(problem.errors[0]?.path, 'targets');
    }
    assert.equal(await peers.db.db.selectFrom('jobs').select('id').where('id', '=', id).executeTakeFirst(), undefined, 'the refused job was saved');

    // Exactly the bound: saved. Then replaced by a selector matching one more: refused, the job as it was.
    const created = await api('POST', '/api/jobs', definition(id, { selector: { fleet, half: 'yes' } }));
    assert.equal(created.status, 201, await created.clone().text());
    const replaced = await api('PUT', `/api/jobs/${id}`, definition(id, { selector: { fleet } }));
    assert.equal(replaced.status, 422, await replaced.clone().text());
    assert.match(((await replaced.json()) as { detail: string }).detail, new RegExp(`match ${MAX_JOB_RUN_TARGETS + 1} environments`));
    const stored = await peers.db.db.selectFrom('jobs').select('definition').where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual((stored.definition as { targets: unknown }).targets, { selector: { fleet, half: 'yes' } });
  });
});
