// `overlap: cancel_other`: a run the schedule starts while the previous one goes has Temporal cancel the
// previous run and start the new one once it closed. Before, the job's script activity had the SDK's
// default cancellation type (TRY_CANCEL): the cancelled run recorded itself `cancelled` and closed at once,
// its script still running on the host, so the new run started the same script on the same environment
// alongside it, and the script in flight was never recorded. Now the cancelled run waits for the script to
// stop (the agent stops its process group once the cancel reaches the heartbeating activity), records it
// as it ended, records the targets it never started skipped, and only then closes (workflows/job.ts,
// JOB_WAITS_FOR_SCRIPT_PATCH). What the script did is read at the host: it logs when it starts, ends or is
// stopped, written by a real Doctor agent per environment.
import assert from 'node:assert/strict';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import type { JobRunSummary } from '../../src/contracts/jobs.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

const ENVS = ['cancel-other-a', 'cancel-other-b'];
const SSH_ENV = 'cancel-other-ssh';
/** How long the first run's script takes on its host (a password rotation, say): longer than the cancel takes to reach it. */
const SLOW_SECONDS = 40;

describe('a job with overlap cancel_other never runs its script twice at once on one environment', function () {
  this.timeout(240_000);
  let stack: Stack;
  let scriptsDir: string;
  let marksDir: string;
  const agents: { worker: Worker; running: Promise<void> }[] = [];
  const jobIds: string[] = [];
  let sshd: SshdHandle | undefined;

  before(async function () {
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'cancel-other-scripts-'));
    await chmod(scriptsDir, 0o755);
    marksDir = await mkdtemp(path.join(os.tmpdir(), 'cancel-other-marks-'));
    // Logs to <marks>/<environment> when it starts, ends, or is stopped (SIGTERM), naming its run (over SSH,
    // which passes no run id, its pid); slow until the file <marks>/quick-<way> exists.
    const slow = (log: string, quick: string, id: string) =>
      [
        '#!/bin/sh',
        `log="${log}"`,
        `if [ -e "${marksDir}/${quick}" ]; then n=1; else n=${SLOW_SECONDS}; fi`,
        `trap 'echo "stopped ${id}" >> "$log"; exit 143' TERM`,
        `echo "start ${id}" >> "$log"`,
        // In the background and waited for, so the trap runs at once rather than after the sleep.
        'sleep "$n" & wait $!',
        `echo "end ${id}" >> "$log"`,
        'echo "RESULT ok"',
        '',
      ].join('\n');
    await writeFile(path.join(scriptsDir, 'slow.sh'), slow(`${marksDir}/$SELFHEAL_ENVIRONMENT`, 'quick-agent', '$SELFHEAL_JOB_RUN_ID'), { mode: 0o755 });
    await writeFile(path.join(scriptsDir, 'slow-ssh.sh'), slow(`${marksDir}/${SSH_ENV}`, 'quick-ssh', 'pid $$'), { mode: 0o755 });
    sshd = await startSshd();
    process.env.SELFHEAL_SECRET_TEST_CANCEL_OTHER_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;
    const res = await stack.api('/api/environments', {
      method: 'POST',
      body: JSON.stringify({
        name: SSH_ENV,
        ssh: { host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_TEST_CANCEL_OTHER_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint },
      }),
    });
    assert.equal(res.status, 201, await res.text());
    for (const name of ENVS) {
      const res = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name }) });
      assert.equal(res.status, 201, await res.text());
      const worker = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: name, scriptsDir });
      agents.push({ worker, running: worker.run() });
    }
  });

  after(async function () {
    for (const id of jobIds) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    for (const a of agents) a.worker.shutdown();
    await Promise.all(agents.map((a) => a.running));
    await stack?.stop();
    await sshd?.stop();
    delete process.env.SELFHEAL_SECRET_TEST_CANCEL_OTHER_SSH_KEY;
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    for (const dir of [scriptsDir, marksDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  const lines = async (env: string): Promise<string[]> => (await readFile(path.join(marksDir, env), 'utf8').catch(() => '')).split('\n').filter((l) => l !== '');

  /** A job of `overlap: cancel_other` due every hour, and the backfill of one of its past runs (202). */
  const createJob = async (body: Record<string, unknown>) => {
    const offset = Math.floor((Date.now() + 1_800_000) / 1000) % 3600 || 1;
    const res = await stack.api('/api/jobs', { method: 'POST', body: JSON.stringify({ ...body, schedule: { interval: `every 1h offset ${offset}s`, overlap: 'cancel_other' } }) });
    assert.equal(res.status, 201, await res.clone().text());
    const id = ((await res.json()) as { id: string }).id;
    jobIds.push(id);
    const next = Math.ceil((Date.now() - offset * 1000) / 3_600_000) * 3_600_000 + offset * 1000;
    /** Backfills the run due `hoursAgo` hours before the next one. */
    const backfill = async (hoursAgo: number) => {
      const at = next - hoursAgo * 3_600_000;
      const r = await stack.api(`/api/jobs/${id}/backfill`, { method: 'POST', body: JSON.stringify({ start: new Date(at - 1000).toISOString(), end: new Date(at + 1000).toISOString() }) });
      assert.equal(r.status, 202, await r.clone().text());
    };
    return { id, backfill };
  };
  const finishedRuns = (jobId: string) =>
    eventually(
      async () => {
        const rows = await stack.db.db.selectFrom('job_runs').select(['id', 'status', 'summary']).where('job_id', '=', jobId).orderBy('scheduled_at').execute();
        return rows.length === 2 && rows.every((r) => r.status !== 'running') ? rows : undefined;
      },
      60_000,
      'both runs to finish',
    );

  it('the cancelled run waits for its script to stop and records it; the next run starts the script only then', async function () {
    const { id: jobId, backfill } = await createJob({ name: 'cancel other', targets: { environments: ENVS }, concurrency: 1, via: 'agent', script: 'slow.sh' });

    // Two due runs of the past, taken one after the other (the catch-up of an outage): the second cancels
    // the first, as the policy says. (A trigger would not do: it starts its run with ALLOW_ALL.)
    await backfill(2);
    let first = '';
    await eventually(
      async () => {
        for (const env of ENVS) if ((await lines(env)).length > 0) first = env;
        return first !== '';
      },
      60_000,
      'the first run to start the script',
    );
    const other = ENVS.find((e) => e !== first)!;
    await writeFile(path.join(marksDir, 'quick-agent'), ''); // the later runs' scripts take a second
    await backfill(1);

    await eventually(async () => (await lines(first)).filter((l) => l.startsWith('start ')).length >= 2, 120_000, 'the second run to start the script');
    await eventually(async () => (await lines(other)).some((l) => l.startsWith('end ')), 60_000, 'the second run to run its other target');
    const runs = await finishedRuns(jobId);
    const results = await stack.db.db.selectFrom('job_target_results').select(['job_run_id', 'environment', 'status', 'error']).where('job_run_id', 'in', runs.map((r) => r.id)).execute();
    const log = await lines(first);
    const detail = `script log on ${first}: ${JSON.stringify(log)}; on ${other}: ${JSON.stringify(await lines(other))}; runs ${JSON.stringify(runs.map((r) => ({ id: r.id, status: r.status })))}; target results ${JSON.stringify(results)}`;

    // At the host: the first run's script stopped (or ended) before the second run's started.
    const firstRun = log[0]!.slice('start '.length);
    const firstStopped = log.findIndex((l) => l === `end ${firstRun}` || l === `stopped ${firstRun}`);
    const secondStarted = log.findIndex((l, i) => i > 0 && l.startsWith('start '));
    assert.ok(firstStopped !== -1 && firstStopped < secondStarted, `the second run started the script on ${first} while the first run's script was still running there; ${detail}`);
    // It was stopped, not left to end: the cancel reached it within the heartbeat's throttle.
    assert.equal(log[firstStopped], `stopped ${firstRun}`, detail);
    assert.ok(!(await lines(other)).some((l) => l.includes(firstRun)), `the cancelled run started its other target; ${detail}`);

    // In our rows: the first run cancelled, its target in flight recorded cancelled, the one it never started skipped.
    assert.deepEqual(
      runs.map((r) => [r.id === firstRun ? 'first' : 'second', r.status]),
      [
        ['first', 'cancelled'],
        ['second', 'succeeded'],
      ],
      detail,
    );
    const of = (run: string, env: string) => results.find((r) => r.job_run_id === run && r.environment === env);
    assert.equal(of(firstRun, first)?.status, 'cancelled', detail);
    assert.match(of(firstRun, first)?.error ?? '', /cancelled: the script was stopped on/, detail);
    assert.equal(of(firstRun, other)?.status, 'skipped', detail);
    assert.match(of(firstRun, other)?.error ?? '', /cancelled; this target was not started/, detail);
    const summary = runs[0]!.summary as JobRunSummary;
    assert.equal(summary.cancelled, 1, detail);
    assert.equal(summary.skipped, 1, detail);
  });

  it('over SSH too: the cancelled run waits until the VM stopped its command', async function () {
    const { id: jobId, backfill } = await createJob({ name: 'cancel other ssh', targets: { environments: [SSH_ENV] }, via: 'ssh', script: 'slow-ssh.sh' });
    await backfill(2);
    await eventually(async () => (await lines(SSH_ENV)).length > 0, 60_000, 'the first run to start the script');
    await writeFile(path.join(marksDir, 'quick-ssh'), '');
    await backfill(1);

    await eventually(async () => (await lines(SSH_ENV)).filter((l) => l.startsWith('end ')).length >= 1 && (await lines(SSH_ENV)).filter((l) => l.startsWith('start ')).length >= 2, 120_000, 'the second run to run the script');
    const runs = await finishedRuns(jobId);
    const results = await stack.db.db.selectFrom('job_target_results').select(['job_run_id', 'environment', 'status', 'error']).where('job_run_id', 'in', runs.map((r) => r.id)).execute();
    const log = await lines(SSH_ENV);
    const detail = `script log on ${SSH_ENV}: ${JSON.stringify(log)}; runs ${JSON.stringify(runs.map((r) => ({ id: r.id, status: r.status })))}; target results ${JSON.stringify(results)}`;

    const firstPid = log[0]!.slice('start '.length);
    const firstStopped = log.findIndex((l) => l === `end ${firstPid}` || l === `stopped ${firstPid}`);
    const secondStarted = log.findIndex((l, i) => i > 0 && l.startsWith('start '));
    assert.ok(firstStopped !== -1 && firstStopped < secondStarted, `the second run started the script on ${SSH_ENV} while the first run's command was still running there; ${detail}`);
    assert.equal(log[firstStopped], `stopped ${firstPid}`, detail);
    assert.deepEqual(runs.map((r) => r.status), ['cancelled', 'succeeded'], detail);
    const [cancelled, succeeded] = runs.map((r) => results.find((t) => t.job_run_id === r.id));
    assert.equal(cancelled?.status, 'cancelled', detail);
    assert.equal(succeeded?.status, 'succeeded', detail);
  });
});
