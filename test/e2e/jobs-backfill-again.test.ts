// Every execution of a job's workflow is recorded as its own run (found in review). Temporal names a
// scheduled run `jobrun-<job>-<nominal time, to the second>` and starts a backfilled (or triggered) one
// allowing a duplicate id, so a backfill window that holds a time the schedule already took starts a second
// execution under the same workflow id. The job workflow keyed its run by workflow id alone: the second
// execution was never recorded as a run, wrote its target results over the first run's, and its failure
// notice found the first's once-only key (`<run id>:notice:slack`) taken, while its summary said "notified".
// It is now recorded as `<workflow id>@<run id>` (insertJobRunStart), with its own results and notice.
import assert from 'node:assert/strict';
import { jobScheduleId } from '../../src/temporal/names.js';
import { stackWithJobAgent } from '../helpers/agent-host.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { eventually } from '../helpers/stack.js';

const ENV = 'backfill-again';

describe('a backfill over a time already run is recorded as its own run', function () {
  this.timeout(240_000);
  let slack: SlackPeer;
  const SLACK_REF = 'SELFHEAL_SECRET_BACKFILL_AGAIN_SLACK';

  // The Slack peer is there before the stack starts and closed after it stopped (hooks run in the order given).
  before(async function () {
    slack = await startSlackPeer();
    process.env[SLACK_REF] = slack.webhookUrl;
  });
  const peers = stackWithJobAgent({
    prefix: 'backfill-again',
    environment: ENV,
    env: { ACTION_EGRESS_ALLOW: '127.0.0.1/32' },
    // Each execution of the script appends one line: its run id as the agent was told.
    scripts: (marksDir) => ({
      'fail.sh': `echo "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/fail-$SELFHEAL_ENVIRONMENT"\necho "RESULT expired=3"\nexit 1`,
      'mark.sh': `echo "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/$SELFHEAL_ENVIRONMENT"\necho "RESULT ok"`,
    }),
  });
  after(async function () {
    await slack?.close();
    delete process.env[SLACK_REF];
  });

  // Both cases' hourly jobs, made at once: their next time comes some 30 s from now (Temporal counts
  // intervals from the epoch), the same wait for both. Before, each case made its own and waited 70 s.
  const jobs = {} as { reuse: string; notice: string };
  before(async function () {
    const offset = () => Math.floor((Date.now() + 30_000) / 1000) % 3600 || 1;
    jobs.reuse = await peers.createJob({ name: 'backfill reuse', schedule: { interval: `every 1h offset ${offset()}s` }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh', concurrency: 1 });
    jobs.notice = await peers.createJob({
      name: 'backfill notice',
      schedule: { interval: `every 1h offset ${offset()}s` },
      targets: { environments: [ENV] },
      via: 'agent',
      script: 'fail.sh',
      notifyOnFailure: { slack: { webhookUrlRef: `env:${SLACK_REF}` } },
    });
  });

  const scheduleIdle = (id: string) =>
    eventually(async () => (await peers.stack.temporal.client.schedule.getHandle(jobScheduleId(id)).describe()).info.runningActions.length === 0, 30_000, 'the schedule to see its run end');

  it('the script ran twice (scheduled, then backfilled): two runs in the history, the first one kept', async function () {
    const jobId = jobs.reuse;

    // The schedule's own run, finished.
    const first = await peers.runEnded('job_id', jobId, 150_000, 'the scheduled run to finish');
    assert.equal(first.trigger, 'schedule');
    assert.equal(first.status, 'succeeded');
    const firstFinishedAt = new Date(first.finished_at!).toISOString();
    const scheduledAt = new Date(first.scheduled_at!);
    assert.deepEqual(await peers.marks(), [first.id]);

    // An SRE backfills a window that holds that time (the window around an outage, say), once the schedule
    // saw its run end: until then it counts the run as going, and skip drops the backfilled start.
    await scheduleIdle(jobId);
    const bf = await peers.stack.api(`/api/jobs/${jobId}/backfill`, {
      method: 'POST',
      body: JSON.stringify({ start: new Date(scheduledAt.getTime() - 1000).toISOString(), end: new Date(scheduledAt.getTime() + 1000).toISOString() }),
    });
    assert.equal(bf.status, 202, await bf.clone().text());
    await eventually(async () => (await peers.marks()).length >= 2, 60_000, 'the backfilled run to start the script');
    // The backfilled execution (the latest of that workflow id) to close.
    const second = (await peers.stack.temporal.client.workflow.getHandle(first.id).result()) as { status: string; summary: unknown };

    const ran = await peers.marks();
    const rows = await peers.stack.db.db.selectFrom('job_runs').selectAll().where('job_id', '=', jobId).orderBy('started_at').execute();
    // Temporal's view: two executions of the job's workflow.
    const executionsInTemporal: string[] = [];
    for await (const w of peers.stack.temporal.client.workflow.list({ query: `WorkflowId = '${first.id}'` })) executionsInTemporal.push(w.runId);
    const results = await peers.stack.db.db.selectFrom('job_target_results').select(['environment', 'status', 'started_at', 'finished_at']).where('job_run_id', '=', first.id).execute();
    const detail = `backfilled execution answered ${JSON.stringify(second.status)}; target results of ${first.id}: ${JSON.stringify(results)}; script executions: ${JSON.stringify(ran)}; Temporal executions of ${first.id}: ${executionsInTemporal.length}; job_runs rows: ${JSON.stringify(rows.map((r) => ({ id: r.id, run_id: r.run_id, status: r.status, started_at: r.started_at, finished_at: r.finished_at })))} (first run finished at ${firstFinishedAt})`;
    assert.equal(ran.length, 2, detail);
    assert.equal(rows.length, ran.length, `every execution of the script should be recorded as its own run; ${detail}`);
    const still = rows.find((r) => r.run_id === first.run_id)!;
    assert.equal(new Date(still.finished_at!).toISOString(), firstFinishedAt, `the first run's record should be left as it was; ${detail}`);
    // The second run is the backfilled execution, under its own id, with its own target result; the script
    // was told that id.
    const again = rows.find((r) => r.run_id !== first.run_id)!;
    assert.equal(again.id, `${first.id}@${again.run_id}`, detail);
    assert.equal(again.status, 'succeeded', detail);
    assert.deepEqual(ran, [first.id, again.id], detail);
    const targets = async (runId: string) => (await peers.stack.api(`/api/jobs/${jobId}/runs/${encodeURIComponent(runId)}/targets`)).json() as Promise<{ items: { environment: string; startedAt: string }[] }>;
    const [mine, theirs] = [await targets(first.id), await targets(again.id)];
    assert.equal(mine.items.length, 1, detail);
    assert.equal(theirs.items.length, 1, detail);
    assert.ok(new Date(mine.items[0]!.startedAt) < new Date(theirs.items[0]!.startedAt), `each run keeps its own target result; ${JSON.stringify([mine, theirs])}`);
    // The runs list links each to its own execution in Temporal.
    const list = (await (await peers.stack.api(`/api/jobs/${jobId}/runs`)).json()) as { items: { id: string; runId: string; temporalUrl: string }[] };
    const link = list.items.find((r) => r.id === again.id)!.temporalUrl;
    assert.ok(link.endsWith(`/workflows/${encodeURIComponent(first.id)}/${again.run_id}/history`), link);
  });

  it('a backfilled run that fails again sends its own failure notice', async function () {
    const id = jobs.notice;
    const first = await peers.runEnded('job_id', id, 150_000, 'the scheduled run to finish');
    assert.equal(first.status, 'failed');
    const notices = () => slack.messages.filter((m) => m.text.includes(first.id));
    await eventually(async () => notices().length === 1, 20_000, "the first run's notice");

    const scheduledAt = new Date(first.scheduled_at!);
    await scheduleIdle(id);
    const bf = await peers.stack.api(`/api/jobs/${id}/backfill`, {
      method: 'POST',
      body: JSON.stringify({ start: new Date(scheduledAt.getTime() - 1000).toISOString(), end: new Date(scheduledAt.getTime() + 1000).toISOString() }),
    });
    assert.equal(bf.status, 202, await bf.clone().text());
    const failed = () => peers.marks(`fail-${ENV}`);
    await eventually(async () => (await failed()).length >= 2, 60_000, 'the backfilled run to run the script');
    const second = (await peers.stack.temporal.client.workflow.getHandle(first.id).result()) as { status: string; summary: { notification?: string } };
    await new Promise((r) => setTimeout(r, 2000));
    const detail = `script executions ${JSON.stringify(await failed())}; backfilled execution: ${second.status}, notification "${second.summary.notification}"; Slack messages naming ${first.id}: ${JSON.stringify(notices().map((m) => m.text))}`;
    assert.equal(second.status, 'failed', detail);
    assert.equal(notices().length, 2, `two failed runs, one notice: the second run's notice was taken for the first's (side effect key <run id>:notice:slack); ${detail}`);
  });
});
