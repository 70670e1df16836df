// The aggregates behind the Prometheus series read from Postgres (src/metrics.ts): totals by kind and
// status, open breakers, and duration histograms whose bucket counts Postgres computes.
import { sql, type Kysely } from 'kysely';
import type { Database } from '../database.js';
import type { Db } from './db.js';

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
}

/** Every aggregate, on one pooled connection, one query after another (a refresh never takes more than one slot). */
export async function readMetricTotals(pool: Kysely<Database>, buckets: readonly number[]): Promise<MetricTotals> {
  return pool.connection().execute(async (db) => ({
    incidents: await db.selectFrom('incidents').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    jobRuns: await db.selectFrom('job_runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
    matchesByDecision: await db.selectFrom('rule_matches').select(['decision', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('decision').execute(),
    actionsByTypeStatus: await db.selectFrom('action_runs').select(['action_type', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['action_type', 'status']).execute(),
    jobRunsByJobStatus: await db.selectFrom('job_runs').select(['job_id', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['job_id', 'status']).execute(),
    targetsByViaStatus: await db.selectFrom('job_target_results').select(['via', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['via', 'status']).execute(),
    breakersOpen: await db.selectFrom('rules').select((eb) => eb.fn.countAll<string>().as('n')).where('breaker_state', '=', 'open').where('deleted_at', 'is', null).executeTakeFirstOrThrow(),
    actionDurations: await durationHistogram(db, 'action_runs', 'action_type', buckets),
    jobDurations: await durationHistogram(db, 'job_runs', 'job_id', buckets),
  }));
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
