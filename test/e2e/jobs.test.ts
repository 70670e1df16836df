import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Connection, Client, ScheduleNotFoundError } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { buildAgentWorker } from '../../src/agent.js';
import { createLogger } from '../../src/logger.js';
import { freePort } from '../../src/temporal/dev-server.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { jobScheduleOptions, reconcileSchedules } from '../../src/temporal/schedules.js';
import { deploymentId } from '../../src/db/repositories/deployment.js';
import { jobDefinitionSchema, type JobDefinition } from '../../src/domain/jobs.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

const PROBE = `#!/bin/sh
# Test probe: [--sleep N] [--fail] [--dry-run]
sleep_s=0; code=0; dry=no
while [ "$#" -gt 0 ]; do
  case "$1" in
    --sleep) sleep_s=$2; shift ;;
    --fail) code=3 ;;
    --dry-run) dry=yes ;;
  esac
  shift
done
[ "$sleep_s" -gt 0 ] && sleep "$sleep_s"
echo "RESULT env=\${SELFHEAL_ENVIRONMENT:-none} dry_run=$dry"
exit $code
`;

interface RunView {
  id: string;
  status: string;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  temporalUrl: string;
  summary: { total: number; succeeded: number; failed: number; reason?: string } | null;
  targets: { environment: string; via: string; status: string; exitCode: number | null; outputExcerpt: string | null; error: string | null; durationMs: number | null }[];
}

describe('scheduled jobs: API → Temporal Schedule → job workflow → Doctor agent / SSH → Postgres', function () {
  let stack: Stack;
  let sshd: SshdHandle;
  let agent: Worker;
  let agentRunning: Promise<void>;
  let scriptsDir: string;
  const created: string[] = [];

  const json = async <T>(res: Response | Promise<Response>): Promise<T> => (await res).json() as Promise<T>;
  const post = (p: string, body?: unknown) => stack.api(p, { method: 'POST', ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
  const runs = async (id: string) => (await json<{ items: RunView[] }>(stack.api(`/api/jobs/${id}/runs?limit=200`))).items;
  const finished = async (id: string) => (await runs(id)).filter((r) => r.status !== 'running');
  /** Run a job now. A run that just finished in the database may still be closing in Temporal, where the skip policy refuses a trigger (409): ask again. */
  const trigger = (id: string) =>
    eventually(async () => {
      const res = await post(`/api/jobs/${id}/trigger`);
      if (res.status === 409) return undefined;
      assert.equal(res.status, 202, await res.text());
      return true;
    }, 20_000, `job ${id} triggered`);
  const createJob = async (body: Record<string, unknown>) => {
    const res = await post('/api/jobs', body);
    assert.equal(res.status, 201, await res.clone().text());
    const job = (await res.json()) as { id: string };
    created.push(job.id);
    return job.id;
  };

  before(async function () {
    // The admin creates jobs and polls their runs in bursts: the request budget is not what this tests
    // (test/security/caller-budget does), so it is set past them.
    stack = await startStack({ env: { SELFHEAL_RATE_LIMIT_BURST: '100000' } });
    scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-job-scripts-'));
    await chmod(scriptsDir, 0o755);
    await writeFile(path.join(scriptsDir, 'probe.sh'), PROBE, { mode: 0o755 });
    sshd = await startSshd();
    process.env.SELFHEAL_SECRET_TEST_JOBS_SSH_KEY = sshd.privateKey;
    process.env.SELFHEAL_SSH_SCRIPTS_DIR = scriptsDir;

    agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment: 'jobs-agent-a', scriptsDir });
    agentRunning = agent.run();

    for (const body of [
      { name: 'jobs-agent-a', labels: { fleet: 'jobs-e2e' } },
      // No agent ever polls this one's queue.
      { name: 'jobs-agent-offline', labels: { fleet: 'jobs-e2e' } },
      {
        name: 'jobs-ssh-a',
        ssh: { host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_TEST_JOBS_SSH_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint },
      },
    ]) {
      const res = await post('/api/environments', body);
      assert.equal(res.status, 201, await res.text());
    }
  });

  after(async function () {
    for (const id of created) await stack?.temporal.client.schedule.getHandle(jobScheduleId(id)).delete().catch(() => undefined);
    agent?.shutdown();
    await agentRunning;
    await stack?.stop();
    await sshd?.stop();
    delete process.env.SELFHEAL_SECRET_TEST_JOBS_SSH_KEY;
    delete process.env.SELFHEAL_SSH_SCRIPTS_DIR;
    if (scriptsDir) await rm(scriptsDir, { recursive: true, force: true });
  });

  it('runs on agent targets each time it is triggered; an environment without agent fails alone; results persisted and listed', async function () {
    // Runs come from trigger, not from a short interval: an interval under a minute is refused (runaway automation).
    const id = await createJob({
      name: 'probe via agent',
      schedule: { interval: '1h' },
      targets: { selector: { fleet: 'jobs-e2e' } },
      via: 'agent',
      script: 'probe.sh',
      agentPickupTimeoutSeconds: 2,
      concurrency: 2,
    });
    const detail = await json<{ paused: boolean; nextRunTimes: string[]; scheduleStatus: string }>(stack.api(`/api/jobs/${id}`));
    assert.equal(detail.paused, false);
    assert.equal(detail.scheduleStatus, 'active');
    assert.ok(detail.nextRunTimes.length > 0, 'next run times from the schedule');

    for (const n of [1, 2]) {
      await trigger(id);
      await eventually(async () => (await finished(id)).length >= n, 40_000, `finished run ${n}`);
    }
    const done = await finished(id);
    assert.ok(done.length >= 2);
    for (const run of done) {
      assert.equal(run.status, 'partial');
      assert.equal(run.trigger, 'schedule');
      assert.deepEqual(run.summary && { total: run.summary.total, succeeded: run.summary.succeeded, failed: run.summary.failed }, { total: 2, succeeded: 1, failed: 1 });
      assert.match(run.temporalUrl, new RegExp(`/namespaces/default/workflows/jobrun-${id}-`));
      // The list shows the targets not succeeded first (a run's targets endpoint pages them all by name).
      const [offline, online] = run.targets;
      assert.equal(online!.environment, 'jobs-agent-a');
      assert.equal(online!.status, 'succeeded');
      assert.equal(online!.exitCode, 0);
      assert.match(online!.outputExcerpt ?? '', /RESULT env=jobs-agent-a dry_run=no/);
      assert.ok(typeof online!.durationMs === 'number');
      assert.equal(offline!.environment, 'jobs-agent-offline');
      assert.equal(offline!.status, 'failed');
      assert.match(offline!.error ?? '', /no Doctor agent picked the task up on selfheal-agent-jobs-agent-offline within 2 s/);
    }
    const rows = await stack.db.db.selectFrom('job_target_results').selectAll().where('job_run_id', '=', done[0]!.id).execute();
    assert.equal(rows.length, 2);
  });

  it('runs over SSH on the management VM, with dry-run passed to the script and failures reported', async function () {
    // The API refuses a target that is not registered, and an environment a job names cannot be deleted:
    // this stands for a job stored before both (its row removed under it), whose run still reports the target.
    assert.equal((await post('/api/environments', { name: 'jobs-not-registered' })).status, 201);
    const id = await createJob({
      name: 'probe via ssh',
      schedule: { interval: '1h' },
      targets: { environments: ['jobs-ssh-a', 'jobs-not-registered'] },
      via: 'ssh',
      script: 'probe.sh',
      dryRun: true,
    });
    await stack.db.db.deleteFrom('environments').where('name', '=', 'jobs-not-registered').execute();
    await trigger(id);
    const run = await eventually(async () => (await finished(id))[0], 40_000, 'a finished ssh run');
    assert.equal(run.status, 'partial');
    const ssh = run.targets.find((t) => t.environment === 'jobs-ssh-a')!;
    assert.equal(ssh.via, 'ssh');
    assert.equal(ssh.status, 'succeeded', ssh.error ?? '');
    assert.match(ssh.outputExcerpt ?? '', /RESULT env=none dry_run=yes/);
    const missing = run.targets.find((t) => t.environment === 'jobs-not-registered')!;
    assert.equal(missing.status, 'failed');
    assert.match(missing.error ?? '', /not registered/);
  });

  it('pause stops the schedule, trigger runs once now, resume restarts it and it fires on its own', async function () {
    // The shortest interval a job may have: the one test that waits for the schedule itself to fire (≤ 1 min).
    const id = await createJob({ name: 'probe pause', schedule: { interval: '1m' }, targets: { environments: ['jobs-agent-a'] }, script: 'probe.sh' });
    const handle = stack.temporal.client.schedule.getHandle(jobScheduleId(id));

    const paused = await post(`/api/jobs/${id}/pause`);
    assert.equal(paused.status, 200);
    assert.equal(((await paused.json()) as { paused: boolean }).paused, true);
    const pausedDetail = await json<{ paused: boolean; scheduleStatus: string; nextRunTimes: string[]; scheduleState: { nextRunTimes: string[] } }>(stack.api(`/api/jobs/${id}`));
    assert.deepEqual([pausedDetail.paused, pausedDetail.scheduleStatus], [true, 'paused']);
    assert.deepEqual(pausedDetail.nextRunTimes, [], 'a paused job has no next run');
    assert.ok(pausedDetail.scheduleState.nextRunTimes.length > 0, "Temporal's own answer lists them anyway");
    assert.equal((await handle.describe()).state.paused, true, 'the Temporal Schedule is paused');
    // Anything the schedule started before the pause finishes; after that, nothing new starts. A run it
    // started at a minute's turn just before the pause may have no row yet: every action Temporal took is
    // waited for as a row, finished (else it was counted after, as a second run of the trigger).
    await eventually(
      async () => {
        const taken = (await handle.describe()).info.numActionsTaken;
        const rows = await runs(id);
        return rows.length >= taken && rows.every((r) => r.status !== 'running');
      },
      30_000,
      'in-flight run done',
    );
    const count = (await runs(id)).length;

    await trigger(id);
    await eventually(async () => (await finished(id)).length === count + 1, 20_000, 'the triggered run');
    await new Promise((r) => setTimeout(r, 4000));
    assert.equal((await runs(id)).length, count + 1, 'trigger runs exactly once');
    // It ran: before, the schedule's trigger started a run the worker took for drift and skipped
    // ("its schedule should not have started this run") while the API had answered "triggered".
    const [ran] = await runs(id);
    assert.deepEqual([ran!.status, ran!.trigger, ran!.summary?.succeeded], ['succeeded', 'manual', 1], JSON.stringify(ran));
    // A backfill of a paused job would be skipped the same way: refused, saying so.
    const now = new Date();
    const refused = await post(`/api/jobs/${id}/backfill`, { start: new Date(now.getTime() - 5 * 60_000).toISOString(), end: now.toISOString() });
    assert.equal(refused.status, 409, await refused.clone().text());
    assert.match(((await refused.json()) as { detail: string }).detail, /is paused/);

    assert.equal((await post(`/api/jobs/${id}/resume`)).status, 200);
    assert.equal((await handle.describe()).state.paused, false, 'the Temporal Schedule runs again');
    await eventually(async () => (await finished(id)).length >= count + 2, 90_000, 'a run the schedule started after resume');
    const audit = await stack.db.db.selectFrom('audit_log').select('action').where('entity_id', '=', id).orderBy('id').execute();
    assert.deepEqual(audit.map((a) => a.action), ['job.create', 'job.pause', 'job.trigger', 'job.resume']);
    await post(`/api/jobs/${id}/pause`);
  });

  it('skips a due run while the previous one is still running (overlap: skip)', async function () {
    const id = await createJob({
      name: 'probe slow',
      schedule: { interval: '1m', overlap: 'skip' },
      targets: { environments: ['jobs-agent-a'] },
      script: 'probe.sh',
      args: ['--sleep', '4'],
    });
    // Five minutes of due runs at once (a backfill), not a schedule firing every second: the first runs,
    // the others find it running and are skipped.
    const end = new Date();
    const backfill = await post(`/api/jobs/${id}/backfill`, { start: new Date(end.getTime() - 5 * 60_000).toISOString(), end: end.toISOString() });
    assert.equal(backfill.status, 202, await backfill.clone().text());
    // A trigger by hand while a run is going would be dropped the same way: it is refused, saying so.
    const during = await eventually(async () => {
      const r = await json<{ items: RunView[] }>(stack.api(`/api/jobs/${id}/runs`));
      if (!r.items.some((i) => i.status === 'running')) return undefined;
      const res = await post(`/api/jobs/${id}/trigger`);
      return res.status === 409 ? res : undefined;
    }, 40_000, 'a trigger refused during a run');
    assert.equal(during.headers.get('content-type'), 'application/problem+json');
    assert.match(((await during.json()) as { detail: string }).detail, /has a run in progress \(jobrun-.*\) and its overlap policy is skip: no run was started/);
    const body = await eventually(async () => {
      const r = await json<{ schedule: { skippedOverlap: number }; items: RunView[] }>(stack.api(`/api/jobs/${id}/runs`));
      return r.items.some((i) => i.status !== 'running') && r.schedule.skippedOverlap >= 2 ? r : undefined;
    }, 40_000, 'skipped runs reported');
    assert.ok(body.schedule.skippedOverlap >= 2);
    await post(`/api/jobs/${id}/pause`);
    const spans = body.items
      .filter((r) => r.finishedAt)
      .map((r) => [Date.parse(r.startedAt), Date.parse(r.finishedAt!)] as const)
      .sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < spans.length; i++) assert.ok(spans[i]![0] >= spans[i - 1]![1], 'runs never overlap');
  });

  it('a run started by hand while the job was paused still holds it once resumed: the schedule starts no second script (overlap: skip)', async function () {
    const id = await createJob({
      name: 'probe by hand',
      schedule: { interval: '1h', overlap: 'skip' },
      targets: { environments: ['jobs-agent-a'] },
      script: 'probe.sh',
      args: ['--sleep', '6'],
    });
    assert.equal((await post(`/api/jobs/${id}/pause`)).status, 200);
    assert.equal((await post(`/api/jobs/${id}/trigger`)).status, 202);
    const manual = await eventually(async () => (await runs(id)).find((r) => r.status === 'running' && r.trigger === 'manual'), 20_000, 'the run by hand going');
    assert.equal((await post(`/api/jobs/${id}/resume`)).status, 200);

    // The schedule does not know of that run: a trigger through it would have started a second script.
    const refused = await post(`/api/jobs/${id}/trigger`);
    assert.equal(refused.status, 409, await refused.clone().text());
    assert.match(((await refused.json()) as { detail: string }).detail, new RegExp(`has a run in progress \\(${manual.id}\\)`));
    // A due time of the schedule, as it fires on its own: the run it starts is skipped, saying why.
    await stack.temporal.client.schedule.getHandle(jobScheduleId(id)).trigger();
    const skipped = await eventually(async () => (await runs(id)).find((r) => r.trigger === 'schedule' && r.status !== 'running'), 20_000, 'the scheduled run recorded');
    assert.equal(skipped.status, 'skipped', JSON.stringify(skipped));
    assert.match(skipped.summary?.reason ?? '', new RegExp(`run ${manual.id} of job ${id}, started by hand, is still in progress`));
    assert.deepEqual(skipped.targets, [], 'no target ran');

    const done = await eventually(async () => (await runs(id)).find((r) => r.id === manual.id && r.status !== 'running'), 30_000, 'the run by hand done');
    assert.deepEqual([done.status, done.summary?.succeeded], ['succeeded', 1]);
    // Once it is over, the schedule runs the job again.
    await trigger(id);
    await eventually(async () => (await runs(id)).some((r) => r.trigger === 'schedule' && r.status === 'succeeded'), 30_000, 'a scheduled run after it');
    await post(`/api/jobs/${id}/pause`);
  });

  it('answers 400 naming the problem for a bad cron or interval, and creates nothing', async function () {
    const bad = async (schedule: unknown, pattern: RegExp) => {
      const res = await post('/api/jobs', { name: 'bad schedule', schedule, targets: { all: true }, script: 'probe.sh' });
      assert.equal(res.status, 400);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      const p = (await res.json()) as { detail: string; errors: { path: string; message: string }[] };
      assert.ok(p.errors.some((e) => e.path.startsWith('schedule') && pattern.test(e.message)), JSON.stringify(p.errors));
      assert.match(p.detail, pattern);
    };
    await bad({ cron: '0 25 * * *' }, /cron field 2 \(hour\) "25": 25 is out of range 0-23/);
    await bad({ cron: '0 6 * * FUNDAY' }, /day of week/);
    await bad({ interval: 'every 1h offset 2h' }, /offset 2h must be shorter than the interval 1h/);
    await bad({ interval: 'hourly' }, /"hourly" is not a duration/);
    await bad({ interval: '1s' }, /must be at least 60s \(1m\), got "1s"/);
    await bad({ cron: '0 6 * * *', timezone: 'Europe/Atlantis' }, /IANA time zone/);
    assert.equal((await json<{ items: unknown[] }>(stack.api('/api/jobs'))).items.filter((j) => (j as { name: string }).name === 'bad schedule').length, 0);
  });

  it('answers 400 for a job whose run could outlast the 24 h run limit (Temporal would end it midway), and creates nothing', async function () {
    const environments = Array.from({ length: 40 }, (_, i) => `env-${i}`);
    const res = await post('/api/jobs', { name: 'fleet patch', schedule: { cron: '0 3 * * SUN' }, targets: { environments }, script: 'probe.sh', timeoutSecondsPerTarget: 3600, concurrency: 1 });
    assert.equal(res.status, 400);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    const p = (await res.json()) as { errors: { path: string; message: string }[] };
    assert.deepEqual(p.errors.map((e) => e.path), ['timeoutSecondsPerTarget']);
    assert.match(p.errors[0]!.message, /a run of 40 targets, 1 at a time, may take 147600 s, longer than a run's limit of 86400 s \(24 h\): raise concurrency/);
    assert.equal((await stack.api('/api/jobs/fleet-patch')).status, 404);
  });

  // 300 KiB of output per target; before, each target's whole answer (up to 128 KiB) sat in the job's
  // history twice, and a job over a few hundred such environments passed Temporal's history size limit.
  // The end kept is bounded in JSON bytes (TAIL_JSON_BYTES), not characters: 4,000 control characters
  // took 24 KB a copy (JSON writes each as `\u00XX`), 4,000 characters of binary output about 10 KB.
  for (const [kind, command] of [
    ['text', 'head -c 307200 /dev/zero | tr "\\0" "x"'],
    ['control characters', 'head -c 307200 /dev/zero | tr "\\0" "\\1"'],
    ['random bytes', 'head -c 300000 /dev/urandom'],
  ] as const) {
    it(`a noisy script's output (${kind}) enters the job's history and its record only as its end, at most 4,096 bytes, on the agent and over SSH`, async function () {
      const script = `noisy-${kind.replaceAll(' ', '-')}.sh`;
      await writeFile(path.join(scriptsDir, script), `#!/bin/sh\n${command}\necho\necho "RESULT noisy done"\n`, { mode: 0o755 });
      for (const [target, via] of [['jobs-agent-a', 'agent'], ['jobs-ssh-a', 'ssh']] as const) {
        const name = `noisy ${kind} ${via}`;
        const id = await createJob({ name, schedule: { interval: '1h' }, targets: { environments: [target] }, via, script });
        await trigger(id);
        const run = await eventually(async () => (await finished(id))[0], 60_000, `the ${name} run`);
        assert.equal(run.status, 'succeeded', JSON.stringify(run).slice(0, 500));
        const rows = await stack.db.db.selectFrom('job_target_results').select(['environment', 'output_excerpt']).where('job_run_id', '=', run.id).execute();
        assert.deepEqual(rows.map((r) => r.environment), [target]);
        const kept = rows[0]!.output_excerpt ?? '';
        assert.ok(kept.length <= 4000, `${name}: ${kept.length}`);
        assert.ok(Buffer.byteLength(JSON.stringify(kept)) <= 4096, `${name}: ${Buffer.byteLength(JSON.stringify(kept))} bytes as JSON`);
        assert.match(kept, /\nRESULT noisy done\n?$/, `${name}: ends ${JSON.stringify(kept.slice(-30))}`);
        const history = await stack.temporal.client.workflow.getHandle(run.id).fetchHistory();
        const sizes = (history.events ?? [])
          .flatMap((e) => [...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? []), ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? [])])
          .map((p) => p.data?.length ?? 0);
        assert.ok(sizes.length >= 4, 'the target ran as an activity');
        assert.ok(Math.max(...sizes) < 6000, `${name}: every activity's input and result stays small (${Math.max(...sizes)} bytes)`);
        // The whole one-target run, its own events and the output's two copies: 15.7–16.0 KB measured.
        const historyBytes = proto.temporal.api.history.v1.History.encode(history).finish().length;
        assert.ok(historyBytes < 20_000, `${name}: the run's history is ${historyBytes} bytes`);
      }
    });
  }

  it('deleting a job removes its schedule; updating it changes the schedule', async function () {
    const id = await createJob({ name: 'probe delete', schedule: { cron: '0 3 * * *', timezone: 'Europe/Paris' }, targets: { all: true }, script: 'probe.sh' });
    const handle = stack.temporal.client.schedule.getHandle(jobScheduleId(id));
    assert.deepEqual((await handle.describe()).spec.timezone, 'Europe/Paris');

    const put = await stack.api(`/api/jobs/${id}`, {
      method: 'PUT',
      body: JSON.stringify({ name: 'probe delete', schedule: { interval: 'every 1h offset 15m' }, targets: { all: true }, script: 'probe.sh', enabled: false }),
    });
    assert.equal(put.status, 200, await put.clone().text());
    const d = await handle.describe();
    assert.equal(d.spec.intervals?.[0]?.every, 3_600_000);
    assert.equal(d.spec.intervals?.[0]?.offset, 900_000);
    assert.equal(d.state.paused, true);

    // A run of it, with what its script printed on a target.
    const runId = `${id}-run-1`;
    await stack.db.db.insertInto('job_runs').values({ id: runId, job_id: id, trigger: 'manual', status: 'failed', finished_at: new Date() }).execute();
    await stack.db.db.insertInto('job_target_results').values({ job_run_id: runId, environment: 'old-env', via: 'agent', status: 'failed', exit_code: 1, output_excerpt: 'secret-ish output of the old job', error: null }).execute();

    assert.equal((await stack.api(`/api/jobs/${id}`, { method: 'DELETE' })).status, 204);
    await assert.rejects(handle.describe(), ScheduleNotFoundError);
    assert.equal((await stack.api(`/api/jobs/${id}`)).status, 404);
    assert.equal((await stack.api(`/api/jobs/${id}`, { method: 'DELETE' })).status, 404);
    // Its id is never another job's: the old job's runs and output stay its own (before, the row was
    // removed, and a new job under the id, of another team perhaps, read them and got their failure notices).
    const reuse = await post('/api/jobs', { id, name: 'probe delete again', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(reuse.status, 409);
    assert.match(((await reuse.json()) as { detail: string }).detail, new RegExp(`job id ${id} belonged to a deleted job; ids are never reused`));
    assert.equal((await stack.api(`/api/jobs/${id}/runs`)).status, 404);
    // An id made from the name skips it.
    const again = await createJob({ name: 'probe delete', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    assert.equal(again, `${id}-2`);
    assert.deepEqual(((await json<{ items: unknown[] }>(stack.api(`/api/jobs/${again}/runs`))).items), []);
  });

  it('answers 503 and keeps no job row when Temporal is unreachable', async function () {
    const connection = await Connection.connect({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 1000 }).catch(() => undefined);
    const dead = connection ? new Client({ connection }) : new Client({ connection: Connection.lazy({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 1000 }) });
    const app = createApp({ config: stack.config, db: stack.db.db, temporal: dead, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const res = await app.request('/api/jobs', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'probe-no-temporal', name: 'probe no temporal', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' }),
    });
    assert.equal(res.status, 503);
    const row = await stack.db.db.selectFrom('jobs').select('id').where('id', '=', 'probe-no-temporal').executeTakeFirst();
    assert.equal(row, undefined, 'the insert was rolled back');
  });

  it('reconciles at worker start: a job without schedule gets one, an orphaned job-* schedule is deleted', async function () {
    const def = { ...jobDefinitionSchema.parse({ name: 'probe reconcile', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' }), id: 'probe-reconcile' } as JobDefinition;
    await stack.db.db.insertInto('jobs').values({ id: def.id, name: def.name, definition: JSON.stringify(def), enabled: true, schedule_id: jobScheduleId(def.id) }).execute();
    created.push(def.id);
    const before = await json<{ scheduleStatus: string; paused: boolean; nextRunTimes: string[] }>(stack.api(`/api/jobs/${def.id}`));
    assert.deepEqual([before.scheduleStatus, before.paused, before.nextRunTimes], ['missing', false, []], 'a job without a schedule is said to have none');
    const orphan = { ...def, id: 'probe-orphan', name: 'orphan' };
    // An orphan this deployment made (its memo names this database's deployment id).
    await stack.temporal.client.schedule.create(jobScheduleOptions(orphan, { taskQueue: stack.taskQueue, deploymentId: await deploymentId(stack.db.db) }));
    created.push(orphan.id);

    // Schedule listing is eventually consistent: wait until the orphan is visible, then reconcile.
    await eventually(async () => {
      for await (const s of stack.temporal.client.schedule.list()) if (s.scheduleId === jobScheduleId(orphan.id)) return true;
      return false;
    }, 20_000, 'orphan listed');
    const result = await reconcileSchedules(stack.temporal.client, stack.db.db, createLogger({ level: 'silent' }), { taskQueue: stack.taskQueue });
    assert.ok(result.created.includes(def.id));
    assert.ok(result.deleted.includes(orphan.id));
    assert.ok(!result.deleted.some((id) => created.includes(id) && id !== orphan.id), 'live jobs keep their schedules');
    await stack.temporal.client.schedule.getHandle(jobScheduleId(def.id)).describe();
    // 'unavailable' is the API's answer when Temporal did not answer its describe within the deadline (a
    // fresh-clone CI under load): asked again until Temporal answers.
    await eventually(async () => (await json<{ scheduleStatus: string }>(stack.api(`/api/jobs/${def.id}`))).scheduleStatus === 'active' || undefined, 30_000, 'the job answered with an active schedule');
    await assert.rejects(stack.temporal.client.schedule.getHandle(jobScheduleId(orphan.id)).describe(), ScheduleNotFoundError);
  });
});
