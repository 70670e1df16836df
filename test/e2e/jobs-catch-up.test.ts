// Catch-up after an outage. While the worker is down, a job's schedule goes on starting a workflow at each
// due time (Temporal holds them on the task queue); with `overlap: allow_all` every one of them is started,
// and when the worker comes back they all run at once, each starting the script on every target: N runs of
// "reset expiring root passwords" where an SRE expects one. (Temporal itself down over the due times takes
// the same path once it is back: the missed times within `catchupWindow` are each started, allow_all all at
// once.) A run of the schedule's own whose scheduled time has a later one of its schedule already past when
// it starts is now recorded `skipped`, naming that time: of the missed times, only the latest runs. A
// backfill through the API keeps its meaning: every time of its window runs (its audit record says which
// times it asked for).
import assert from 'node:assert/strict';
import type { ScheduleDescription } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { buildMainWorker } from '../../src/worker.js';
import { stackWithJobAgent } from '../helpers/agent-host.js';
import { eventually } from '../helpers/stack.js';

const ENV = 'catch-up';

describe('catch-up after an outage takes one run for the times missed', function () {
  this.timeout(420_000);
  const peers = stackWithJobAgent({
    prefix: 'catch-up',
    environment: ENV,
    // Each execution of the script appends one line: its run id as the agent was told.
    scripts: (marksDir) => ({ 'mark.sh': `echo "$SELFHEAL_JOB_RUN_ID" >> "${marksDir}/$SELFHEAL_ENVIRONMENT"\necho "RESULT ok"` }),
  });
  let again: { worker: Worker; running: Promise<void> } | undefined;
  /** The catch-up rule's log lines of the worker back after the outage. */
  const clockReads: string[] = [];
  after(async function () {
    if (again?.worker.getState() === 'RUNNING') again.worker.shutdown();
    await again?.running;
  });

  /** The main worker goes down (a deploy gone wrong, a node lost); the schedules go on starting runs. */
  const workerDown = async () => {
    const worker = again?.worker ?? peers.stack.worker;
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await eventually(async () => worker.getState() === 'STOPPED', 60_000, 'the worker to stop');
  };
  /** The main worker is back. */
  const workerBack = async () => {
    const { stack } = peers;
    // Its catch-up rule's lines kept: where it read Temporal's clock (clockReads).
    const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void (line.includes('catch-up rule') && clockReads.push(line)) } });
    const worker = await buildMainWorker({ config: stack.config, db: stack.db.db, logger, connection: stack.temporal.nativeConnection, extractors: {} });
    again = { worker, running: worker.run() };
  };

  const runsOf = (jobId: string) => peers.stack.db.db.selectFrom('job_runs').selectAll().where('job_id', '=', jobId).orderBy('scheduled_at').execute();
  /** The runs among `rows` that ran the script (their ids, in order), and what an assertion shows of both. */
  const executions = async (rows: Awaited<ReturnType<typeof runsOf>>) => {
    const ran = (await peers.marks()).filter((id) => rows.some((r) => r.id === id));
    const runs = rows.map((r) => ({ id: r.id, scheduledAt: r.scheduled_at, startedAt: r.started_at, status: r.status, reason: (r.summary as JobRunSummary | null)?.reason }));
    return { ran, detail: `script executions: ${JSON.stringify(ran)}; runs: ${JSON.stringify(runs)}` };
  };

  it('a backfill through the API of an allow_all job keeps its meaning: every time of its window runs the script, later times past or not', async function () {
    const jobId = await peers.createJob({ name: 'backfilled on purpose', schedule: { interval: '1h', overlap: 'allow_all' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
    // The two hourly times before now: the earlier one has a later one past too, as a catch-up's would.
    const hour = 3_600_000;
    const last = new Date(Math.floor(Date.now() / hour) * hour);
    const first = new Date(last.getTime() - hour);
    const bf = await peers.stack.api(`/api/jobs/${jobId}/backfill`, { method: 'POST', body: JSON.stringify({ start: first.toISOString(), end: last.toISOString() }) });
    assert.equal(bf.status, 202, await bf.clone().text());
    const ended = await eventually(
      async () => {
        const rows = (await runsOf(jobId)).filter((r) => r.scheduled_at && [first.getTime(), last.getTime()].includes(new Date(r.scheduled_at).getTime()));
        return rows.length === 2 && rows.every((r) => r.status !== 'running') ? rows : undefined;
      },
      120_000,
      'the two backfilled runs to end',
    );
    const { ran, detail } = await executions(ended);
    for (const r of ended) {
      assert.equal(r.status, 'succeeded', detail);
      assert.ok(ran.includes(r.id), `the backfilled run ${r.id} ran the script; ${detail}`);
    }
  });

  // The cases below share one outage: the worker goes down, each case's job is created and its schedule
  // left to start (or buffer) the runs of its due times, all of them over the same minutes (the schedules
  // fire once a minute, the shortest interval a job may have, offset so that the first time comes some 8 s
  // after the jobs are made); then the worker comes back once, and each case looks at what its job's runs
  // did. Before, each case took an outage of its own, and its first due time came up to a minute later.
  describe('the worker down over the due times of five jobs', function () {
    type Action = ScheduleDescription['info']['recentActions'][number];
    const handle = (jobId: string) => peers.stack.temporal.client.schedule.getHandle(jobScheduleId(jobId));
    const cases = {} as {
      allowAll: { jobId: string; started: { workflowId: string; scheduledAt: Date }[] };
      buffered: { jobId: string };
      late: { jobId: string; held: Action };
      besideBackfill: { jobId: string; due: Action; yesterday: string; backfill: { status: number; text: string } };
      runNow: { jobId: string; trigger: { status: number; text: string; triggeredAt?: string } };
    };

    before(async function () {
      this.timeout(300_000);
      await workerDown();
      const offset = (Math.floor(Date.now() / 1000) + 8) % 60 || 1;
      const interval = `every 1m offset ${offset}s`;
      await Promise.all([
        (async () => {
          const jobId = await peers.createJob({ name: 'reset expiring root passwords', schedule: { interval, overlap: 'allow_all' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
          const schedule = handle(jobId);
          await eventually(async () => (await schedule.describe()).info.numActionsTaken >= 2, 180_000, 'the schedule to start two runs while the worker is down');
          // No third one while the test looks (the job stays enabled: its runs are not the paused job's).
          await schedule.pause('test: two due times missed are enough');
          const started = (await schedule.describe()).info.recentActions.map((a) => ({ workflowId: a.action.workflow.workflowId, scheduledAt: a.scheduledAt }));
          cases.allowAll = { jobId, started };
        })(),
        (async () => {
          const jobId = await peers.createJob({ name: 'reset expiring root passwords, buffered', schedule: { interval, overlap: 'buffer_one' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
          // The first time's run started (held on the task queue), the second time's buffered behind it.
          await eventually(async () => Number(String((await handle(jobId).describe()).raw.info?.bufferSize ?? 0)) >= 1, 180_000, 'the schedule to buffer a run while the worker is down');
          cases.buffered = { jobId };
        })(),
        (async () => {
          const jobId = await peers.createJob({ name: 'late but due', schedule: { interval, overlap: 'allow_all' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
          const schedule = handle(jobId);
          await eventually(async () => (await schedule.describe()).info.numActionsTaken >= 1, 180_000, 'the schedule to start a run while the worker is down');
          // The worker lags: the next due time passes, but its run never starts (paused: as a backlog would hold it).
          await schedule.pause('test: one run, late');
          const [held] = (await schedule.describe()).info.recentActions;
          const laterTime = held!.scheduledAt.getTime() + 60_000;
          await eventually(async () => Date.now() > laterTime + 2_000, 120_000, 'the next due time to pass');
          cases.late = { jobId, held: held! };
        })(),
        (async () => {
          const jobId = await peers.createJob({ name: 'buffered beside a backfill', schedule: { interval, overlap: 'buffer_one' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
          const schedule = handle(jobId);
          const before = (await schedule.describe()).info.numActionsTaken;
          await eventually(async () => (await schedule.describe()).info.numActionsTaken > before, 180_000, 'the schedule to start a run while the worker is down');
          const due = (await schedule.describe()).info.recentActions.at(-1)!;
          // An operator backfills yesterday's time of it: its run starts after today's due time.
          const yesterday = new Date(due.scheduledAt.getTime() - 86_400_000).toISOString();
          const bf = await peers.stack.api(`/api/jobs/${jobId}/backfill`, { method: 'POST', body: JSON.stringify({ start: yesterday, end: new Date(Date.parse(yesterday) + 30_000).toISOString(), overlap: 'allow_all' }) });
          cases.besideBackfill = { jobId, due, yesterday, backfill: { status: bf.status, text: await bf.text() } };
        })(),
        (async () => {
          const jobId = await peers.createJob({ name: 'run now, buffered', schedule: { interval, overlap: 'buffer_one' }, targets: { environments: [ENV] }, via: 'agent', script: 'mark.sh' });
          const schedule = handle(jobId);
          await eventually(async () => (await schedule.describe()).info.numActionsTaken >= 1, 180_000, 'the schedule to start a run while the worker is down');
          // Asked for a few seconds after the held run's time: its run is named by a later second.
          const [heldRun] = (await schedule.describe()).info.recentActions;
          await eventually(async () => Date.now() > heldRun!.scheduledAt.getTime() + 3_000, 60_000, 'a few seconds to pass');
          const trig = await peers.stack.api(`/api/jobs/${jobId}/trigger`, { method: 'POST' });
          const text = await trig.text();
          cases.runNow = { jobId, trigger: { status: trig.status, text, ...(trig.status === 202 ? { triggeredAt: (JSON.parse(text) as { triggeredAt: string }).triggeredAt } : {}) } };
        })(),
      ]);
      await workerBack();
    });

    it('an allow_all job whose worker was down over two due times runs the script once when the worker is back; the earlier run is recorded skipped, naming the later time', async function () {
      const { jobId, started } = cases.allowAll;
      assert.equal(started.length, 2, JSON.stringify(started));
      for (const s of started) await peers.stack.temporal.client.workflow.getHandle(s.workflowId).result();

      const rows = await runsOf(jobId);
      const { ran, detail } = await executions(rows);
      assert.equal(ran.length, 1, `one catch-up run for the two times missed; ${detail}`);
      const [earlier, later] = rows;
      assert.equal(ran[0], later!.id, `the run of the later time ran; ${detail}`);
      assert.equal(later!.status, 'succeeded', detail);
      assert.equal(earlier!.status, 'skipped', detail);
      assert.match((earlier!.summary as JobRunSummary).reason ?? '', new RegExp(`later scheduled time .*${new Date(later!.scheduled_at!).toISOString()}`), detail);
    });

    it('a buffer_one job whose worker was down over two due times runs the script once when the worker is back; the run buffered behind it is recorded skipped, naming the run that did its work', async function () {
      const { jobId } = cases.buffered;
      // The first run, then the buffered one once the first ended.
      const rows = await eventually(
        async () => {
          const r = await runsOf(jobId);
          return r.length >= 2 && r.slice(0, 2).every((x) => x.status !== 'running') ? r.slice(0, 2) : undefined;
        },
        120_000,
        'the runs of the two times missed to end',
      );
      await handle(jobId).pause('test done');
      const { ran, detail } = await executions(rows);
      const [first, buffered] = rows;
      assert.deepEqual(ran, [first!.id], `one catch-up run for the two times missed, the first; ${detail}`);
      assert.equal(first!.status, 'succeeded', detail);
      assert.equal(buffered!.status, 'skipped', detail);
      assert.match((buffered!.summary as JobRunSummary).reason ?? '', new RegExp(`run ${first!.id} of job ${jobId}, scheduled before this run's time .* started only after it`), detail);
    });

    it('an allow_all run that reaches its worker after its next due time passed, no later run started (a worker lagging), runs the script', async function () {
      const { jobId, held } = cases.late;
      await peers.stack.temporal.client.workflow.getHandle(held.action.workflow.workflowId).result();
      const rows = await runsOf(jobId);
      const { ran, detail } = await executions(rows);
      assert.equal(rows.length, 1, detail);
      assert.deepEqual(ran, [rows[0]!.id], `the late run ran the script; ${detail}`);
      assert.equal(rows[0]!.status, 'succeeded', detail);
    });

    it("a buffer_one job's scheduled run runs the script when a backfill of an older time started after its due time", async function () {
      const { jobId, due, yesterday, backfill } = cases.besideBackfill;
      assert.equal(backfill.status, 202, backfill.text);
      await peers.stack.temporal.client.workflow.getHandle(due.action.workflow.workflowId).result();
      const rows = await eventually(
        async () => {
          const r = await runsOf(jobId);
          const mine = r.filter((x) => x.scheduled_at && [yesterday, due.scheduledAt.toISOString()].includes(new Date(x.scheduled_at).toISOString()));
          return mine.length === 2 && mine.every((x) => x.status !== 'running') ? mine : undefined;
        },
        120_000,
        'the backfilled run and the due one to end',
      );
      await handle(jobId).pause('test done');
      const { ran, detail } = await executions(rows);
      const today = rows.find((r) => new Date(r.scheduled_at!).getTime() === due.scheduledAt.getTime())!;
      assert.equal(today.status, 'succeeded', detail);
      assert.ok(ran.includes(today.id), `today's run ran the script; ${detail}`);
    });

    it("the catch-up rule of the worker back reads Temporal's clock from the description of the deciding run's workflow (its attempt's start), not from the attempt's scheduled time", async function () {
      // The buffer_one run beside the backfill compares the backfill's audit record: by then it has decided.
      await peers.stack.temporal.client.workflow.getHandle(cases.besideBackfill.due.action.workflow.workflowId).result();
      const sources = clockReads.map((l) => (JSON.parse(l) as { source?: string; msg: string }).source ?? (JSON.parse(l) as { msg: string }).msg);
      assert.ok(sources.includes('describe'), `catch-up rule lines: ${JSON.stringify(clockReads)}`);
      assert.ok(!sources.includes('scheduled'), `catch-up rule lines: ${JSON.stringify(clockReads)}`);
    });

    it('a Run now of a buffer_one job while an earlier scheduled run is held runs the script once that run ended', async function () {
      const { jobId, trigger } = cases.runNow;
      assert.equal(trigger.status, 202, trigger.text);
      const triggeredAt = trigger.triggeredAt!;
      const rows = await eventually(
        async () => {
          const r = await runsOf(jobId);
          const asked = r.find((x) => x.scheduled_at && Math.abs(new Date(x.scheduled_at).getTime() - new Date(triggeredAt).getTime()) <= 1_000);
          return asked && r.length >= 2 && r.slice(0, 2).every((x) => x.status !== 'running') && asked.status !== 'running' ? { all: r, asked } : undefined;
        },
        180_000,
        'the held run and the one asked for to end',
      );
      await handle(jobId).pause('test done');
      const { ran, detail } = await executions(rows.all);
      assert.equal(rows.asked.status, 'succeeded', detail);
      assert.ok(ran.includes(rows.asked.id), `the run asked for ran the script; ${detail}`);
    });
  });
});
