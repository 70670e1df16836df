// A job run whose Temporal execution ends without recording its end (terminated from the Temporal UI or CLI,
// its 24 h run timeout, a reset that replaced it, its history gone after retention) left its row `running`
// for ever: the runs list, the CLI and the dashboard showed it running. The worker's periodic job-schedule
// pass now asks Temporal about the rows left `running` (closeEndedJobRuns) and records those whose execution
// is closed, or unknown to Temporal, as ended with the reason; a run still going, or started within the
// pass's grace, is left as it is.
//
// A run the pass records failed sends its job's failure notice, as a run failing on its own does, once
// whatever number of passes (worker replicas) find it: before, such a run ended without a word.
//
// The runs here wait on an agent that never answers (no agent polls their environment; a pickup time of an
// hour), so each stays `running` until its workflow is terminated.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { createLogger } from '../../src/logger.js';
import { closeEndedJobRuns } from '../../src/temporal/ended-job-runs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { keepJobSchedulesReconciled } from '../../src/worker.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const ENV = 'ended-in-temporal';

interface ListedRun {
  id: string;
  status: string;
  finishedAt: string | null;
  summary: JobRunSummary | null;
}

describe('a job run whose workflow ended in Temporal without recording its end is recorded ended', function () {
  this.timeout(120_000);
  let stack: Stack;
  const jobs: string[] = [];
  const started: { workflowId: string; runId: string }[] = [];
  const logger = createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });
  let slack: SlackPeer;
  const SLACK_REF = 'SELFHEAL_SECRET_ENDED_IN_TEMPORAL_SLACK';

  before(async function () {
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000', ACTION_EGRESS_ALLOW: '127.0.0.1/32' } });
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: ENV }) });
    assert.equal(res.status, 201, await res.text());
  });

  after(async function () {
    for (const s of started) await stack?.temporal.client.workflow.getHandle(s.workflowId, s.runId).terminate('test done').catch(() => undefined);
    for (const id of jobs) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    await stack?.stop();
    await slack?.close();
    delete process.env[SLACK_REF];
  });

  /** A paused job whose run, started by hand, waits an hour for an agent that never comes; answers the run's row once it is recorded. */
  const waitingRun = async (name: string, more: Record<string, unknown> = {}) => {
    const res = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ name, enabled: false, schedule: { interval: '6h' }, targets: { environments: [ENV] }, via: 'agent', script: 'never.sh', agentPickupTimeoutSeconds: 3600, ...more }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const jobId = ((await res.json()) as { id: string }).id;
    jobs.push(jobId);
    const trig = await stack.api(`/api/jobs/${jobId}/trigger`, { method: 'POST' });
    assert.equal(trig.status, 202, await trig.clone().text());
    const workflowId = ((await trig.json()) as { runId: string }).runId;
    const row = await eventually(async () => stack.db.db.selectFrom('job_runs').selectAll().where('id', '=', workflowId).executeTakeFirst(), 30_000, `the run of ${name} recorded`);
    assert.equal(row.status, 'running');
    started.push({ workflowId, runId: row.run_id! });
    return { jobId, workflowId, runId: row.run_id! };
  };
  const listed = async (jobId: string, runId: string): Promise<ListedRun> => {
    const res = await stack.api(`/api/jobs/${jobId}/runs`);
    assert.equal(res.status, 200, await res.clone().text());
    const run = ((await res.json()) as { items: ListedRun[] }).items.find((r) => r.id === runId);
    assert.ok(run, `run ${runId} in the runs list`);
    return run;
  };

  /** One pass of the worker's periodic job-schedule reconcile, as the worker runs it. */
  const workerPass = async () => {
    const keeper = keepJobSchedulesReconciled({ config: stack.config, db: stack.db.db, logger, client: stack.temporal.client });
    await keeper.first;
    await keeper.stop();
  };
  /** Moves a run's recorded start `ms` back: a run that has been going a while, past the pass's grace for a run just started. */
  const startedAgo = (id: string, ms: number) => stack.db.db.updateTable('job_runs').set({ started_at: new Date(Date.now() - ms) }).where('id', '=', id).execute();

  it('a run terminated in Temporal is listed failed with the reason and its close time; a run still going, and one just started, stay running', async function () {
    const ended = await waitingRun('terminated in Temporal');
    const going = await waitingRun('still going');
    const fresh = await waitingRun('terminated just after its start');
    await startedAgo(ended.workflowId, 10 * 60_000);
    await startedAgo(going.workflowId, 10 * 60_000);

    for (const r of [ended, fresh]) await stack.temporal.client.workflow.getHandle(r.workflowId, r.runId).terminate('test');
    const closeTime = (await stack.temporal.client.workflow.getHandle(ended.workflowId, ended.runId).describe()).closeTime;
    assert.ok(closeTime);
    assert.equal((await listed(ended.jobId, ended.workflowId)).status, 'running', 'terminated: nothing recorded its end yet');

    await workerPass();

    const run = await listed(ended.jobId, ended.workflowId);
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(run.summary?.reason ?? '', /terminated in Temporal .* before it recorded its end; targets without a result did not run/);
    assert.equal(run.finishedAt && new Date(run.finishedAt).toISOString(), closeTime.toISOString());

    const still = await listed(going.jobId, going.workflowId);
    assert.equal(still.status, 'running', JSON.stringify(still));
    assert.equal(still.finishedAt, null);
    assert.equal((await stack.temporal.client.workflow.getHandle(going.workflowId, going.runId).describe()).status.name, 'RUNNING', 'the run going was not touched in Temporal either');
    assert.equal((await listed(fresh.jobId, fresh.workflowId)).status, 'running', 'a run started within the grace is left for a later pass');

    // Past the grace, the run terminated just after its start is recorded too; a later pass finds nothing more.
    assert.deepEqual((await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0 })).closed, [fresh.workflowId]);
    assert.equal((await listed(fresh.jobId, fresh.workflowId)).status, 'failed');
    assert.deepEqual((await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0 })).closed, []);
    assert.equal((await listed(going.jobId, going.workflowId)).status, 'running');
  });

  it('a run whose execution Temporal no longer knows (history removed after retention) is listed failed, saying so', async function () {
    const { jobId } = await waitingRun('history gone');
    // A row as a run of long ago left it: its execution purged, so Temporal knows neither workflow nor run.
    const id = `jobrun-${jobId}-purged-${randomUUID()}`;
    await stack.db.db.insertInto('job_runs').values({ id, run_id: randomUUID(), job_id: jobId, trigger: 'schedule', status: 'running', scheduled_at: null, started_at: new Date(Date.now() - 3 * 86_400_000) }).execute();
    // Two targets recorded a result before it ended: the summary counts them, its failure listed.
    const at = new Date(Date.now() - 3 * 86_400_000).toISOString();
    for (const [environment, status, error] of [['purged-a', 'succeeded', null], ['purged-b', 'failed', 'exit 3']] as const) {
      await stack.db.db.insertInto('job_target_results').values({ job_run_id: id, environment, via: 'agent', status, exit_code: null, output_excerpt: null, error, started_at: at, finished_at: at }).execute();
    }

    await workerPass();

    const run = await listed(jobId, id);
    assert.equal(run.status, 'failed', JSON.stringify(run));
    assert.match(run.summary?.reason ?? '', /Temporal no longer knows the run's workflow/);
    assert.ok(run.finishedAt);
    const { reason: _, ...counts } = run.summary!;
    assert.deepEqual(counts, { total: 2, succeeded: 1, failed: 1, timedOut: 0, skipped: 0 }, 'the listed summary leaves out failures (the targets hold them)');
    const targets = (await (await stack.api(`/api/jobs/${jobId}/runs/${encodeURIComponent(id)}/targets`)).json()) as { items: { environment: string; status: string }[] };
    assert.deepEqual(targets.items.map((t) => [t.environment, t.status]), [['purged-a', 'succeeded'], ['purged-b', 'failed']], 'the targets recorded stay');
    const row = await stack.db.db.selectFrom('job_runs').select('summary').where('id', '=', id).executeTakeFirstOrThrow();
    assert.deepEqual((row.summary as JobRunSummary).failures, [{ environment: 'purged-b', status: 'failed', error: 'exit 3' }]);
  });

  it("a run reset past its start record goes on under its row: neither recorded ended nor left out of the job's overlap policy", async function () {
    const run = await waitingRun('reset past its start');
    await startedAgo(run.workflowId, 10 * 60_000);
    // Reset to its last workflow task (it waits for an agent): the new execution replays the start record's
    // answer and goes on writing this row, whose run id still names the execution the reset closed.
    const handle = stack.temporal.client.workflow.getHandle(run.workflowId, run.runId);
    const waitsForAgent = async (runId: string) =>
      (await stack.temporal.client.workflow.getHandle(run.workflowId, runId).describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'agentPresent') ? true : undefined;
    await eventually(() => waitsForAgent(run.runId), 30_000, 'the run to wait for its agent (its start recorded and its targets resolved)');
    const events = (await handle.fetchHistory()).events!;
    const lastTask = [...events].reverse().find((e) => e.workflowTaskCompletedEventAttributes)!.eventId!;
    const { runId: again } = await stack.temporal.client.workflowService.resetWorkflowExecution({
      namespace: 'default',
      workflowExecution: { workflowId: run.workflowId, runId: run.runId },
      reason: 'reset to its last workflow task (test)',
      workflowTaskFinishEventId: lastTask,
      requestId: randomUUID(),
    });
    assert.ok(again);
    started.push({ workflowId: run.workflowId, runId: again });
    assert.equal((await handle.describe()).status.name, 'TERMINATED');
    await eventually(() => waitsForAgent(again), 30_000, 'the new execution to wait for the agent again');
    assert.equal(await stack.db.db.selectFrom('job_runs').select('id').where('id', '=', `${run.workflowId}@${again}`).executeTakeFirst(), undefined, 'no row of its own: it carries on the first');

    assert.deepEqual((await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0 })).closed, [], 'nothing recorded ended');
    assert.equal((await listed(run.jobId, run.workflowId)).status, 'running');
    // Its job (overlap skip) still counts it: another run by hand is refused.
    const trig = await stack.api(`/api/jobs/${run.jobId}/trigger`, { method: 'POST' });
    assert.equal(trig.status, 409, await trig.clone().text());
    assert.match(((await trig.json()) as { detail: string }).detail, new RegExp(`has a run in progress \\(${run.workflowId}\\)`));

    // Once that execution is terminated too, the row is recorded ended.
    await stack.temporal.client.workflow.getHandle(run.workflowId, again).terminate('test');
    assert.deepEqual((await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0 })).closed, [run.workflowId]);
    assert.equal((await listed(run.jobId, run.workflowId)).status, 'failed');
  });

  it('runs still going at the front of the oldest do not keep an ended one behind them from its turn', async function () {
    const first = await waitingRun('going, oldest');
    const second = await waitingRun('going, second oldest');
    const ended = await waitingRun('ended behind them');
    await startedAgo(first.workflowId, 20 * 60_000);
    await startedAgo(second.workflowId, 19 * 60_000);
    await startedAgo(ended.workflowId, 5 * 60_000);
    await stack.temporal.client.workflow.getHandle(ended.workflowId, ended.runId).terminate('test');

    // Two rows a pass: the first asks about the two going; the next goes on after them, and finds the ended one.
    const pass1 = await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0, limit: 2 });
    assert.deepEqual(pass1.closed, []);
    assert.equal(pass1.next?.id, second.workflowId);
    const pass2 = await closeEndedJobRuns(stack.temporal.client, stack.db.db, logger, { graceMs: 0, limit: 2, after: pass1.next });
    assert.deepEqual(pass2.closed, [ended.workflowId]);
    assert.equal((await listed(ended.jobId, ended.workflowId)).status, 'failed');
    for (const r of [first, second]) assert.equal((await listed(r.jobId, r.workflowId)).status, 'running');
  });

  it("a run the pass records failed sends its job's failure notice to the job's Slack channel, once, though two worker replicas' passes find it at once", async function () {
    const run = await waitingRun('reset expiring root passwords', { notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } } });
    await startedAgo(run.workflowId, 10 * 60_000);
    await stack.temporal.client.workflow.getHandle(run.workflowId, run.runId).terminate('test');
    const before = slack.messages.length;

    // Two workers' passes at the same moment: both find the row `running` and its execution terminated.
    await Promise.all([workerPass(), workerPass()]);

    const notices = slack.messages.slice(before).filter((m) => m.text.includes(run.workflowId));
    assert.equal(notices.length, 1, `one notice at the Slack peer; got ${JSON.stringify(slack.messages.slice(before))}`);
    assert.match(notices[0]!.text, new RegExp(`^Job "reset expiring root passwords" \\(${run.jobId}\\) run ${run.workflowId}: failed`));
    assert.match(notices[0]!.text, /terminated in Temporal .* before it recorded its end/);
    const listedRun = await listed(run.jobId, run.workflowId);
    assert.equal(listedRun.status, 'failed');
    assert.equal(listedRun.summary?.notification, 'notified via slack', JSON.stringify(listedRun));

    // A later pass finds nothing more to say.
    await workerPass();
    assert.equal(slack.messages.slice(before).filter((m) => m.text.includes(run.workflowId)).length, 1);
  });
});
