/**
 * Prometheus metrics of the API process. One registry per app (never prom-client's global default),
 * so several apps in one process (tests) never clash.
 *
 * Two kinds of series:
 * - counted here, in memory: webhook deliveries by outcome, HTTP requests;
 * - read from Postgres and Temporal at scrape time: workflows started, rule matches by decision,
 *   actions and job runs by type/status with duration histograms, open circuit breakers, agents
 *   online. Those come from the durable tables the worker writes, so they hold across restarts and
 *   across replicas (every replica reports the same totals: aggregate them with max(), not sum()).
 *
 * Temporal worker metrics (task slots, poll latency, activity schedule-to-start...) come from the
 * SDK's own Prometheus exporter in the worker process: set TEMPORAL_WORKER_METRICS_ADDRESS
 * (e.g. 0.0.0.0:9464) and the worker installs
 * `Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } })`.
 */
import { withTimeout } from './timeout.js';
import type { Client } from '@temporalio/client';
import { sql, type Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/database.js';
import type { Logger } from './logger.js';
import { agentTaskQueue } from './temporal/names.js';
import { agentStatus, ONLINE_WITHIN_MS } from './temporal/pollers.js';


/** Duration buckets (seconds) for actions and job runs: scripts take seconds to tens of minutes. */
export const DURATION_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** Webhook outcomes the handler reports; all but these two are rejections. */
const ACCEPTED_OUTCOMES = new Set(['accepted', 'duplicate', 'ignored']);

export interface MetricsDeps {
  db: Kysely<Database>;
  temporal: Client;
  namespace: string;
  logger: Logger;
  /** How long the per-environment poller lookup is reused (ms). */
  agentCacheMs?: number;
  /** At most this many environments are asked about per refresh. */
  maxEnvironments?: number;
  /** Include Node.js process metrics (default true). */
  processMetrics?: boolean;
}

export interface Metrics {
  registry: Registry;
  contentType: string;
  /** One webhook delivery and how it ended (accepted, duplicate, ignored, bad_signature, malformed, too_large, overloaded, temporal_unavailable). */
  webhook(outcome: string): void;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /** Refresh the database and Temporal backed series, then render the text exposition. */
  render(): Promise<string>;
}

interface HistogramRow {
  key: string;
  count: number;
  sum: number;
  buckets: number[];
}

/** A histogram whose series are computed elsewhere (from the database) and only exposed here. */
class PrecomputedHistogram {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private rows: HistogramRow[] = [];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly label: string,
  ) {}

  set(rows: HistogramRow[]): void {
    this.rows = rows;
  }

  reset(): void {
    this.rows = [];
  }

  get() {
    const values: { metricName: string; labels: Record<string, string | number>; value: number }[] = [];
    for (const r of this.rows) {
      DURATION_BUCKETS.forEach((le, i) => values.push({ metricName: `${this.name}_bucket`, labels: { [this.label]: r.key, le }, value: r.buckets[i] ?? 0 }));
      values.push({ metricName: `${this.name}_bucket`, labels: { [this.label]: r.key, le: '+Inf' }, value: r.count });
      values.push({ metricName: `${this.name}_sum`, labels: { [this.label]: r.key }, value: r.sum });
      values.push({ metricName: `${this.name}_count`, labels: { [this.label]: r.key }, value: r.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const registry = new Registry();
  if (deps.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const webhooksReceived = new Counter({ name: 'selfheal_webhooks_received_total', help: 'PagerDuty webhook deliveries, by outcome.', labelNames: ['outcome'], registers });
  const webhooksRejected = new Counter({ name: 'selfheal_webhooks_rejected_total', help: 'PagerDuty webhook deliveries refused, by reason.', labelNames: ['reason'], registers });
  const httpDuration = new Histogram({
    name: 'selfheal_http_request_duration_seconds',
    help: 'API request durations, by method, route and status.',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers,
  });
  for (const outcome of ['accepted', 'duplicate', 'ignored']) webhooksReceived.inc({ outcome }, 0);
  for (const reason of ['bad_signature', 'malformed', 'too_large', 'overloaded', 'temporal_unavailable']) webhooksRejected.inc({ reason }, 0);

  // Scrape-time series, read from Postgres. Counters are reset and re-filled from the durable totals.
  const workflowsStarted = new Counter({ name: 'selfheal_workflows_started_total', help: 'Workflows started: incident workflows (one per incident) and job runs.', labelNames: ['kind'], registers });
  const ruleMatches = new Counter({ name: 'selfheal_rule_matches_total', help: 'Rule matches recorded, by decision (run, dry_run, skipped...).', labelNames: ['decision'], registers });
  const actions = new Counter({ name: 'selfheal_actions_total', help: 'Action runs, by action type and status.', labelNames: ['type', 'status'], registers });
  const jobRuns = new Counter({ name: 'selfheal_job_runs_total', help: 'Scheduled job runs, by job and status.', labelNames: ['job', 'status'], registers });
  const jobTargets = new Counter({ name: 'selfheal_job_target_results_total', help: 'Per-environment results of job runs, by way (agent, ssh) and status.', labelNames: ['via', 'status'], registers });
  const breakersOpen = new Gauge({ name: 'selfheal_circuit_breakers_open', help: 'Rules whose circuit breaker is open.', registers });
  const agentsOnline = new Gauge({ name: 'selfheal_agents_online', help: 'Doctor agent pollers seen in the last 90 s on each environment task queue.', labelNames: ['environment'], registers });
  const dbUp = new Gauge({ name: 'selfheal_metrics_database_up', help: '1 when the last scrape could read the database, else 0 (database series then keep their last values).', registers });
  const temporalUp = new Gauge({ name: 'selfheal_metrics_temporal_up', help: '1 when the last agent lookup reached Temporal, else 0.', registers });
  const actionDuration = new PrecomputedHistogram('selfheal_action_duration_seconds', 'Durations of finished action runs, by action type.', 'type');
  const jobDuration = new PrecomputedHistogram('selfheal_job_run_duration_seconds', 'Durations of finished job runs, by job.', 'job');
  registry.registerMetric(actionDuration as never);
  registry.registerMetric(jobDuration as never);

  const agentCacheMs = deps.agentCacheMs ?? 15_000;
  const maxEnvironments = deps.maxEnvironments ?? 200;
  let agentCache: { at: number; value: Promise<Map<string, number>> } | undefined;

  async function refreshDatabase(): Promise<void> {
    const db = deps.db;
    const [incidents, jobRunCount, matches, actionRows, jobRows, targetRows, breakers, actionHist, jobHist] = await Promise.all([
      db.selectFrom('incidents').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('job_runs').select((eb) => eb.fn.countAll<string>().as('n')).executeTakeFirstOrThrow(),
      db.selectFrom('rule_matches').select(['decision', (eb) => eb.fn.countAll<string>().as('n')]).groupBy('decision').execute(),
      db.selectFrom('action_runs').select(['action_type', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['action_type', 'status']).execute(),
      db.selectFrom('job_runs').select(['job_id', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['job_id', 'status']).execute(),
      db.selectFrom('job_target_results').select(['via', 'status', (eb) => eb.fn.countAll<string>().as('n')]).groupBy(['via', 'status']).execute(),
      db.selectFrom('rules').select((eb) => eb.fn.countAll<string>().as('n')).where('breaker_state', '=', 'open').where('deleted_at', 'is', null).executeTakeFirstOrThrow(),
      durationHistogram(db, 'action_runs', 'action_type'),
      durationHistogram(db, 'job_runs', 'job_id'),
    ]);
    workflowsStarted.reset();
    workflowsStarted.inc({ kind: 'incident' }, Number(incidents.n));
    workflowsStarted.inc({ kind: 'job' }, Number(jobRunCount.n));
    ruleMatches.reset();
    for (const r of matches) ruleMatches.inc({ decision: r.decision }, Number(r.n));
    actions.reset();
    for (const r of actionRows) actions.inc({ type: r.action_type, status: r.status }, Number(r.n));
    jobRuns.reset();
    for (const r of jobRows) jobRuns.inc({ job: r.job_id, status: r.status }, Number(r.n));
    jobTargets.reset();
    for (const r of targetRows) jobTargets.inc({ via: r.via, status: r.status }, Number(r.n));
    breakersOpen.set(Number(breakers.n));
    actionDuration.set(actionHist);
    jobDuration.set(jobHist);
  }

  /** Pollers per environment; asks Temporal at most once per cache period, a few queues at a time. */
  function agents(): Promise<Map<string, number>> {
    const now = Date.now();
    if (agentCache && now - agentCache.at < agentCacheMs) return agentCache.value;
    const value = (async () => {
      const envs = await deps.db.selectFrom('environments').select(['name', 'agent_task_queue']).orderBy('name').limit(maxEnvironments).execute();
      const out = new Map<string, number>();
      let reached = envs.length === 0;
      await mapLimit(envs, 8, async (e) => {
        const n = await onlinePollers(deps.temporal, deps.namespace, e.agent_task_queue ?? agentTaskQueue(e.name));
        if (n !== undefined) reached = true;
        out.set(e.name, n ?? 0);
      });
      temporalUp.set(reached ? 1 : 0);
      return out;
    })();
    agentCache = { at: now, value };
    // A failed lookup is not cached: the next scrape tries again.
    value.catch(() => {
      if (agentCache?.value === value) agentCache = undefined;
    });
    return value;
  }

  return {
    registry,
    contentType: registry.contentType,
    webhook(outcome) {
      webhooksReceived.inc({ outcome });
      if (!ACCEPTED_OUTCOMES.has(outcome)) webhooksRejected.inc({ reason: outcome });
    },
    httpRequest(method, route, status, seconds) {
      httpDuration.observe({ method, route, status: String(status) }, seconds);
    },
    async render() {
      const [dbResult, agentResult] = await Promise.allSettled([withTimeout(refreshDatabase(), 5000), withTimeout(agents(), 8000)]);
      dbUp.set(dbResult.status === 'fulfilled' ? 1 : 0);
      if (dbResult.status === 'rejected') deps.logger.warn({ err: { message: String((dbResult.reason as Error)?.message ?? dbResult.reason) } }, 'metrics: database series not refreshed');
      if (agentResult.status === 'fulfilled') {
        agentsOnline.reset();
        for (const [environment, n] of agentResult.value) agentsOnline.set({ environment }, n);
      } else {
        temporalUp.set(0);
      }
      return registry.metrics();
    },
  };
}

async function durationHistogram(db: Kysely<Database>, table: 'action_runs' | 'job_runs', keyColumn: 'action_type' | 'job_id'): Promise<HistogramRow[]> {
  const seconds = sql<number>`extract(epoch from (finished_at - started_at))`;
  // One count per bucket, computed by Postgres; the bounds are constants of this module.
  const bucketColumns = DURATION_BUCKETS.map((le, i) => sql<string>`count(*) filter (where ${seconds} <= ${sql.lit(le)})`.as(`b${i}`));
  const rows = await db
    .selectFrom(table)
    .select([sql<string>`${sql.ref(keyColumn)}`.as('key'), sql<string>`count(*)`.as('count'), sql<string>`coalesce(sum(${seconds}), 0)`.as('sum'), ...bucketColumns])
    .where('started_at', 'is not', null)
    .where('finished_at', 'is not', null)
    .groupBy(keyColumn)
    .execute();
  return rows.map((r) => {
    const row = r as unknown as Record<string, string>;
    return { key: String(row.key), count: Number(row.count), sum: Number(row.sum), buckets: DURATION_BUCKETS.map((_, i) => Number(row[`b${i}`])) };
  });
}

/** Pollers that polled the queue recently; undefined when Temporal could not be asked. */
async function onlinePollers(client: Client, namespace: string, queue: string): Promise<number | undefined> {
  try {
    const now = Date.now();
    const { pollers } = await agentStatus(client, namespace, queue, 3000, now);
    return pollers.filter((p) => p.lastAccessTime !== null && now - Date.parse(p.lastAccessTime) < ONLINE_WITHIN_MS).length;
  } catch {
    return undefined;
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lanes = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  });
  await Promise.all(lanes);
}
