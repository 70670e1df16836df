import assert from 'node:assert/strict';
import { sql, type Kysely, type KyselyPlugin } from 'kysely';
import { createRetentionActivities } from '../../activities/retention.js';
import type { Database } from '../../src/db/database.js';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { seedStatsHistory } from '../helpers/stats-history.js';
import { testTemporal } from '../helpers/temporal.js';

const DAY = 86_400_000;

/**
 * The series Prometheus reads as counters: every `_total`, and a histogram's `_bucket`, `_count` and `_sum`,
 * of the database series (the in-memory HTTP histogram moves with the scrapes themselves). Line → value.
 */
function counterSeries(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(selfheal_[a-z_]+?(?:_total|_bucket|_count|_sum))(\{.*\})? (\S+)$/.exec(line);
    if (!m || m[1]!.startsWith('selfheal_http_')) continue;
    out.set(`${m[1]}${m[2] ?? ''}`, Number(m[3]));
  }
  return out;
}

/** The stats history, a match whose other run goes on, and job runs with per-target results. */
async function seed(db: Kysely<Database>): Promise<{ ruleId: string; ids: Record<string, string>; keptMatch: string }> {
  const { ruleId, ids } = await seedStatsHistory(db);
  const at = (iso: string) => new Date(iso);
  // A match with a finished run and one still going: the purge deletes the finished run and keeps the match.
  // A run still going is not counted as succeeded (it counts once it has ended), before the purge or after.
  const m5 = await db
    .insertInto('rule_matches')
    .values({ incident_id: ids.W1!, event_id: 'E-W5', rule_id: ruleId, rule_version: 2, rule_name: 'restart-replica', explanation: '{}', decision: 'run', target: 'db-2', matched_at: at('2026-03-27T10:00:00Z') })
    .returning('id')
    .executeTakeFirstOrThrow();
  for (const [i, status, finished] of [[0, 'succeeded', at('2026-03-27T10:00:07Z')], [1, 'running', null]] as const) {
    const id = `W5:a${i}`;
    await db
      .insertInto('action_runs')
      .values({ id, idempotency_key: id, incident_id: ids.W1!, match_id: String(m5.id), rule_id: ruleId, rule_version: 2, action_index: i, action_id: `a${i}`, action_type: 'script.ssh', status, started_at: at('2026-03-27T10:00:01Z'), finished_at: finished })
      .execute();
  }
  // Finished job runs with their per-target results, and one still running (kept), of a job not deleted (a
  // deleted job's series leave with it).
  await db
    .insertInto('jobs')
    .values({ id: 'nightly-vacuum', name: 'nightly-vacuum', definition: JSON.stringify({ name: 'nightly-vacuum' }), enabled: true, schedule_id: 'job-nightly-vacuum' } as never)
    .execute();
  for (const [n, status, seconds] of [[1, 'succeeded', 4], [2, 'failed', 45], [3, 'succeeded', 700], [4, 'running', null]] as const) {
    const started = at(`2026-03-0${n}T03:00:00Z`);
    await db
      .insertInto('job_runs')
      .values({ id: `job-run-${n}`, job_id: 'nightly-vacuum', trigger: 'schedule', status, started_at: started, finished_at: seconds === null ? null : new Date(started.getTime() + seconds * 1000) })
      .execute();
    await db.insertInto('job_target_results').values({ job_run_id: `job-run-${n}`, environment: 'prod', via: n === 2 ? 'ssh' : 'agent', status: status === 'running' ? 'succeeded' : status }).execute();
  }
  return { ruleId, ids, keptMatch: String(m5.id) };
}

const logger = createLogger({ level: 'silent' });

/** An app on `db` whose metrics read through `metricsDb` (the same database), refreshed on every scrape. */
async function metricsApp(db: TestDatabase, metricsDb: Kysely<Database> = db.db) {
  const temporal = await testTemporal();
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, METRICS_REFRESH_SECONDS: '0' });
  const metrics = createMetrics({ db: metricsDb, temporal: temporal.client, namespace: 'default', logger, processMetrics: false, refreshSeconds: 0 });
  const app = createApp({ config, db: db.db, temporal: temporal.client, logger, metrics }, allRoutes);
  const text = async () => {
    await metrics.settled();
    await app.request('/metrics');
    await metrics.settled();
    return (await app.request('/metrics')).text();
  };
  return {
    metrics,
    /** What the last refresh read (a request also starts the next refresh, which it does not wait for). */
    current: async () => counterSeries(await (await app.request('/metrics')).text()),
    /** A scrape that shows a refresh started after everything before it (the first request starts one, settled waits). */
    text,
    scrape: async () => counterSeries(await text()),
  };
}

/** The retention activity with a clock a year on, so every finished row is past the retention. */
const purgeAll = (db: Kysely<Database>) => createRetentionActivities({ db, logger, now: () => new Date(Date.now() + 400 * DAY) }).purgeHistoryBatch;

describe('database counters in /metrics across the retention purge', function () {
  let db: TestDatabase;

  beforeEach(async function () {
    db = await createTestDatabase();
  });
  afterEach(async () => db?.close());

  it('never go down when the purge deletes the rows they count, batch after batch; new rows still add to them', async function () {
    const { ruleId, ids, keptMatch } = await seed(db.db);
    const { scrape } = await metricsApp(db);

    const before = await scrape();
    for (const [series, value] of [
      ['selfheal_workflows_started_total{kind="incident"}', 12],
      ['selfheal_workflows_started_total{kind="job"}', 4],
      ['selfheal_rule_matches_total{decision="run"}', 5],
      ['selfheal_actions_total{type="script.ssh",status="succeeded"}', 4],
      ['selfheal_job_runs_total{job="nightly-vacuum",status="succeeded"}', 2],
      ['selfheal_job_target_results_total{via="agent",status="succeeded"}', 3],
      [`selfheal_rule_runs_succeeded_total{rule_id="${ruleId}"}`, 3],
      ['selfheal_action_duration_seconds_count{type="script.ssh"}', 5],
      ['selfheal_action_duration_seconds_bucket{type="script.ssh",le="10"}', 1],
      ['selfheal_job_run_duration_seconds_count{job="nightly-vacuum"}', 3],
      ['selfheal_job_run_duration_seconds_bucket{job="nightly-vacuum",le="5"}', 1],
    ] as const) {
      assert.equal(before.get(series), value, `${series} before the purge: ${JSON.stringify([...before])}`);
    }

    // The real purge, as the retention schedule runs it, in small batches, so a scrape also lands between
    // batches (a run deleted, its match not yet).
    const purgeHistoryBatch = purgeAll(db.db);
    let batches = 0;
    for (let more = true; more; batches++) {
      assert.ok(batches < 50, 'the purge ends');
      more = (await purgeHistoryBatch({ retentionDays: 90, batchSize: 2 })).more;
      assert.deepEqual(Object.fromEntries(await scrape()), Object.fromEntries(before), `every counter unchanged after purge batch ${batches + 1}`);
    }
    const left = async (table: string) => (await sql<{ n: number }>`select count(*)::int as n from ${sql.table(table)}`.execute(db.db)).rows[0]!.n;
    assert.deepEqual(
      { actionRuns: await left('action_runs'), matches: await left('rule_matches'), incidents: await left('incidents'), jobRuns: await left('job_runs'), targets: await left('job_target_results') },
      // S1–S3 are not resolved: kept whole, their matches included, however old (their workflows still wait
      // for the resolve).
      { actionRuns: 1, matches: 4, incidents: 4, jobRuns: 1, targets: 1 },
      'the purge deleted all but what a run still going holds and the incidents still open',
    );

    // New rows still count on top of what was purged.
    await db.db
      .insertInto('action_runs')
      .values({ id: 'new:a0', idempotency_key: 'new:a0', incident_id: ids.W1!, match_id: keptMatch, rule_id: ruleId, rule_version: 2, action_index: 2, action_id: 'a2', action_type: 'script.ssh', status: 'succeeded', started_at: new Date(Date.now() - 3000), finished_at: new Date() })
      .execute();
    const after = await scrape();
    assert.equal(after.get('selfheal_actions_total{type="script.ssh",status="succeeded"}'), 5);
    assert.equal(after.get('selfheal_action_duration_seconds_count{type="script.ssh"}'), 6);
    assert.equal(after.get('selfheal_action_duration_seconds_bucket{type="script.ssh",le="5"}'), (before.get('selfheal_action_duration_seconds_bucket{type="script.ssh",le="5"}') ?? 0) + 1);
  });

  it('a run finishing moves from the in-progress gauge to its counter: no counter counts what is still going, none goes down', async function () {
    await seed(db.db);
    const app = await metricsApp(db);
    const gauge = (text: string, series: string) => Number(new RegExp(`^${series.replace(/[{}]/g, '\\$&')} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const beforeText = await app.text();
    const before = counterSeries(beforeText);
    // Before, `selfheal_actions_total{status="running"}` and `selfheal_job_runs_total{status="running"}` were
    // series of these counters, and went down by one each time such a run finished.
    assert.deepEqual([...before.keys()].filter((k) => k.includes('status="running"')), [], 'no counter series of a status still going');
    assert.equal(gauge(beforeText, 'selfheal_actions_in_progress{type="script.ssh",status="running"}'), 1);
    assert.equal(gauge(beforeText, 'selfheal_job_runs_in_progress{job="nightly-vacuum"}'), 1);

    await db.db.updateTable('action_runs').set({ status: 'succeeded', finished_at: new Date('2026-03-27T10:00:09Z') }).where('id', '=', 'W5:a1').execute();
    await db.db.updateTable('job_runs').set({ status: 'succeeded', finished_at: new Date('2026-03-04T03:00:09Z') }).where('id', '=', 'job-run-4').execute();
    const afterText = await app.text();
    const after = counterSeries(afterText);
    for (const [series, value] of before) assert.ok((after.get(series) ?? 0) >= value, `${series} went down: ${value} → ${after.get(series)}`);
    assert.equal(after.get('selfheal_actions_total{type="script.ssh",status="succeeded"}'), (before.get('selfheal_actions_total{type="script.ssh",status="succeeded"}') ?? 0) + 1);
    assert.equal(after.get('selfheal_job_runs_total{job="nightly-vacuum",status="succeeded"}'), (before.get('selfheal_job_runs_total{job="nightly-vacuum",status="succeeded"}') ?? 0) + 1);
    assert.doesNotMatch(afterText, /^selfheal_actions_in_progress\{/m, 'nothing in progress any more');
    assert.doesNotMatch(afterText, /^selfheal_job_runs_in_progress\{/m);
  });

  it('a refresh reads the live rows and the offsets in one snapshot, so a purge committed between its queries counts once', async function () {
    // The embedded PGlite (no DATABASE_URL) runs one session at a time: no purge can commit while a refresh
    // holds its transaction, so there is no interleaving to show.
    if (!process.env.DATABASE_URL) this.skip();
    await seed(db.db);
    // The metrics read through a plugin that holds the refresh after its per-rule query, before the offsets.
    let armed = false;
    let reached!: () => void;
    const atGate = new Promise<void>((r) => (reached = r));
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const holdBeforeOffsets: KyselyPlugin = {
      transformQuery: (args) => args.node,
      async transformResult(args) {
        if (armed && args.result.rows.some((r) => typeof r === 'object' && r !== null && 'suppressed' in r)) {
          armed = false;
          reached();
          await gate;
        }
        return args.result;
      },
    };
    const { scrape, current, metrics } = await metricsApp(db, db.db.withPlugin(holdBeforeOffsets));
    const before = await scrape();
    assert.ok((before.get('selfheal_actions_total{type="script.ssh",status="succeeded"}') ?? 0) > 0, 'the seeded rows are counted');

    armed = true;
    await current();
    await atGate;
    // The whole purge commits while the refresh has read the live rows and not yet the offsets.
    for (let more = true; more; ) more = (await purgeAll(db.db)({ retentionDays: 90, batchSize: 1000 })).more;
    release();
    await metrics.settled();
    assert.deepEqual(Object.fromEntries(await current()), Object.fromEntries(before), 'the refresh across the purge');
    assert.deepEqual(Object.fromEntries(await scrape()), Object.fromEntries(before), 'the next refresh');
  });
});
