// The catch-up rule's decisions, taken by the activities themselves against Postgres and a real Temporal:
// runs of one catch-up of an allow_all job decide one at a time under the job's lock, in whatever order
// they come, and only the run of the latest time missed runs; a run skips only for a later run sure to
// run; a Run now is told by its time being off the schedule's, not by its audit record's clock. Each run is
// a workflow Temporal holds under the id its schedule gives it (nothing polls its task queue), whose start
// record and target resolution are the activities called here as the workflow calls them.
// (The whole path, the worker down and back, is in test/e2e/jobs-catch-up.test.ts.)
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createJobActivities } from '../../activities/jobs.js';
import { previousScheduledTime } from '../../src/domain/jobs.js';
import { createLogger } from '../../src/logger.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { jobRunWorkflowIdPrefix, scheduledJobRunWorkflowId } from '../../src/temporal/schedules.js';
import { jobRunsSuite } from '../helpers/job-runs-suite.js';

const logger = createLogger({ level: 'silent' });
// Nothing polls this queue: a run started on it stays open until terminated.
const TASK_QUEUE = 'job-catch-up-order';
const HOUR = 3_600_000;

describe('the catch-up rule decides in order: one run for the times missed, none lost', function () {
  const suite = jobRunsSuite(TASK_QUEUE);
  const { open } = suite;
  // The schedule itself starts nothing while the test looks (the job stays enabled).
  const createJob = (name: string, overlap: string, schedule?: { interval: string } | { cron: string }) => suite.createJob(name, overlap, { schedule, paused: true });
  /** How far Temporal's clock is ahead of the database's (this machine's): negative, behind. */
  let temporalAheadMs = 0;
  afterEach(() => {
    temporalAheadMs = 0;
  });
  // Outside an activity: Temporal's time of the attempt asking is this machine's, moved by temporalAheadMs.
  const activities = (more: Partial<Parameters<typeof createJobActivities>[0]> = {}) =>
    createJobActivities({ db: suite.t.db, logger, env: {}, temporal: () => suite.client, attemptScheduledAt: () => new Date(Date.now() + temporalAheadMs), ...more });
  /** The schedule's latest time passed (1 h interval). */
  const latestTime = () => previousScheduledTime({ interval: '1h' }, new Date(Date.now() + 1))!;

  /**
   * A run of `jobId` for time `at` as its schedule starts it: its workflow held in Temporal (unless
   * `inTemporal` is false), and its start recorded unless `record` is false. Answers its id and run id.
   */
  const startRun = async (jobId: string, at: Date, opts: { id?: string; inTemporal?: boolean; record?: boolean } = {}): Promise<{ id: string; runId: string }> => {
    const id = opts.id ?? scheduledJobRunWorkflowId(jobId, at);
    let runId = `not-in-temporal-${randomBytes(4).toString('hex')}`;
    if (opts.inTemporal !== false) {
      const h = await suite.client.workflow.start('jobWorkflow', { taskQueue: TASK_QUEUE, workflowId: id, args: [{ jobId }] });
      runId = h.firstExecutionRunId;
      open.push(id);
    }
    if (opts.record !== false) await record(jobId, { id, runId }, at);
    return { id, runId };
  };
  const record = (jobId: string, run: { id: string; runId: string }, at: Date) =>
    activities().recordJobRunStart({ jobRunId: run.id, runId: run.runId, jobId, trigger: 'schedule', scheduledAt: at.toISOString() });
  /** What the run's workflow would do: 'runs' (a plan of targets) or why it skips. */
  const resolve = async (jobId: string, id: string): Promise<string> => {
    const r = await activities().resolveJobTargets({ jobId, trigger: 'schedule', jobRunId: id });
    return 'skipped' in r ? `skipped: ${r.skipped}` : 'runs';
  };

  it('an allow_all catch-up whose runs each record their start and decide before the next one starts runs only the run of the latest time missed', async function () {
    const jobId = await createJob('catch-up in time order', 'allow_all');
    const latest = latestTime();
    const times = Array.from({ length: 6 }, (_, i) => new Date(latest.getTime() - (5 - i) * HOUR));
    // Temporal started every run of the times missed (the worker was down); the worker takes them oldest
    // first, each recording its start and deciding before the next one records its start.
    const runs: Array<{ id: string; runId: string }> = [];
    for (const at of times) runs.push(await startRun(jobId, at, { record: false }));
    const outcomes: string[] = [];
    for (const [i, run] of runs.entries()) {
      await record(jobId, run, times[i]!);
      outcomes.push(await resolve(jobId, run.id));
    }
    const ran = runs.filter((_, i) => outcomes[i] === 'runs').map((r) => r.id);
    assert.deepEqual(ran, [runs.at(-1)!.id], `only the latest time's run runs; outcomes: ${JSON.stringify(outcomes)}`);
    for (const o of outcomes.slice(0, -1)) assert.match(o, new RegExp(`later scheduled time .*${latest.toISOString()}`));
  });

  it('an allow_all catch-up whose runs record their start and decide all at once runs exactly one script run, the latest time missed', async function () {
    this.timeout(60_000);
    for (let round = 0; round < 4; round++) {
      const jobId = await createJob(`catch-up at once ${round}`, 'allow_all');
      const latest = latestTime();
      const times = Array.from({ length: 10 }, (_, i) => new Date(latest.getTime() - (9 - i) * HOUR));
      const runs: Array<{ id: string; runId: string }> = [];
      for (const at of times) runs.push(await startRun(jobId, at, { record: false }));
      // Every run records its start then resolves its targets, all at the same time, in a shuffled order.
      const order = runs.map((_, i) => i).sort(() => Math.random() - 0.5);
      const outcomes: string[] = Array.from({ length: runs.length }, () => '');
      await Promise.all(
        order.map(async (i) => {
          await record(jobId, runs[i]!, times[i]!);
          outcomes[i] = await resolve(jobId, runs[i]!.id);
        }),
      );
      const ran = runs.filter((_, i) => outcomes[i] === 'runs').map((r) => r.id);
      assert.deepEqual(ran, [runs.at(-1)!.id], `round ${round}: exactly the latest time's run runs; outcomes: ${JSON.stringify(outcomes)}`);
      // What the rows say: one decided to run, the others skipped for a later run.
      const rows = await suite.t.db.selectFrom('job_runs').select(['id', 'catch_up_decision']).where('job_id', '=', jobId).orderBy('scheduled_at').execute();
      assert.deepEqual(rows.map((r) => r.catch_up_decision), [...Array.from({ length: 9 }, () => 'skip'), 'run'], `round ${round}`);
    }
  });

  it('under a backlog, a run an earlier run skipped for runs though a still later run has recorded its start since', async function () {
    const jobId = await createJob('backlog', 'allow_all');
    const latest = latestTime();
    const [t1, t2, t3] = [latest.getTime() - 2 * HOUR, latest.getTime() - HOUR, latest.getTime()].map((ms) => new Date(ms));
    // A worker behind by more than an interval between a run's start record and its targets' turn: each
    // run decides after the next run recorded its start. Temporal has none of them (started long ago).
    const r1 = await startRun(jobId, t1!, { inTemporal: false });
    const r2 = await startRun(jobId, t2!, { inTemporal: false });
    assert.match(await resolve(jobId, r1.id), new RegExp(`^skipped: a later scheduled time .*${t2!.toISOString()}.*${r2.id}`));
    const r3 = await startRun(jobId, t3!, { inTemporal: false });
    assert.equal(await resolve(jobId, r2.id), 'runs', 'the run the first skipped for runs: the job is not left without a run while the backlog lasts');
    // It decided to run after the latest time passed: it did that time's work too.
    assert.match(await resolve(jobId, r3.id), new RegExp(`^skipped: run ${r2.id} .*decided to run at .*after this run's time \\(${t3!.toISOString()}\\)`));
  });

  it('an allow_all catch-up whose runs Temporal starts one after another (Temporal itself was down), each deciding before the next one starts, runs the script once', async function () {
    const jobId = await createJob('catch-up started one by one', 'allow_all');
    const latest = latestTime();
    const times = [2, 1, 0].map((h) => new Date(latest.getTime() - h * HOUR));
    const outcomes: string[] = [];
    const runs: Array<{ id: string; runId: string }> = [];
    for (const at of times) {
      const run = await startRun(jobId, at);
      runs.push(run);
      outcomes.push(await resolve(jobId, run.id));
    }
    assert.deepEqual(outcomes.map((o) => (o === 'runs' ? 'runs' : 'skipped')), ['runs', 'skipped', 'skipped'], `exactly one run runs the script; outcomes: ${JSON.stringify(outcomes)}`);
    for (const o of outcomes.slice(1)) assert.match(o, new RegExp(`^skipped: run ${runs[0]!.id} .*decided to run at`));
  });

  it("an allow_all catch-up after Temporal was down, Temporal's clock 3 minutes ahead of the database's, runs the script once: the earlier run's decision is stamped by Temporal's clock", async function () {
    temporalAheadMs = 3 * 60_000;
    // A time Temporal's clock has passed and the database's has not (for another minute at least): an
    // hourly cron on its minute, and the hour before it.
    const t2 = new Date(Math.ceil((Date.now() + 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('skew, temporal ahead', 'allow_all', { cron: `${t2.getUTCMinutes()} * * * *` });
    // Temporal, back after an outage over both times, starts t1's run; it decides to run (no later run yet).
    const r1 = await startRun(jobId, t1);
    assert.equal(await resolve(jobId, r1.id), 'runs');
    // Then it starts t2's run: t1's decided after t2's time came, by Temporal's clock, and did its work.
    const r2 = await startRun(jobId, t2);
    assert.match(await resolve(jobId, r2.id), new RegExp(`^skipped: run ${r1.id} .*decided to run at .*after this run's time \\(${t2.toISOString()}\\)`));
    const rows = await suite.t.db.selectFrom('job_runs').select(['catch_up_decision', 'catch_up_decided_at']).where('job_id', '=', jobId).orderBy('scheduled_at').execute();
    assert.deepEqual(rows.map((r) => r.catch_up_decision), ['run', 'skip'], 'one run runs the script');
    assert.ok(new Date(rows[0]!.catch_up_decided_at!).getTime() >= t2.getTime(), 'the decision holds Temporal\'s time, not the database\'s');
  });

  it("an allow_all run that decided to run before the next time came by Temporal's clock, the database's 3 minutes ahead, does not make that time's run skip", async function () {
    temporalAheadMs = -3 * 60_000;
    // A time the database's clock has passed (a minute ago at least) and Temporal's has not yet.
    const t2 = new Date(Math.floor((Date.now() - 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('skew, database ahead', 'allow_all', { cron: `${t2.getUTCMinutes()} * * * *` });
    // t1's run, late (a worker lagging), decides to run just before t2's time comes by Temporal's clock:
    // its script starts before that time, so it does not do that time's work.
    const r1 = await startRun(jobId, t1);
    assert.equal(await resolve(jobId, r1.id), 'runs');
    // Then t2 comes and Temporal starts its run: it runs.
    const r2 = await startRun(jobId, t2);
    assert.equal(await resolve(jobId, r2.id), 'runs', "t2's time has its run");
    const rows = await suite.t.db.selectFrom('job_runs').select('catch_up_decision').where('job_id', '=', jobId).orderBy('scheduled_at').execute();
    assert.deepEqual(rows.map((r) => r.catch_up_decision), ['run', 'run']);
  });

  it("a buffer_one run whose earlier run started on time by Temporal's clock runs, the database's clock 3 minutes ahead", async function () {
    temporalAheadMs = -3 * 60_000;
    // A time the database's clock has passed (a minute ago at least) and Temporal's has not yet.
    const t2 = new Date(Math.floor((Date.now() - 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('buffer_one skew, database ahead', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    // t1's run, a long one, starts before t2's time by Temporal's clock (after it by the database's); t2's
    // run, buffered behind it, starts once it ended: t1's run did not do t2's work.
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    await suite.t.db.updateTable('job_runs').set({ status: 'succeeded', finished_at: new Date() }).where('id', '=', r1.id).execute();
    const r2 = await startRun(jobId, t2, { inTemporal: false });
    assert.equal(await resolve(jobId, r2.id), 'runs', "t2's time has its run");
  });

  it("a buffer_one run whose earlier run started after its time by Temporal's clock skips, the database's clock 3 minutes behind", async function () {
    temporalAheadMs = 3 * 60_000;
    // A time Temporal's clock has passed and the database's has not (for another minute at least).
    const t2 = new Date(Math.ceil((Date.now() + 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('buffer_one skew, database behind', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    // The worker was down over t1 and t2: t1's run starts only after t2's time by Temporal's clock (before
    // it by the database's), and does t2's work; t2's run, buffered behind it, then comes.
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    await suite.t.db.updateTable('job_runs').set({ status: 'succeeded', finished_at: new Date() }).where('id', '=', r1.id).execute();
    const r2 = await startRun(jobId, t2, { inTemporal: false });
    assert.match(await resolve(jobId, r2.id), new RegExp(`^skipped: run ${r1.id} of job .*started only after it`));
    const row = await suite.t.db.selectFrom('job_runs').select(['started_at', 'temporal_started_at']).where('id', '=', r1.id).executeTakeFirstOrThrow();
    assert.ok(row.temporal_started_at!.getTime() > t2.getTime() && row.started_at.getTime() < t2.getTime(), "the start holds Temporal's time, not the database's");
  });

  it("an allow_all catch-up, the worker's clock 6 hours ahead of Temporal's, runs the run of the latest time missed by Temporal's clock: the earlier run claims it", async function () {
    temporalAheadMs = -6 * HOUR;
    // By Temporal's clock the latest time passed is 6 hours before the worker's: the worker's clock asked
    // Temporal about the 5 times after it, none started, and missed the run it had started.
    const latest = new Date(latestTime().getTime() - 6 * HOUR);
    const jobId = await createJob('worker clock ahead', 'allow_all');
    const r1 = await startRun(jobId, new Date(latest.getTime() - HOUR));
    const r2 = await startRun(jobId, latest, { record: false });
    assert.match(await resolve(jobId, r1.id), new RegExp(`later scheduled time .*${latest.toISOString()}.*${r2.id} was started by the schedule and runs`));
    await record(jobId, r2, latest);
    assert.equal(await resolve(jobId, r2.id), 'runs');
  });

  it('an allow_all run that claimed the next run skips for it, and a still later run Temporal starts after that run decided skips too: the script runs once', async function () {
    const jobId = await createJob('claimed, then a later start', 'allow_all');
    const latest = latestTime();
    const [t1, t2, t3] = [2, 1, 0].map((h) => new Date(latest.getTime() - h * HOUR));
    // Temporal started t1's and t2's runs (t3's not yet): t1's finds t2's going, claims it and skips.
    const r1 = await startRun(jobId, t1!);
    const r2 = await startRun(jobId, t2!, { record: false });
    assert.match(await resolve(jobId, r1.id), new RegExp(`^skipped: a later scheduled time .*${t2!.toISOString()}.*${r2.id}`));
    await record(jobId, r2, t2!);
    assert.equal(await resolve(jobId, r2.id), 'runs', 'the claimed run runs');
    // Then Temporal starts t3's run: no run after it, but t2's decided to run after its time.
    const r3 = await startRun(jobId, t3!);
    assert.match(await resolve(jobId, r3.id), new RegExp(`^skipped: run ${r2.id} .*decided to run at`));
    const rows = await suite.t.db.selectFrom('job_runs').select('catch_up_decision').where('job_id', '=', jobId).orderBy('scheduled_at').execute();
    assert.deepEqual(rows.map((r) => r.catch_up_decision), ['skip', 'run', 'skip']);
  });

  it('an allow_all run that decides to run revokes the claim on an earlier run that has not decided yet, which then skips when it comes', async function () {
    const jobId = await createJob('claim revoked', 'allow_all');
    const latest = latestTime();
    const [t1, t2, t3] = [2, 1, 0].map((h) => new Date(latest.getTime() - h * HOUR));
    const r1 = await startRun(jobId, t1!);
    const r2 = await startRun(jobId, t2!, { record: false });
    assert.match(await resolve(jobId, r1.id), /^skipped: a later scheduled time/);
    // t3's run starts and decides before the claimed t2 run comes.
    const r3 = await startRun(jobId, t3!);
    assert.equal(await resolve(jobId, r3.id), 'runs');
    const claim = await suite.t.db.selectFrom('job_runs').select('catch_up_decision').where('id', '=', r2.id).executeTakeFirstOrThrow();
    assert.equal(claim.catch_up_decision, 'skip', 'the claim is revoked');
    await record(jobId, r2, t2!);
    assert.match(await resolve(jobId, r2.id), new RegExp(`^skipped: a later scheduled time .*${t3!.toISOString()}.*${r3.id} runs`));
  });

  it('an allow_all run late past its next due time runs when Temporal started no run for the later times (the schedule paused meanwhile)', async function () {
    const jobId = await createJob('late, no successor', 'allow_all');
    const late = new Date(latestTime().getTime() - 2 * HOUR);
    const run = await startRun(jobId, late);
    assert.equal(await resolve(jobId, run.id), 'runs');
    const row = await suite.t.db.selectFrom('job_runs').select('catch_up_decision').where('id', '=', run.id).executeTakeFirstOrThrow();
    assert.equal(row.catch_up_decision, 'run');
  });

  it('an allow_all run of an earlier time whose later run Temporal started but has not recorded its start yet skips, and that later run runs when it comes', async function () {
    const jobId = await createJob('successor not recorded', 'allow_all');
    const latest = latestTime();
    const earlier = await startRun(jobId, new Date(latest.getTime() - HOUR));
    const later = await startRun(jobId, latest, { record: false });
    assert.match(await resolve(jobId, earlier.id), new RegExp(`later scheduled time .*${latest.toISOString()}.*${later.id} was started by the schedule and runs`));
    // Its own start record finds the row its execution holds, and it runs.
    assert.equal(await record(jobId, later, latest), later.id);
    assert.equal(await resolve(jobId, later.id), 'runs');
  });

  it('a run of an allow_all job triggered through its schedule from outside the API (the Temporal UI or CLI), its time off the schedule\'s and no audit record near it, runs though a later scheduled run runs', async function () {
    // The API starts an allow_all job's Run now itself (trigger manual), which the catch-up rule never
    // sees; a trigger of its schedule from the Temporal UI or CLI is named by its time, to the second.
    const jobId = await createJob('triggered outside the API', 'allow_all');
    const latest = latestTime();
    const scheduled = await startRun(jobId, latest);
    assert.equal(await resolve(jobId, scheduled.id), 'runs');
    const named = new Date(latest.getTime() - 17 * 60_000 + 4_000);
    const triggered = await startRun(jobId, named);
    assert.equal(await resolve(jobId, triggered.id), 'runs');
  });

  it('an allow_all catch-up whose runs were started under the schedule the job had before an edit (the worker down over it) runs the script once', async function () {
    const jobId = await createJob('catch-up over an edit', 'allow_all');
    const latest = latestTime();
    const times = [2, 1, 0].map((h) => new Date(latest.getTime() - h * HOUR));
    const runs: Array<{ id: string; runId: string }> = [];
    for (const at of times) runs.push(await startRun(jobId, at, { record: false }));
    // While they wait for the worker, the job's schedule is edited: its times are no longer on the hour.
    const res = await suite.api('PUT', `/api/jobs/${jobId}`, { name: `catch-up over an edit-${suite.suffix}`, schedule: { cron: '30 * * * *', overlap: 'allow_all' }, targets: { environments: [`env-${suite.suffix}`] }, script: 'probe.sh' });
    assert.equal(res.status, 200, await res.clone().text());
    await suite.client.schedule.getHandle(jobScheduleId(jobId)).pause('test: runs are started by hand');
    const outcomes: string[] = [];
    for (const [i, run] of runs.entries()) {
      await record(jobId, run, times[i]!);
      outcomes.push(await resolve(jobId, run.id));
    }
    assert.equal(outcomes.filter((o) => o === 'runs').length, 1, `exactly one run runs the script; outcomes: ${JSON.stringify(outcomes)}`);
  });

  it("a Run now of a buffer_one job landing on one of its schedule's times runs though an earlier scheduled run started after it, the database's clock 3 minutes ahead of Temporal's: its job.trigger audit record is read by Temporal's clock", async function () {
    temporalAheadMs = -3 * 60_000;
    // A minute Temporal's clock has passed: the Run now lands on it to the second (the schedule's time, by
    // its cron), so only its audit record tells it from a run of the schedule's.
    const t2 = new Date(Math.floor((Date.now() - 4 * 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('run now on the grid, database ahead', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    // t1's run started only after t2 by Temporal's clock (a worker lagging) and ran.
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    // The API wrote the Run now's record 2 s before Temporal took the trigger at t2: by the database's clock,
    // 3 minutes ahead, that is t2 + 2 min 58 s.
    const asked = new Date(t2.getTime() + 3 * 60_000 - 2_000);
    await suite.t.db.insertInto('audit_log').values({ at: asked, actor: 'admin', action: 'job.trigger', entity_type: 'job', entity_id: jobId, before: null, after: JSON.stringify({ paused: false }), team: 'default' }).execute();
    const now = await startRun(jobId, t2, { inTemporal: false });
    assert.equal(await resolve(jobId, now.id), 'runs', 'the Run now runs');
  });

  it("a backfill's run of a time just passed by Temporal's clock runs though an earlier scheduled run started after it, the database's clock 3 minutes behind: its job.backfill audit record is read by Temporal's clock", async function () {
    temporalAheadMs = 3 * 60_000;
    // A time Temporal's clock has passed and the database's has not (for another minute at least).
    const t2 = new Date(Math.ceil((Date.now() + 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('backfill just after, database behind', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    // t1's run started after t2 by Temporal's clock and ran.
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    // An operator backfills t2 (its window holds t2 only), after t2 by Temporal's clock: by the database's,
    // behind, the record is written before t2.
    await suite.t.db
      .insertInto('audit_log')
      .values({ at: new Date(), actor: 'admin', action: 'job.backfill', entity_type: 'job', entity_id: jobId, before: null, after: JSON.stringify({ start: new Date(t2.getTime() - 30 * 60_000).toISOString(), end: t2.toISOString() }), team: 'default' })
      .execute();
    const backfilled = await startRun(jobId, t2, { inTemporal: false });
    assert.equal(await resolve(jobId, backfilled.id), 'runs', "the backfill's run runs");
  });

  it("a backfill asked 2 s after a time runs that time's run though the deciding activity took 3 s before it read the database's clock, the clocks equal: the activity's own time is not counted as the database's clock ahead", async function () {
    // A time both clocks have passed.
    const t2 = new Date(Math.floor((Date.now() - 2 * 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('backfill just after, slow activity', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    // t1's run started after t2 and ran.
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    // An operator backfills t2 (its window holds t2 only) 2 s after t2.
    await suite.t.db
      .insertInto('audit_log')
      .values({ at: new Date(t2.getTime() + 2_000), actor: 'admin', action: 'job.backfill', entity_type: 'job', entity_id: jobId, before: null, after: JSON.stringify({ start: new Date(t2.getTime() - 30 * 60_000).toISOString(), end: t2.toISOString() }), team: 'default' })
      .execute();
    const backfilled = await startRun(jobId, t2, { inTemporal: false });
    // Temporal handed the attempt over as the activity began; the activity took 3 s (a slow describe, its
    // reads, round trips to Temporal) before it read the database's clock.
    const handedOver = new Date();
    const slow = activities({ temporalClock: async () => (await new Promise((r) => setTimeout(r, 3_000)), handedOver) });
    const r = await slow.resolveJobTargets({ jobId, trigger: 'schedule', jobRunId: backfilled.id });
    assert.equal('skipped' in r ? `skipped: ${r.skipped}` : 'runs', 'runs', "the backfill's run runs");
  });

  /**
   * The activities as the worker runs them (no clock given): in an activity's context whose Temporal client
   * describes workflows through `describe` (counted in `asked`), its attempt scheduled now; `warnings`, what
   * they log at warn.
   */
  const inActivity = (describe: () => Promise<unknown>) => {
    const asked = { n: 0 };
    const warnings: string[] = [];
    const client = {
      workflow: { getHandle: () => ({ describe: () => (asked.n++, describe()) }) },
      withDeadline: (_d: unknown, fn: () => Promise<unknown>) => fn(),
      withAbortSignal: (_s: unknown, fn: () => Promise<unknown>) => fn(),
    } as unknown as Client;
    const env = new MockActivityEnvironment({ workflowExecution: { workflowId: 'w', runId: 'r' }, activityId: '1', attempt: 1, currentAttemptScheduledTimestampMs: Date.now() }, { client });
    const warnLogger = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(line) } });
    const acts = createJobActivities({ db: suite.t.db, logger: warnLogger, env: {}, temporal: () => suite.client });
    const resolveIn = async (jobId: string, id: string) => {
      const r = (await env.run(acts.resolveJobTargets, { jobId, trigger: 'schedule', jobRunId: id })) as Awaited<ReturnType<typeof acts.resolveJobTargets>>;
      return 'skipped' in r ? `skipped: ${r.skipped}` : 'runs';
    };
    return { asked, warnings, resolveIn };
  };

  it("a buffer_one run with no audit record to read by Temporal's clock decides without asking Temporal to describe its workflow", async function () {
    const jobId = await createJob('buffer_one, nothing to compare', 'buffer_one');
    const { asked, resolveIn } = inActivity(async () => ({ raw: { pendingActivities: [] } }));
    const r = await startRun(jobId, latestTime(), { inTemporal: false });
    assert.equal(await resolveIn(jobId, r.id), 'runs');
    assert.equal(asked.n, 0, 'no describe');
  });

  it("a backfill's run decides when Temporal does not answer the describe of its workflow within 3 s: the attempt's scheduled time stands for Temporal's clock, and a warning says so", async function () {
    this.timeout(30_000);
    const t2 = new Date(Math.floor((Date.now() - 2 * 60_000) / 60_000) * 60_000);
    const t1 = new Date(t2.getTime() - HOUR);
    const jobId = await createJob('backfill, describe hangs', 'buffer_one', { cron: `${t2.getUTCMinutes()} * * * *` });
    const r1 = await startRun(jobId, t1, { inTemporal: false });
    assert.equal(await resolve(jobId, r1.id), 'runs');
    await suite.t.db
      .insertInto('audit_log')
      .values({ at: new Date(t2.getTime() + 2_000), actor: 'admin', action: 'job.backfill', entity_type: 'job', entity_id: jobId, before: null, after: JSON.stringify({ start: new Date(t2.getTime() - 30 * 60_000).toISOString(), end: t2.toISOString() }), team: 'default' })
      .execute();
    const backfilled = await startRun(jobId, t2, { inTemporal: false });
    const { asked, warnings, resolveIn } = inActivity(() => new Promise(() => {}));
    const began = Date.now();
    const outcome = await Promise.race([resolveIn(jobId, backfilled.id), new Promise<string>((r) => setTimeout(() => r('no decision within 10 s'), 10_000))]);
    assert.equal(outcome, 'runs', "the backfill's run runs");
    assert.equal(asked.n, 1);
    assert.ok(Date.now() - began < 6_000, `decided after ${Date.now() - began} ms`);
    assert.ok(warnings.some((w) => w.includes('Temporal did not describe the run')), `warnings: ${JSON.stringify(warnings)}`);
  });

  it('a Run now of a buffer_one job whose job.trigger audit record lies minutes before its time runs though an earlier scheduled run started after it', async function () {
    const jobId = await createJob('run now buffered, slow temporal', 'buffer_one');
    const latest = latestTime();
    const asked = new Date(latest.getTime() - 40 * 60_000 + 4_000);
    const named = new Date(asked.getTime() + 2 * 60_000);
    await suite.t.db.insertInto('audit_log').values({ at: asked, actor: 'admin', action: 'job.trigger', entity_type: 'job', entity_id: jobId, before: null, after: JSON.stringify({ paused: false }), team: 'default' }).execute();
    // The run of the schedule's previous time started only after the Run now's time (a worker lagging),
    // and ran; then the Run now reaches the worker.
    const earlier = await startRun(jobId, new Date(latest.getTime() - HOUR), { inTemporal: false, record: false });
    await suite.t.db
      .insertInto('job_runs')
      .values({ id: earlier.id, run_id: earlier.runId, job_id: jobId, trigger: 'schedule', status: 'succeeded', scheduled_at: new Date(latest.getTime() - HOUR), started_at: new Date(named.getTime() + 1_000) })
      .execute();
    const now = await startRun(jobId, named, { id: `${jobRunWorkflowIdPrefix(jobId)}-${named.toISOString()}`, inTemporal: false });
    assert.equal(await resolve(jobId, now.id), 'runs');
  });
});
