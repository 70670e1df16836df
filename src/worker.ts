import type { Client, Connection } from '@temporalio/client';
import { pathToFileURL } from 'node:url';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { alertDelivery, createActivities, jobFailureNotice } from '../activities/index.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { ExtractorsConfig } from './domain/extract.js';
import { createIntegrations } from './integrations.js';
import type { Logger } from './logger.js';
import { reconcileOpenIncidents } from '../activities/reconcile.js';
import { createPagerDutyClient } from './pagerduty/rest-client.js';
import { connectClient, temporalTarget } from './temporal/connection.js';
import { signalIncident } from './temporal/incident-signal.js';
import { ensureRetentionSchedule } from './temporal/retention.js';
import { keepSchedulesReconciled } from './temporal/schedules.js';
import { ensureSearchAttributes } from './temporal/search-attributes.js';
import { connectNative, createMainWorker, installTemporalRuntime } from './temporal/worker.js';
import { configOrExit, exitOnFatalError, loadExtractors, loggerFor, onShutdown, openMigratedDatabase } from './runtime.js';

export interface MainWorkerDeps {
  config: Config;
  db: Kysely<Database>;
  logger: Logger;
  connection: NativeConnection;
  extractors: ExtractorsConfig;
}

/** The PagerDuty REST client of the write-back, when a token and a sender are configured. */
function pagerDutyFor(config: Config) {
  const pd = config.pagerduty;
  return pd.apiToken && pd.fromEmail ? createPagerDutyClient({ baseUrl: pd.apiUrl, token: pd.apiToken, fromEmail: pd.fromEmail }) : undefined;
}

/** Build the main worker (incident and job workflows, their activities) on the configured task queue. */
export async function buildMainWorker(deps: MainWorkerDeps): Promise<Worker> {
  const { config } = deps;
  const pagerduty = pagerDutyFor(config);
  const activities = createActivities({
    db: deps.db,
    logger: deps.logger,
    extractors: deps.extractors,
    pagerduty,
    integrations: createIntegrations(config),
    publicUrl: config.publicUrl,
    guards: config.guards,
    approvalLinkTtlMinutes: config.approvalLinkTtlMinutes,
  });
  return createMainWorker({
    connection: deps.connection,
    namespace: config.temporal.namespace,
    taskQueue: config.temporal.taskQueue,
    activities,
    slots: config.temporal.workerSlots,
  });
}

/**
 * The worker's periodic job-schedule pass (keepSchedulesReconciled, at start and every
 * SELFHEAL_SCHEDULE_RECONCILE_SECONDS): schedules kept in line with the jobs table, and runs whose execution
 * ended in Temporal without recording it recorded ended, the failure notice of one recorded failed sent as
 * its own run would send it (the job's channels, this worker's integrations).
 */
export function keepJobSchedulesReconciled(deps: { config: Config; db: Kysely<Database>; logger: Logger; client: Client }): { first: Promise<void>; stop: () => Promise<void> } {
  const { config, db, logger } = deps;
  const notify = jobFailureNotice({ db, logger, integrations: createIntegrations(config) });
  return keepSchedulesReconciled(deps.client, db, logger, { taskQueue: config.temporal.taskQueue }, config.scheduleReconcileSeconds, { notify });
}

/** How often a worker looks for pages and notes still owed, in seconds. */
const ALERT_SWEEP_SECONDS = 60;

/**
 * Delivers the guards' and flapping alerts still owed, at start and then every `everySeconds`: those a
 * channel could not take yet (Slack unreachable, a 429) and those claimed by a worker that died before it
 * sent them. An incident event's triage delivers alerts only when its own planning raised one, and only
 * its incident's (activities/plan.ts), so owed alerts are this sweep's: they reach the channels within a
 * minute or two even in a paused estate that sees no event for hours, and a channel's outage never slows
 * a triage that raised nothing. Claims are per alert (`for update skip locked`), so every worker replica
 * can sweep; a quiet estate costs one indexed query a minute per worker. An interval in the process, not
 * a Temporal Schedule: the alert rows are the durable state, and a schedule would spend a workflow per
 * minute.
 */
export function keepAlertsDelivered(deliver: () => Promise<number>, everySeconds = ALERT_SWEEP_SECONDS): { stop: () => Promise<void> } {
  // deliverAutomationAlerts never throws: what fails is logged and kept on the alert's row.
  return keepSweeping(deliver, everySeconds);
}

/**
 * Runs `sweep` at start and then every `everySeconds`, never two at once (a slow sweep skips a tick), on an
 * unref'd timer; `stop` waits for the sweep running. `sweep` must not throw.
 */
export function keepSweeping(sweep: () => Promise<unknown>, everySeconds: number): { stop: () => Promise<void> } {
  let running: Promise<unknown> | undefined;
  const once = () => (running ??= sweep().finally(() => (running = undefined)));
  void once();
  const timer = setInterval(() => void once(), everySeconds * 1000);
  timer.unref();
  return {
    stop: async () => {
      clearInterval(timer);
      await running;
    },
  };
}

/**
 * The worker's periodic duties besides the job-schedule pass: the alert-delivery sweep (owed pages and
 * notes retried) and, with a PagerDuty token, the reconcile of open incidents (an incident resolved in
 * PagerDuty while its webhook was lost gets closed). src/worker.ts and src/dev.ts (`npm start`) both run
 * them through this function; before, `npm start` ran neither.
 */
export function keepPeriodicDutiesRunning(deps: { config: Config; db: Kysely<Database>; logger: Logger; client: Client }): { stop: () => Promise<void> } {
  const { config, db, logger, client } = deps;
  const pagerduty = pagerDutyFor(config);
  const alerts = keepAlertsDelivered(alertDelivery({ db, logger, guards: config.guards, integrations: createIntegrations(config), pagerduty }));
  const reconcile =
    pagerduty && config.pagerduty.reconcileMinutes > 0
      ? keepSweeping(
          () => reconcileOpenIncidents({ db, pagerduty, logger, signal: (id, msg, serviceId) => signalIncident(client, config.temporal.taskQueue, id, msg, serviceId) }),
          config.pagerduty.reconcileMinutes * 60,
        )
      : undefined;
  return {
    stop: async () => {
      await alerts.stop();
      await reconcile?.stop();
    },
  };
}

async function main(): Promise<void> {
  const config = configOrExit('worker');
  const logger = loggerFor(config, 'selfheal-worker');
  exitOnFatalError(logger);
  installTemporalRuntime(logger, { metricsAddress: config.temporal.workerMetricsAddress });
  const address = config.temporal.address ?? 'localhost:7233';
  const target = temporalTarget(config, address);
  const { db, close } = await openMigratedDatabase(config, logger);
  const client = await connectClient(target);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const schedules = keepJobSchedulesReconciled({ config, db, logger, client });
  await schedules.first;
  await ensureRetentionSchedule(client, { taskQueue: config.temporal.taskQueue, retentionDays: config.retention.days }, logger).catch((err: unknown) =>
    logger.error({ err: { message: (err as Error).message } }, 'retention schedule not set up; history is kept until the next start'),
  );
  const connection = await connectNative(target);
  const worker = await buildMainWorker({ config, db, logger, connection, extractors: await loadExtractors(config.extractorsFile) });
  const running = worker.run();
  const duties = keepPeriodicDutiesRunning({ config, db, logger, client });
  logger.info({ address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue }, 'worker started');
  onShutdown(logger, async () => {
    // The SDK also reacts to SIGINT/SIGTERM and may already be draining.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await duties.stop();
    await schedules.stop();
    await connection.close();
    await client.connection.close();
    await close();
  });
  await running;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`worker failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
