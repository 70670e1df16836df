import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { selfheal } from '../helpers/cli.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { testTemporal } from '../helpers/temporal.js';

// GET /api/jobs/{id}/runs answered `limit` runs (up to 200) with every per-target result of each, each
// holding up to 4,000 characters of output and 4,000 of error (found in review): 20 runs of a job over 500
// environments whose targets all failed with full excerpts made a 78 MiB answer (limit=200: ~780 MB built in
// the API's memory) for any read token, and `selfheal jobs trigger`, which listed the last 20 runs first,
// exited 3 ("answer larger than 64 MiB") before triggering anything. A page now ends at 4 MiB with
// nextCursor, each run lists its first 50 targets with 500-character excerpts and counts them all, and
// GET /api/jobs/{id}/runs/{runId}/targets pages a run's targets whole.
const ADMIN = 'job-runs-bounded-admin-token-0123456789';
const TARGETS = 500;
const RUNS = 20;
const MiB = 1024 * 1024;

interface Target { environment: string; status: string; exitCode: number | null; outputExcerpt: string | null; error: string | null; cut?: boolean }
interface Run { id: string; summary: Record<string, unknown>; targetsTotal: number; targetsOmitted: number; targets: Target[] }

describe('a job’s run history is bounded in bytes, its targets paged whole', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let server: ApiServer;
  let client: Client;
  const job = `fleet-${randomBytes(3).toString('hex')}`;
  const get = async (path: string) => {
    const res = await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const body = Buffer.from(await res.arrayBuffer());
    return { status: res.status, bytes: body.byteLength, json: () => JSON.parse(body.toString()) as Record<string, unknown> };
  };

  before(async function () {
    const temporal = await testTemporal();
    client = temporal.client;
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_TASK_QUEUE: `job-runs-bounded-${job}` });
    server = await startApiServer({ config: { ...config, port: 0, host: '127.0.0.1' }, db: db.db, temporal: temporal.apiClient, logger: createLogger({ level: 'silent' }) });
    const envs = Array.from({ length: TARGETS }, (_, i) => `env-${String(i).padStart(3, '0')}`);
    // A job names only registered environments of its team.
    await db.db.insertInto('environments').values(envs.map((name) => ({ name, labels: '{}', maintenance_windows: '[]' }))).execute();
    const res = await fetch(`${server.url}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ id: job, name: job, schedule: { interval: '1h' }, targets: { environments: envs }, script: 'probe.sh', concurrency: 100 }),
    });
    assert.equal(res.status, 201, await res.text());
    // 20 finished runs, each with 500 failed targets: 4,000 characters of output and of error each (the stored
    // maximum), the summary repeating each failure's error as the worker records it.
    await sql`insert into job_runs (id, run_id, job_id, trigger, status, started_at, finished_at, summary)
      select ${job} || '-run-' || lpad(r::text, 2, '0'), 'r' || r, ${job}, 'schedule', 'failed', now() - r * interval '1 hour', now() - r * interval '1 hour' + interval '5 minutes',
        jsonb_build_object('total', ${sql.lit(TARGETS)}, 'succeeded', 0, 'failed', ${sql.lit(TARGETS)}, 'timedOut', 0, 'skipped', 0,
          'failures', (select jsonb_agg(jsonb_build_object('environment', 'env-' || lpad(e::text, 3, '0'), 'status', 'failed', 'error', repeat('e', 4000))) from generate_series(0, ${sql.lit(TARGETS - 1)}) e))
      from generate_series(1, ${sql.lit(RUNS)}) r`.execute(db.db);
    await sql`insert into job_target_results (job_run_id, environment, via, status, exit_code, output_excerpt, error, started_at, finished_at)
      select ${job} || '-run-' || lpad(r::text, 2, '0'), 'env-' || lpad(e::text, 3, '0'), 'agent', 'failed', 1, repeat('o', 3999) || 'R', 'E' || repeat('e', 3999), now(), now()
      from generate_series(1, ${sql.lit(RUNS)}) r, generate_series(0, ${sql.lit(TARGETS - 1)}) e`.execute(db.db);
  });
  after(async () => {
    await client?.schedule.getHandle(jobScheduleId(job)).delete().catch(() => undefined);
    await server?.close();
    await db?.close();
  });

  it('GET /api/jobs/{id}/runs: pages of at most 4 MiB that lead through every run once; each run lists 50 targets, shortened, and counts all', async function () {
    for (const limit of [RUNS, 200]) {
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const r = await get(`/api/jobs/${job}/runs?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
        assert.equal(r.status, 200);
        assert.ok(r.bytes <= 4 * MiB + 256 * 1024, `a page of runs is ${(r.bytes / MiB).toFixed(1)} MiB`);
        const page = r.json() as { items: Run[]; nextCursor: string | null };
        assert.ok(page.items.length >= 1);
        for (const run of page.items) {
          seen.push(run.id);
          assert.equal(run.targetsTotal, TARGETS);
          assert.equal(run.targets.length, 50);
          assert.equal(run.targetsOmitted, TARGETS - 50);
          assert.equal(run.summary.failures, undefined, 'the summary leaves its failures to the targets');
          assert.equal(run.summary.failed, TARGETS);
          for (const t of run.targets) {
            assert.equal(t.outputExcerpt!.length, 500);
            assert.ok(t.outputExcerpt!.endsWith('R'), 'the end of the output (its RESULT line)');
            assert.ok(t.error!.startsWith('E') && t.error!.length === 500, 'the start of the error');
            assert.equal(t.cut, true);
          }
        }
        cursor = page.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, Array.from({ length: RUNS }, (_, i) => `${job}-run-${String(i + 1).padStart(2, '0')}`), `limit=${limit}: every run once, newest first`);
    }
  });

  it('GET /api/jobs/{id}/runs/{runId}/targets: every target whole, in pages of at most 4 MiB; an unknown run is a 404', async function () {
    const run = `${job}-run-03`;
    const envs: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await get(`/api/jobs/${job}/runs/${run}/targets?limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(r.status, 200);
      assert.ok(r.bytes <= 4 * MiB + 64 * 1024, `a page of targets is ${(r.bytes / MiB).toFixed(1)} MiB`);
      const page = r.json() as { items: Target[]; nextCursor: string | null };
      for (const t of page.items) {
        envs.push(t.environment);
        assert.equal(t.outputExcerpt!.length, 4000);
        assert.equal(t.error!.length, 4000);
      }
      cursor = page.nextCursor;
      pages++;
    } while (cursor);
    assert.equal(pages, 3, 'limit=200: three pages');
    const whole = await get(`/api/jobs/${job}/runs/${run}/targets?limit=500`);
    assert.ok(whole.bytes <= 4 * MiB + 64 * 1024, `limit=500: ${(whole.bytes / MiB).toFixed(2)} MiB`);
    assert.deepEqual(envs, Array.from({ length: TARGETS }, (_, i) => `env-${String(i).padStart(3, '0')}`));
    assert.equal((await get(`/api/jobs/${job}/runs/no-such-run/targets`)).status, 404);
    assert.equal((await get(`/api/jobs/no-such-job/runs/${run}/targets`)).status, 404);
  });

  it('selfheal jobs trigger finds its run in a few runs, and jobs runs / jobs targets show the history', async function () {
    const env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: ADMIN };
    const t = await selfheal(['jobs', 'trigger', job], env);
    assert.equal(t.code, 0, `exit ${t.code}: ${t.stdout}${t.stderr}`);
    const runs = await selfheal(['jobs', 'runs', job, '--limit', '2'], env);
    assert.equal(runs.code, 0, `exit ${runs.code}: ${runs.stderr} ${runs.stdout.length}`);
    assert.match(runs.stdout, new RegExp(`450 more target\\(s\\); all of them whole: selfheal jobs targets ${job} ${job}-run-01`));
    const targets = await selfheal(['jobs', 'targets', job, `${job}-run-01`, '--json'], env);
    assert.equal(targets.code, 0, targets.stderr);
    assert.equal((JSON.parse(targets.stdout) as Target[]).length, TARGETS);
  });
});
