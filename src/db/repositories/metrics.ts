// The aggregates behind the Prometheus series read from Postgres (src/metrics.ts): totals by kind and
// status, open breakers, and duration histograms whose bucket counts Postgres computes; and the offsets
// the retention purge leaves for the rows it deletes, so that those series never go down.
import { sql, type Kysely, type RawBuilder, type Transaction } from 'kysely';
import type { Database } from '../database.js';
import type { Db } from './db.js';
import { ruleTotals, type RuleTotalsRow } from './stats.js';

/** Duration buckets (seconds) for actions and job runs: scripts take seconds to tens of minutes. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

export interface HistogramRow {
  key: string;
  count: number;
  sum: number;
  /** Cumulative counts, one per bucket bound. */
  buckets: number[];
}

type Count = { n: string };

export interface MetricTotals {
  incidents: Count;
  jobRuns: Count;
  matchesByDecision: (Count & { decision: string })[];
  actionsByTypeStatus: (Count & { action_type: string; status: string })[];
  jobRunsByJobStatus: (Count & { job_id: string; status: string })[];
  targetsByViaStatus: (Count & { via: string; status: string })[];
  breakersOpen: Count;
  actionDurations: HistogramRow[];
  jobDurations: HistogramRow[];
  /** Totals per live rule (stats.ts). */
  perRule: RuleTotalsRow[];
  /** Ids of the jobs not deleted: the job series (runs, in progress, durations) are theirs only. */
  liveJobs: string[];
  /** What the retention purge deleted, per series: the scrape adds it to the live counts. */
  offsets: MetricOffset[];
}

export interface MetricOffset {
  metric: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * Every aggregate, on one pooled connection, one query after another (a refresh never takes more than one slot),
 * in one repeatable-read snapshot: a purge commits its deletes and its offsets together, and a refresh that read
 * the live rows before that commit and the offsets after it would count the purged rows twice, then drop back.
 */
export async function readMetricTotals(pool: Kysely<Database>, buckets: readonly number[]): Promise<MetricTotals> {
  return pool.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(async (db) => ({
    incidents: await db.selectFrom('incidents').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    jobRuns: await db.selectFrom('job_runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    matchesByDecision: await db.selectFrom('rule_matches').select(['decision', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('decision').execute(),
    actionsByTypeStatus: await db.selectFrom('action_runs').select(['action_type', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['action_type', 'status']).execute(),
    jobRunsByJobStatus: await db
      .selectFrom('job_runs')
      .select(['job_id', 'status', (eb) => eb.fn.countAll<string>().as('n')])
      .where('job_id', 'in', liveJobIds(db))
      .groupBy(['job_id', 'status'])
      .execute(),
    targetsByViaStatus: await db.selectFrom('job_target_results').select(['via', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['via', 'status']).execute(),
    breakersOpen: await db.selectFrom('rules').select((eb) => eb.fn.countAll<string>().as('n')).where('breaker_state', '=', 'open').where('deleted_at', 'is', null).executeTakeFirstOrThrow(),
    actionDurations: await durationHistogram(db, 'action_runs', 'action_type', buckets),
    jobDurations: await durationHistogram(db, 'job_runs', 'job_id', buckets),
    perRule: await ruleTotals(db),
    liveJobs: (await liveJobIds(db).execute()).map((r) => r.id),
    offsets: await db.selectFrom('metric_offsets').select(['metric', 'labels', 'value']).execute(),
  }));
}

/**
 * Runs one purge statement: `ctes` deletes rows and names them `gone` (with any other CTE it needs), `contribution`
 * selects (metric, labels, value) from them: what the deleted rows counted in each series. Those are added to
 * the offsets in the same statement, so the deletes and the offsets commit together. Returns the rows in `gone`.
 */
export async function deleteKeepingCounts(trx: Transaction<Database>, ctes: RawBuilder<unknown>, contribution: RawBuilder<unknown>): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    with ${ctes},
    contribution (metric, labels, value) as (${contribution}),
    saved as (
      insert into metric_offsets (metric, labels, value)
      select metric, labels, sum(value) from contribution group by metric, labels having sum(value) <> 0
      on conflict (metric, labels) do update set value = metric_offsets.value + excluded.value, updated_at = now())
    select count(*)::int as n from gone`.execute(trx);
  return rows[0]?.n ?? 0;
}

/**
 * The histogram series (`metric`_bucket per bound, _count, _sum) of the rows in `gone`, by `label` taken from
 * `keyColumn`: the same filter and bounds as {@link durationHistogram}, the bounds compared as numeric like its
 * literals, and each bucket labelled with the bound as JavaScript prints it (src/metrics.ts looks it up so).
 */
export function durationOffsets(metric: string, label: string, keyColumn: 'action_type' | 'job_id', bounds: readonly number[] = DURATION_BUCKETS): RawBuilder<unknown> {
  const finished = sql`(select ${sql.ref(keyColumn)} as key, extract(epoch from (finished_at - started_at)) as seconds
    from gone where started_at is not null and finished_at is not null)`;
  return sql`
    select ${`${metric}_bucket`}::text, jsonb_build_object(${label}::text, g.key, 'le', b.le), (count(*) filter (where g.seconds <= b.le::numeric))::float8
    from ${finished} g cross join unnest(${bounds.map(String)}::text[]) as b(le) group by g.key, b.le
    union all
    select ${`${metric}_count`}::text, jsonb_build_object(${label}::text, g.key), count(*)::float8 from ${finished} g group by g.key
    union all
    select ${`${metric}_sum`}::text, jsonb_build_object(${label}::text, g.key), coalesce(sum(g.seconds), 0)::float8 from ${finished} g group by g.key`;
}

/**
 * Job ids are never reused and a job's series are labelled by its id: like a rule's, they leave with the job,
 * or every job ever created and deleted (by any `write` token) left its ~17 series in every scrape for good.
 */
function liveJobIds(db: Db) {
  return db.selectFrom('jobs').select('id').where('deleted_at', 'is', null);
}

async function durationHistogram(db: Db, table: 'action_runs' | 'job_runs', keyColumn: 'action_type' | 'job_id', bounds: readonly number[]): Promise<HistogramRow[]> {
  const seconds = sql<number>`extract(epoch from (finished_at - started_at))`;
  // One count per bucket, computed by Postgres; the bounds are the caller's constants.
  const bucketColumns = bounds.map((le, i) => sql<string>`count(*) filter (where ${seconds} <= ${sql.lit(le)})`.as(`b${i}`));
  const rows = await db
    .selectFrom(table)
    .select([sql<string>`${sql.ref(keyColumn)}`.as('key'), sql<string>`count(*)`.as('count'), sql<string>`coalesce(sum(${seconds}), 0)`.as('sum'), ...bucketColumns])
    .where('started_at', 'is not', null)
    .where('finished_at', 'is not', null)
    .$if(table === 'job_runs', (q) => q.where(sql.ref(keyColumn), 'in', liveJobIds(db)))
    .groupBy(keyColumn)
    .execute();
  return rows.map((r) => {
    const row = r as unknown as Record<string, string>;
    return { key: String(row.key), count: Number(row.count), sum: Number(row.sum), buckets: bounds.map((_, i) => Number(row[`b${i}`])) };
  });
}

/** Environments (by name) and their agents' task queues, at most `limit`. */
export async function listEnvironmentQueues(db: Db, limit: number): Promise<{ name: string; agent_task_queue: string | null }[]> {
  return db.selectFrom('environments').select(['name', 'agent_task_queue']).orderBy('name').limit(limit).execute();
}
