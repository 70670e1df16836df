/**
 * Prometheus metrics of the API process. One registry per app (never prom-client's global default),
 * so several apps in one process (tests) never clash.
 *
 * Two kinds of series:
 * - counted here, in memory: webhook deliveries by outcome, HTTP requests;
 * - read from Postgres and Temporal: workflows started, rule matches by decision, per-rule runs (succeeded,
 *   verified, unverified, suppressed), actions and job runs
 *   by type/status with duration histograms, open circuit breakers, agents online. Those come from the
 *   durable tables the worker writes, so they hold across restarts and across replicas (every replica
 *   reports the same totals: aggregate them with max(), not sum()).
 *
 * The retention purge deletes those rows. So that a counter never goes down (Prometheus would read each drop
 * as a reset, and rate() would jump by the whole purged history), the purge adds what the rows it deletes
 * counted to `metric_offsets`, per series and in its own transaction, and a series here is its live rows plus
 * that offset. The duration histograms keep an offset per bucket, plus their _count and _sum, and stay true
 * histograms. A series whose rows are all purged stays, carried by its offset; the per-rule series still
 * leave with their rule.
 *
 * The Postgres and Temporal series are a cache. A scrape renders what the process holds and, when the
 * cache is older than METRICS_REFRESH_SECONDS, starts one refresh in the background: at most one is in
 * flight, it runs its queries one after another on a single pooled connection, and no scrape waits for
 * it (except the very first scrape of the process, for at most {@link FIRST_REFRESH_WAIT_MS}, so that
 * counters do not start at 0 and look like a reset). Any number of scrapers cost the database one
 * refresh per period, and a slow database delays the series, never the answer.
 * `selfheal_metrics_database_age_seconds` says how old the database series are.
 *
 * Temporal worker metrics (task slots, poll latency, activity schedule-to-start...) come from the
 * SDK's own Prometheus exporter in the worker process: set TEMPORAL_WORKER_METRICS_ADDRESS
 * (e.g. 0.0.0.0:9464) and the worker installs
 * `Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress } } } })`.
 */
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Database } from './db/database.js';
import { mapBounded } from './domain/map-bounded.js';
import { FINISHED_RUN_STATUSES } from './db/repositories/action-runs.js';
import { DURATION_BUCKETS, listEnvironmentQueues, readMetricTotals, type HistogramRow, type MetricOffset } from './db/repositories/metrics.js';
import type { Logger } from './logger.js';
import { agentTaskQueue } from './contracts/names.js';
import { agentStatus, ONLINE_WITHIN_MS } from './temporal/pollers.js';

/** Duration buckets (seconds) for actions and job runs; they live with the queries, which the purge shares. */
export { DURATION_BUCKETS };

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
  /** Database and Temporal series are refreshed at most this often (METRICS_REFRESH_SECONDS; default 15). */
  refreshSeconds?: number;
}

/** The first scrape of a process waits this long at most for the first refresh. */
export const FIRST_REFRESH_WAIT_MS = 1000;

export interface Metrics {
  registry: Registry;
  contentType: string;
  /** One webhook delivery and how it ended (accepted, duplicate, ignored, bad_signature, from_browser, malformed, too_large, stale, not_configured, overloaded, temporal_unavailable). */
  webhook(outcome: string): void;
  httpRequest(method: string, route: string, status: number, seconds: number): void;
  /** Render the text exposition; starts a background refresh of the cached series when they are due. */
  render(): Promise<string>;
  /** Resolves when no refresh is in flight (tests). */
  settled(): Promise<void>;
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

type Labels = Record<string, string>;

/** One key per label set, whatever the order of its labels. */
const labelsKey = (labels: Labels) => JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

/** The purge's offsets by metric name. */
function offsetsByMetric(offsets: MetricOffset[]): Map<string, MetricOffset[]> {
  const out = new Map<string, MetricOffset[]>();
  for (const o of offsets) {
    const list = out.get(o.metric);
    if (list) list.push(o);
    else out.set(o.metric, [o]);
  }
  return out;
}

/**
 * Resets `counter` to the live counts plus the offsets of `metric` (only those `keep` accepts). Never below 0:
 * prom-client refuses a negative increment, and a counter below 0 means nothing.
 */
function fillCounter(counter: Counter, offsets: Map<string, MetricOffset[]>, metric: string, live: { labels: Labels; value: number }[], keep: (labels: Labels) => boolean = () => true): void {
  const series = new Map<string, { labels: Labels; value: number }>();
  for (const l of live) series.set(labelsKey(l.labels), { labels: l.labels, value: l.value });
  for (const o of offsets.get(metric) ?? []) {
    if (!keep(o.labels)) continue;
    const key = labelsKey(o.labels);
    const s = series.get(key);
    if (s) s.value += o.value;
    else series.set(key, { labels: o.labels, value: o.value });
  }
  counter.reset();
  for (const s of series.values()) counter.inc(s.labels, Math.max(0, s.value));
}

/**
 * The live histogram rows plus the offsets of `metric` (its _bucket, _count and _sum), by the key's label;
 * with `keys`, the offsets of those keys only.
 */
function withHistogramOffsets(rows: HistogramRow[], offsets: Map<string, MetricOffset[]>, metric: string, label: string, keys?: ReadonlySet<string>): HistogramRow[] {
  const byKey = new Map(rows.map((r) => [r.key, { ...r, buckets: [...r.buckets] }]));
  const row = (key: string | undefined) => {
    if (key === undefined || (keys && !keys.has(key))) return undefined;
    let r = byKey.get(key);
    if (!r) byKey.set(key, (r = { key, count: 0, sum: 0, buckets: DURATION_BUCKETS.map(() => 0) }));
    return r;
  };
  for (const o of offsets.get(`${metric}_count`) ?? []) {
    const r = row(o.labels[label]);
    if (r) r.count += o.value;
  }
  for (const o of offsets.get(`${metric}_sum`) ?? []) {
    const r = row(o.labels[label]);
    if (r) r.sum += o.value;
  }
  for (const o of offsets.get(`${metric}_bucket`) ?? []) {
    // The purge labels each bucket with its bound as JavaScript prints it; an offset of a bound no longer in
    // DURATION_BUCKETS has no bucket left to add to.
    const i = DURATION_BUCKETS.findIndex((le) => String(le) === o.labels.le);
    const r = i >= 0 ? row(o.labels[label]) : undefined;
    if (r) r.buckets[i] = (r.buckets[i] ?? 0) + o.value;
  }
  return [...byKey.values()];
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
  for (const reason of ['bad_signature', 'from_browser', 'malformed', 'too_large', 'stale', 'not_configured', 'overloaded', 'temporal_unavailable']) webhooksRejected.inc({ reason }, 0);

  // Scrape-time series, read from Postgres. Counters are reset and re-filled from the durable totals plus what the
  // retention purge deleted.
  const workflowsStarted = new Counter({ name: 'selfheal_workflows_started_total', help: 'Workflows started: incident workflows (one per incident) and job runs.', labelNames: ['kind'], registers });
  const ruleMatches = new Counter({ name: 'selfheal_rule_matches_total', help: 'Rule matches recorded, by decision (run, dry_run, skipped...).', labelNames: ['decision'], registers });
  const actions = new Counter({ name: 'selfheal_actions_total', help: 'Finished action runs, by action type and final status.', labelNames: ['type', 'status'], registers });
  const jobRuns = new Counter({ name: 'selfheal_job_runs_total', help: 'Finished scheduled job runs, by job and final status.', labelNames: ['job', 'status'], registers });
  // A counter counts what ended, never what is going: counted by their current status, in-flight rows
  // left `running` when they finished and that series went down (Prometheus reads a drop as a reset).
  const actionsInProgress = new Gauge({ name: 'selfheal_actions_in_progress', help: 'Action runs not finished yet (pending, awaiting_approval, running), by action type and status.', labelNames: ['type', 'status'], registers });
  const jobRunsInProgress = new Gauge({ name: 'selfheal_job_runs_in_progress', help: 'Job runs not finished yet, by job.', labelNames: ['job'], registers });
  const jobTargets = new Counter({ name: 'selfheal_job_target_results_total', help: 'Per-environment results of job runs, by way (agent, ssh) and status.', labelNames: ['via', 'status'], registers });
  // Effectiveness per rule (issue 22): labelled by rule id only, so the series are bounded by the live rules.
  const ruleRuns = new Counter({ name: 'selfheal_rule_runs_total', help: 'Matches of a rule that ran actions (decision run), by rule id.', labelNames: ['rule_id'], registers });
  const ruleSucceeded = new Counter({ name: 'selfheal_rule_runs_succeeded_total', help: 'Runs of a rule where an action succeeded and none failed or was rejected, by rule id.', labelNames: ['rule_id'], registers });
  const ruleVerified = new Counter({ name: 'selfheal_rule_runs_verified_total', help: 'Runs of a rule whose remediation was verified, by rule id.', labelNames: ['rule_id'], registers });
  const ruleUnverified = new Counter({ name: 'selfheal_rule_runs_unverified_total', help: 'Runs of a rule whose remediation was not verified, by rule id.', labelNames: ['rule_id'], registers });
  const ruleSuppressed = new Counter({ name: 'selfheal_rule_matches_suppressed_total', help: 'Matches of a rule skipped by a policy (rate limit, cooldown, flapping, guards…), by rule id.', labelNames: ['rule_id'], registers });
  const breakersOpen = new Gauge({ name: 'selfheal_circuit_breakers_open', help: 'Rules whose circuit breaker is open.', registers });
  const agentsOnline = new Gauge({ name: 'selfheal_agents_online', help: 'Doctor agent pollers seen in the last 90 s on each environment task queue.', labelNames: ['environment'], registers });
  const dbUp = new Gauge({ name: 'selfheal_metrics_database_up', help: '1 when the last refresh could read the database, else 0 (database series then keep their last values).', registers });
  const temporalUp = new Gauge({ name: 'selfheal_metrics_temporal_up', help: '1 when the last agent lookup reached Temporal, else 0.', registers });
  let lastDbRead: number | undefined;
  new Gauge({
    name: 'selfheal_metrics_database_age_seconds',
    help: 'Seconds since the database series were last read (they are refreshed in the background, at most every METRICS_REFRESH_SECONDS).',
    registers,
    collect() {
      if (lastDbRead !== undefined) this.set((Date.now() - lastDbRead) / 1000);
    },
  });
  const actionDuration = new PrecomputedHistogram('selfheal_action_duration_seconds', 'Durations of finished action runs, by action type.', 'type');
  const jobDuration = new PrecomputedHistogram('selfheal_job_run_duration_seconds', 'Durations of finished job runs, by job.', 'job');
  registry.registerMetric(actionDuration as never);
  registry.registerMetric(jobDuration as never);

  const maxEnvironments = deps.maxEnvironments ?? 200;
  const refreshMs = (deps.refreshSeconds ?? 15) * 1000;
  async function refreshDatabase(): Promise<void> {
    const t = await readMetricTotals(deps.db, DURATION_BUCKETS);
    const offsets = offsetsByMetric(t.offsets);
    fillCounter(workflowsStarted, offsets, 'selfheal_workflows_started_total', [
      { labels: { kind: 'incident' }, value: Number(t.incidents.n) },
      { labels: { kind: 'job' }, value: Number(t.jobRuns.n) },
    ]);
    fillCounter(ruleMatches, offsets, 'selfheal_rule_matches_total', t.matchesByDecision.map((r) => ({ labels: { decision: r.decision }, value: Number(r.n) })));
    const actionEnded = (labels: Labels) => FINISHED_RUN_STATUSES.includes(labels.status ?? '');
    const actionRows = t.actionsByTypeStatus.map((r) => ({ labels: { type: r.action_type, status: r.status }, value: Number(r.n) }));
    fillCounter(actions, offsets, 'selfheal_actions_total', actionRows.filter((r) => actionEnded(r.labels)), actionEnded);
    actionsInProgress.reset();
    for (const r of actionRows) if (!actionEnded(r.labels)) actionsInProgress.set(r.labels, r.value);
    // Per live job only (the live rows are read so): the offsets of a deleted job stay in the table but its
    // series leave with it, as a rule's do.
    const liveJobs = new Set(t.liveJobs);
    const isLiveJob = (labels: Labels) => liveJobs.has(labels.job ?? '');
    const jobEnded = (labels: Labels) => labels.status !== 'running';
    const jobRows = t.jobRunsByJobStatus.map((r) => ({ labels: { job: r.job_id, status: r.status }, value: Number(r.n) }));
    fillCounter(jobRuns, offsets, 'selfheal_job_runs_total', jobRows.filter((r) => jobEnded(r.labels)), (labels) => jobEnded(labels) && isLiveJob(labels));
    jobRunsInProgress.reset();
    for (const r of jobRows) if (!jobEnded(r.labels)) jobRunsInProgress.set({ job: r.labels.job! }, r.value);
    fillCounter(jobTargets, offsets, 'selfheal_job_target_results_total', t.targetsByViaStatus.map((r) => ({ labels: { via: r.via, status: r.status }, value: Number(r.n) })));
    // Per live rule only: the offsets of a deleted rule stay in the table but its series leave with it.
    const liveRules = new Set(t.perRule.map((r) => r.rule_id));
    const isLive = (labels: Labels) => liveRules.has(labels.rule_id ?? '');
    const perRule = (field: 'runs' | 'succeeded' | 'verified' | 'unverified' | 'suppressed') => t.perRule.map((r) => ({ labels: { rule_id: r.rule_id }, value: r[field] }));
    fillCounter(ruleRuns, offsets, 'selfheal_rule_runs_total', perRule('runs'), isLive);
    fillCounter(ruleSucceeded, offsets, 'selfheal_rule_runs_succeeded_total', perRule('succeeded'), isLive);
    fillCounter(ruleVerified, offsets, 'selfheal_rule_runs_verified_total', perRule('verified'), isLive);
    fillCounter(ruleUnverified, offsets, 'selfheal_rule_runs_unverified_total', perRule('unverified'), isLive);
    fillCounter(ruleSuppressed, offsets, 'selfheal_rule_matches_suppressed_total', perRule('suppressed'), isLive);
    breakersOpen.set(Number(t.breakersOpen.n));
    actionDuration.set(withHistogramOffsets(t.actionDurations, offsets, 'selfheal_action_duration_seconds', 'type'));
    jobDuration.set(withHistogramOffsets(t.jobDurations, offsets, 'selfheal_job_run_duration_seconds', 'job', liveJobs));
  }

  /** Pollers per environment, asking Temporal a few queues at a time. */
  async function refreshAgents(): Promise<void> {
    const envs = await listEnvironmentQueues(deps.db, maxEnvironments);
    const out = new Map<string, number>();
    let reached = envs.length === 0;
    await mapBounded(envs, 8, async (e) => {
      const n = await onlinePollers(deps.temporal, deps.namespace, e.agent_task_queue ?? agentTaskQueue(e.name));
      if (n !== undefined) reached = true;
      out.set(e.name, n ?? 0);
    });
    temporalUp.set(reached ? 1 : 0);
    agentsOnline.reset();
    for (const [environment, n] of out) agentsOnline.set({ environment }, n);
  }

  let inFlight: Promise<void> | undefined;
  let lastStarted: number | undefined;
  let refreshedOnce = false;

  /** One refresh at a time, at most one per period. Ends on its own: every query and call it makes has a timeout (the pool's statement and connect timeouts, 3 s per Temporal call). */
  function refreshIfDue(): void {
    if (inFlight || (lastStarted !== undefined && Date.now() - lastStarted < refreshMs)) return;
    lastStarted = Date.now();
    inFlight = (async () => {
      try {
        await refreshDatabase();
        lastDbRead = Date.now();
        dbUp.set(1);
      } catch (err) {
        dbUp.set(0);
        deps.logger.warn({ err: { message: String((err as Error)?.message ?? err) } }, 'metrics: database series not refreshed');
      }
      try {
        await refreshAgents();
      } catch {
        temporalUp.set(0);
      }
    })().finally(() => {
      refreshedOnce = true;
      inFlight = undefined;
    });
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
      refreshIfDue();
      if (!refreshedOnce && inFlight) await Promise.race([inFlight, new Promise((r) => setTimeout(r, FIRST_REFRESH_WAIT_MS).unref())]);
      return registry.metrics();
    },
    async settled() {
      while (inFlight) await inFlight;
    },
  };
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
