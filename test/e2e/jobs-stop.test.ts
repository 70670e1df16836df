// Deleting or pausing a job ends its Temporal Schedule, not the runs that schedule started: before, a run
// going took its remaining targets one by one and started the script on each, for up to 24 h, while the
// API had answered 204/200. A run now asks before each target and stops when its job was deleted, or paused
// after the run began; the targets it never started are recorded skipped, saying why, and the run ends
// `cancelled`. What the scripts did is read at the peer: each run of the script leaves a marker file named
// after its run and environment, written by a real Doctor agent per environment.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { createAgentActivities } from '../../activities/agent.js';
import { createJobActivities } from '../../activities/jobs.js';
import { buildAgentWorker } from '../../src/agent.js';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { createLogger } from '../../src/logger.js';
import { agentTaskQueue, jobScheduleId } from '../../src/temporal/names.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const ENVS = ['stop-a', 'stop-b', 'stop-c'];
/** How long the script runs on each target: the window in which a test pauses or deletes the job. */
const SLOW_SECONDS = 4;

describe('a job run stops before its next target once its job is paused or deleted', function () {
  let stack: Stack;
  let scriptsDir: string;
  let marksDir: string;
  const agents: { worker: Worker; running: Promise<void> }[] = [];
  const created: string[] = [];

  const post = (p: string) => stack.api(p, { method: 'POST' });
  const createJob = async (body: Record<string, unknown>): Promise<string> => {
    const res = await stack.api('/api/jobs', { method: 'POST', body: JSON.stringify({ schedule: { interval: '1h' }, targets: { environments: ENVS }, via: 'agent', script: 'slow.sh', concurrency: 1, ...body }) });
    assert.equal(res.status, 201, await res.clone().text());
    const { id } = (await res.json()) as { id: string };
    created.push(id);
    return id;
  };
  /** The environments the script was started on in run `runId`, as the agents left them. */
  const startedOn = async (runId: string): Promise<string[]> =>
    (await readdir(marksDir))
      .filter((f) => f.startsWith(`${runId}.`))
      .map((f) => f.slice(runId.length + 1))
      .sort();
  /** The job's one run, read from the database (a deleted job's runs are no longer listed by the API). */
  const theRun = (jobId: string) =>
    eventually(async () => stack.db.db.selectFrom('job_runs').selectAll().where('job_id', '=', jobId).executeTakeFirst(), 20_000, `the run of ${jobId}`);
  const finished = (runId: string) =>
    eventually(
      async () => {
        const r = await stack.db.db.selectFrom('job_runs').selectAll().where('id', '=', runId).executeTakeFirstOrThrow();
        return r.status === 'running' ? undefined : r;
      },
      60_000,
      `run ${runId} to finish`,
    );
  const targetResults = async (runId: string) =>
    Object.fromEntries(
      (await stack.db.db.selectFrom('job_target_results').select(['environment', 'status', 'error']).where('job_run_id', '=', runId).orderBy('environment').execute()).map((r) => [r.environment, r]),
    );
  /** The runs the audit row of `action` on `jobId` says stop at their next target. */
  const auditedStopping = async (jobId: string, action: string) => {
    const row = await stack.db.db.selectFrom('audit_log').select('after').where('entity_id', '=', jobId).where('action', '=', action).orderBy('id', 'desc').executeTakeFirstOrThrow();
    return (row.after as { runsStopAtNextTarget?: string[] } | null)?.runsStopAtNextTarget;
  };

  before(async function () {
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-job-stop-scripts-'));
    await chmod(scriptsDir, 0o755);
    marksDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-job-stop-marks-'));
    await mkdir(marksDir, { recursive: true });
    // The script's side effect, left before it sleeps: one file per run and environment.
    await writeFile(
      path.join(scriptsDir, 'slow.sh'),
      `#!/bin/sh\ntouch "${marksDir}/$SELFHEAL_JOB_RUN_ID.$SELFHEAL_ENVIRONMENT"\nsleep ${SLOW_SECONDS}\necho "RESULT env=$SELFHEAL_ENVIRONMENT"\n`,
      { mode: 0o755 },
    );
    for (const name of ENVS) {
      const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name, labels: { fleet: 'jobs-stop' } }) });
      assert.equal(res.status, 201, await res.text());
      const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: name, scriptsDir });
      agents.push({ worker, running: worker.run() });
    }
  });

  after(async function () {
    for (const id of created) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    for (const a of agents) a.worker.shutdown();
    await Promise.all(agents.map((a) => a.running));
    await stack?.stop();
    for (const dir of [scriptsDir, marksDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('pausing the job during a scheduled run: no target after the running one starts; they are recorded skipped, "job paused"', async function () {
    const id = await createJob({ name: 'stop on pause' });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    assert.equal(run.trigger, 'schedule');
    await eventually(async () => (await startedOn(run.id)).length > 0, 30_000, 'the first target to start');

    const paused = await post(`/api/jobs/${id}/pause`);
    assert.equal(paused.status, 200, await paused.clone().text());

    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), ['stop-a'], 'the script ran on the first target only');
    assert.equal(done.status, 'cancelled');
    const summary = done.summary as JobRunSummary;
    assert.deepEqual([summary.total, summary.succeeded, summary.skipped], [3, 1, 2], JSON.stringify(summary));
    assert.match(summary.reason ?? '', new RegExp(`^job paused: job ${id} is paused and was paused or changed while this run was going; 2 of 3 targets were not started`));
    const results = await targetResults(run.id);
    assert.equal(results['stop-a']?.status, 'succeeded', 'the target running when the job was paused ran to its end');
    for (const env of ['stop-b', 'stop-c']) {
      assert.equal(results[env]?.status, 'skipped', env);
      assert.match(results[env]?.error ?? '', /^job paused: .*; this target was not started$/, env);
    }
    // Listed as such by the API (the job is paused, not gone).
    const listed = (await (await stack.api(`/api/jobs/${id}/runs`)).json()) as { items: { id: string; status: string; targets: { status: string; error: string | null }[] }[] };
    const item = listed.items.find((r) => r.id === run.id)!;
    assert.equal(item.status, 'cancelled');
    // The list shows the targets not succeeded first.
    assert.deepEqual(item.targets.map((t) => t.status), ['skipped', 'skipped', 'succeeded']);
    assert.deepEqual(await auditedStopping(id, 'job.pause'), [run.id], 'the audit names the run that stops');
  });

  it('deleting the job during a scheduled run: no target after the running one starts; they are recorded skipped, "job deleted"', async function () {
    const id = await createJob({ name: 'stop on delete' });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    await eventually(async () => (await startedOn(run.id)).length > 0, 30_000, 'the first target to start');

    assert.equal((await stack.api(`/api/jobs/${id}`, { method: 'DELETE' })).status, 204);

    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), ['stop-a'], 'the script ran on the first target only');
    assert.equal(done.status, 'cancelled');
    assert.match((done.summary as JobRunSummary).reason ?? '', new RegExp(`^job deleted: job ${id} was deleted while this run was going; 2 of 3 targets were not started`));
    const results = await targetResults(run.id);
    assert.equal(results['stop-a']?.status, 'succeeded');
    for (const env of ['stop-b', 'stop-c']) {
      assert.equal(results[env]?.status, 'skipped', env);
      assert.match(results[env]?.error ?? '', /^job deleted: .*; this target was not started$/, env);
    }
    assert.deepEqual(await auditedStopping(id, 'job.delete'), [run.id], 'the audit names the run that stops');
  });

  it('a run started by hand on a paused job goes on while the job stays paused as it was; pausing it again stops it', async function () {
    const id = await createJob({ name: 'stop by hand', enabled: false });
    const res = await post(`/api/jobs/${id}/trigger`);
    assert.equal(res.status, 202);
    const { runId } = (await res.json()) as { runId: string };
    assert.ok(runId, 'a paused job is run by hand');
    // Past its first target: the pause that was there when it was asked for does not stop it.
    await eventually(async () => (await startedOn(runId)).includes('stop-b'), 30_000, 'the second target to start');

    assert.equal((await post(`/api/jobs/${id}/pause`)).status, 200);
    const done = await finished(runId);
    assert.equal(done.trigger, 'manual');
    assert.deepEqual(await startedOn(runId), ['stop-a', 'stop-b']);
    assert.equal(done.status, 'cancelled');
    const results = await targetResults(runId);
    assert.deepEqual(['stop-a', 'stop-b', 'stop-c'].map((e) => results[e]?.status), ['succeeded', 'succeeded', 'skipped']);
    assert.match(results['stop-c']?.error ?? '', /^job paused: /);
    assert.deepEqual(await auditedStopping(id, 'job.pause'), [runId]);
  });

  it('an environment deleted while a run goes (matched by its selector): its agent, still polling, gets nothing; the other targets run', async function () {
    // Three environments of their own, each with a live agent: the one deleted mid-run keeps polling.
    const fleet = ['gone-a', 'gone-b', 'gone-c'];
    for (const name of fleet) {
      const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name, labels: { fleet: 'jobs-gone' } }) });
      assert.equal(res.status, 201, await res.text());
      const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: name, scriptsDir });
      agents.push({ worker, running: worker.run() });
    }
    const id = await createJob({ name: 'target gone', targets: { selector: { fleet: 'jobs-gone' } } });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    await eventually(async () => (await startedOn(run.id)).length > 0, 30_000, 'the first target to start');
    // Only jobs that name an environment hold it: a selector's match is deleted while the run goes.
    assert.equal((await stack.api('/api/environments/gone-b', { method: 'DELETE' })).status, 204);

    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), ['gone-a', 'gone-c'], 'the script never reached the deleted environment');
    assert.equal(done.status, 'succeeded', 'a target skipped for its environment is no failure of the others');
    const summary = done.summary as JobRunSummary;
    assert.deepEqual([summary.total, summary.succeeded, summary.skipped], [3, 2, 1], JSON.stringify(summary));
    const results = await targetResults(run.id);
    assert.equal(results['gone-b']?.status, 'skipped');
    assert.equal(results['gone-b']?.error, 'environment gone-b was deleted, or moved out of team default, after this run began; this target was not started');
  });

  /** Registers `name` in `team` with `fleet` as its label; its agent is started by `agentFor`. */
  const registerEnvironment = async (name: string, fleet: string, team?: string) => {
    const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name, labels: { fleet }, ...(team ? { team } : {}) }) });
    assert.equal(res.status, 201, await res.text());
  };
  const agentFor = async (name: string) => {
    const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: name, scriptsDir });
    agents.push({ worker, running: worker.run() });
  };
  /** Waits until run `runId` has a task queued for an agent (its agent offline, nothing picks it up). */
  // The wait for the agent itself (agentPresent), not any activity: one of the run's first ones (its start
  // recorded, its targets resolved) pending here let a test pause the job before the run had read it.
  const waitingForAgent = (runId: string) =>
    eventually(
      async () => (await stack.temporal.client.workflow.getHandle(runId).describe()).raw.pendingActivities?.some((a) => a.activityType?.name === 'agentPresent') || undefined,
      30_000,
      `run ${runId} to wait for an agent`,
    );

  // A target's task waits in its agent's queue for up to agentPickupTimeoutSeconds (an hour at most). Before,
  // the script itself waited there and ran once an agent polled, whatever had happened meanwhile.
  it('a target waiting for its offline agent, the job paused meanwhile: when the agent comes back, the script does not run', async function () {
    await registerEnvironment('wait-a', 'jobs-wait-a');
    const id = await createJob({ name: 'paused while waiting', targets: { selector: { fleet: 'jobs-wait-a' } }, agentPickupTimeoutSeconds: 300 });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    await waitingForAgent(run.id);
    assert.equal((await post(`/api/jobs/${id}/pause`)).status, 200);
    await agentFor('wait-a');

    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), [], 'the script ran on the agent of a paused job');
    assert.equal(done.status, 'cancelled');
    const results = await targetResults(run.id);
    assert.equal(results['wait-a']?.status, 'skipped');
    assert.match(results['wait-a']?.error ?? '', /^job paused: .*; this target was not started$/);
  });

  it("a target waiting for its offline agent, the environment deleted and its name registered by another team: that team's agent runs nothing", async function () {
    await registerEnvironment('wait-b', 'jobs-wait-b');
    const id = await createJob({ name: 'handed over while waiting', targets: { selector: { fleet: 'jobs-wait-b' } }, agentPickupTimeoutSeconds: 300 });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    await waitingForAgent(run.id);
    assert.equal((await stack.api('/api/environments/wait-b', { method: 'DELETE' })).status, 204);
    const team = await stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'jobs-heirs' }) });
    assert.equal(team.status, 201, await team.clone().text());
    await registerEnvironment('wait-b', 'jobs-wait-b', 'jobs-heirs');
    await agentFor('wait-b'); // the other team's agent, on the queue the name gives

    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), [], "another team's agent ran this job's script");
    const results = await targetResults(run.id);
    assert.equal(results['wait-b']?.status, 'skipped');
    assert.equal(results['wait-b']?.error, 'environment wait-b was deleted, or moved out of team default, after this run began; this target was not started');
    assert.equal(done.status, 'succeeded', JSON.stringify(done.summary));
  });

  it('an agent that comes back within the pickup time runs the target (its wait and the check again cost no failure)', async function () {
    await registerEnvironment('wait-c', 'jobs-wait-c');
    const id = await createJob({ name: 'agent back in time', targets: { selector: { fleet: 'jobs-wait-c' } }, agentPickupTimeoutSeconds: 300 });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    await waitingForAgent(run.id);
    await agentFor('wait-c');
    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), ['wait-c']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.summary));
    assert.equal((await targetResults(run.id))['wait-c']?.status, 'succeeded');
  });

  it('an agent from before agentPresent (it answers "not registered") still runs its targets', async function () {
    await registerEnvironment('wait-d', 'jobs-wait-d');
    const { runAgentScript } = createAgentActivities({ scriptsDir, maxTimeoutSeconds: 60, maxConcurrentScripts: 4 });
    const worker = await Worker.create({ connection: stack.temporal.nativeConnection, namespace: stack.config.temporal.namespace, taskQueue: agentTaskQueue('wait-d'), activities: { runAgentScript } });
    agents.push({ worker, running: worker.run() });
    const id = await createJob({ name: 'older agent', targets: { selector: { fleet: 'jobs-wait-d' } } });
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const run = await theRun(id);
    const done = await finished(run.id);
    assert.deepEqual(await startedOn(run.id), ['wait-d']);
    assert.equal(done.status, 'succeeded', JSON.stringify(done.summary));
  });

  it('the check before each target: an environment moved to another team, or whose agent queue or VM changed, is skipped', async function () {
    const jobs = createJobActivities({ db: stack.db.db, logger: createLogger({ level: 'silent' }), env: {}, temporal: () => stack.temporal.client });
    const id = await createJob({ name: 'target check' });
    const plan = await jobs.resolveJobTargets({ jobId: id, trigger: 'manual' });
    assert.ok(!('skipped' in plan), JSON.stringify(plan));
    const check = (environment: string, via: 'agent' | 'ssh', taskQueue?: string) =>
      jobs.jobTargetCheck({ jobId: id, trigger: 'manual', changedAt: plan.changedAt, target: { environment, via, taskQueue } });
    const queueA = plan.targets.find((t) => t.environment === 'stop-a')!.taskQueue;
    assert.deepEqual(await check('stop-a', 'agent', queueA), { stop: null, skip: null }, 'unchanged: it runs');
    assert.deepEqual(await check('stop-a', 'agent', 'another-queue'), {
      stop: null,
      skip: `environment stop-a's Doctor agent task queue changed from another-queue to ${queueA} after this run began; this target was not started`,
    });
    assert.match((await check('stop-a', 'ssh')).skip ?? '', /^environment stop-a lost its management VM \(ssh\) after this run began/);
    // Moved to another team (or its name registered again by another team): not this job's any more.
    const res = await stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'jobs-other' }) });
    assert.equal(res.status, 201, await res.clone().text());
    await stack.db.db.updateTable('environments').set({ team: 'jobs-other' }).where('name', '=', 'stop-c').execute();
    try {
      assert.match((await check('stop-c', 'agent', plan.targets.find((t) => t.environment === 'stop-c')!.taskQueue)).skip ?? '', /^environment stop-c was deleted, or moved out of team default, after this run began/);
    } finally {
      await stack.db.db.updateTable('environments').set({ team: 'default' }).where('name', '=', 'stop-c').execute();
    }
    // A job stopped says stop first, whatever its target.
    assert.equal((await post(`/api/jobs/${id}/pause`)).status, 200);
    assert.match((await check('stop-a', 'agent', queueA)).stop ?? '', /^job paused: /);
  });

  it('who stops: the check a run makes before each target, against the job as the run read it at its start', async function () {
    const jobs = createJobActivities({ db: stack.db.db, logger: createLogger({ level: 'silent' }), env: {}, temporal: () => stack.temporal.client });
    const id = await createJob({ name: 'stop check' });
    const plan = await jobs.resolveJobTargets({ jobId: id, trigger: 'manual' });
    assert.ok(!('skipped' in plan) && plan.changedAt, JSON.stringify(plan));
    const changedAt = plan.changedAt;
    for (const trigger of ['schedule', 'manual']) assert.equal(await jobs.jobRunStopReason({ jobId: id, trigger, changedAt }), null, `${trigger}: the job as it was`);
    // Resumed, or edited and left enabled: runs go on.
    assert.equal((await post(`/api/jobs/${id}/resume`)).status, 200);
    assert.equal(await jobs.jobRunStopReason({ jobId: id, trigger: 'schedule', changedAt }), null);

    assert.equal((await post(`/api/jobs/${id}/pause`)).status, 200);
    const paused = await jobs.resolveJobTargets({ jobId: id, trigger: 'manual' });
    assert.ok(!('skipped' in paused));
    for (const trigger of ['schedule', 'manual']) {
      assert.match((await jobs.jobRunStopReason({ jobId: id, trigger, changedAt })) ?? '', /^job paused: /, `${trigger}: paused after the run began`);
    }
    assert.equal(await jobs.jobRunStopReason({ jobId: id, trigger: 'manual', changedAt: paused.changedAt }), null, 'a run by hand of the paused job, the job unchanged since');
    // A run resolved before the plan kept `changedAt` (in flight through an upgrade).
    assert.match((await jobs.jobRunStopReason({ jobId: id, trigger: 'schedule' })) ?? '', /^job paused: /);
    assert.equal(await jobs.jobRunStopReason({ jobId: id, trigger: 'manual' }), null);

    assert.equal((await stack.api(`/api/jobs/${id}`, { method: 'DELETE' })).status, 204);
    for (const trigger of ['schedule', 'manual']) {
      assert.match((await jobs.jobRunStopReason({ jobId: id, trigger, changedAt: paused.changedAt })) ?? '', /^job deleted: /);
      assert.match((await jobs.jobRunStopReason({ jobId: id, trigger })) ?? '', /^job deleted: /);
    }
  });
});
