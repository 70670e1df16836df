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
import { listEnvironmentQueues, readMetricTotals, type HistogramRow } from './db/repositories/metrics.js';
import { ruleTotals } from './db/repositories/stats.js';
import type { Logger } from './logger.js';
import { agentTaskQueue } from './contracts/names.js';
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
  /** Database and Temporal series are refreshed at most this often (METRICS_REFRESH_SECONDS; default 15). */
  refreshSeconds?: number;
}

/** The first scrape of a process waits this long at most for the first refresh. */
export const FIRST_REFRESH_WAIT_MS = 1000;

export interface Metrics {
  registry: Registry;
  contentType: string;
  /** One webhook delivery and how it ended (accepted, duplicate, ignored, bad_signature, malformed, too_large, not_configured, overloaded, temporal_unavailable). */
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
  for (const reason of ['bad_signature', 'malformed', 'too_large', 'not_configured', 'overloaded', 'temporal_unavailable']) webhooksRejected.inc({ reason }, 0);

  // Scrape-time series, read from Postgres. Counters are reset and re-filled from the durable totals.
  const workflowsStarted = new Counter({ name: 'selfheal_workflows_started_total', help: 'Workflows started: incident workflows (one per incident) and job runs.', labelNames: ['kind'], registers });
  const ruleMatches = new Counter({ name: 'selfheal_rule_matches_total', help: 'Rule matches recorded, by decision (run, dry_run, skipped...).', labelNames: ['decision'], registers });
  const actions = new Counter({ name: 'selfheal_actions_total', help: 'Action runs, by action type and status.', labelNames: ['type', 'status'], registers });
  const jobRuns = new Counter({ name: 'selfheal_job_runs_total', help: 'Scheduled job runs, by job and status.', labelNames: ['job', 'status'], registers });
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
    // Then the per-rule effectiveness totals (one more query, after the others: still one at a time).
    const perRule = await ruleTotals(deps.db);
    workflowsStarted.reset();
    workflowsStarted.inc({ kind: 'incident' }, Number(t.incidents.n));
    workflowsStarted.inc({ kind: 'job' }, Number(t.jobRuns.n));
    ruleMatches.reset();
    for (const r of t.matchesByDecision) ruleMatches.inc({ decision: r.decision }, Number(r.n));
    actions.reset();
    for (const r of t.actionsByTypeStatus) actions.inc({ type: r.action_type, status: r.status }, Number(r.n));
    jobRuns.reset();
    for (const r of t.jobRunsByJobStatus) jobRuns.inc({ job: r.job_id, status: r.status }, Number(r.n));
    jobTargets.reset();
    for (const r of t.targetsByViaStatus) jobTargets.inc({ via: r.via, status: r.status }, Number(r.n));
    for (const c of [ruleRuns, ruleSucceeded, ruleVerified, ruleUnverified, ruleSuppressed]) c.reset();
    for (const r of perRule) {
      const labels = { rule_id: r.rule_id };
      ruleRuns.inc(labels, r.runs);
      ruleSucceeded.inc(labels, r.succeeded);
      ruleVerified.inc(labels, r.verified);
      ruleUnverified.inc(labels, r.unverified);
      ruleSuppressed.inc(labels, r.suppressed);
    }
    breakersOpen.set(Number(t.breakersOpen.n));
    actionDuration.set(t.actionDurations);
    jobDuration.set(t.jobDurations);
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
