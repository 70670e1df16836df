import type { Connection } from '@temporalio/client';
import { pathToFileURL } from 'node:url';
import type { NativeConnection, Worker } from '@temporalio/worker';
import type { Kysely } from 'kysely';
import { createActivities } from '../activities/index.js';
import type { Config } from './config.js';
import type { Database } from './db/database.js';
import type { ExtractorsConfig } from './domain/extract.js';
import { createIntegrations } from './integrations.js';
import type { Logger } from './logger.js';
import { createPagerDutyClient } from './pagerduty/rest-client.js';
import { connectClient, temporalTarget } from './temporal/connection.js';
import { ensureRetentionSchedule } from './temporal/retention.js';
import { keepSchedulesReconciled } from './temporal/schedules.js';
import { ensureSearchAttributes } from './temporal/search-attributes.js';
import { connectNative, createMainWorker, installTemporalRuntime } from './temporal/worker.js';
import { configOrExit, loadExtractors, loggerFor, onShutdown, openMigratedDatabase } from './runtime.js';

export interface MainWorkerDeps {
  config: Config;
  db: Kysely<Database>;
  logger: Logger;
  connection: NativeConnection;
  extractors: ExtractorsConfig;
}

/** Build the main worker (incident and job workflows, their activities) on the configured task queue. */
export async function buildMainWorker(deps: MainWorkerDeps): Promise<Worker> {
  const { config } = deps;
  const pd = config.pagerduty;
  const pagerduty =
    pd.apiToken && pd.fromEmail ? createPagerDutyClient({ baseUrl: pd.apiUrl, token: pd.apiToken, fromEmail: pd.fromEmail }) : undefined;
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

async function main(): Promise<void> {
  const config = configOrExit('worker');
  const logger = loggerFor(config, 'selfheal-worker');
  installTemporalRuntime(logger, { metricsAddress: config.temporal.workerMetricsAddress });
  const address = config.temporal.address ?? 'localhost:7233';
  const target = temporalTarget(config, address);
  const { db, close } = await openMigratedDatabase(config, logger);
  const client = await connectClient(target);
  await ensureSearchAttributes(client.connection as Connection, config.temporal.namespace);
  const schedules = keepSchedulesReconciled(client, db, logger, { taskQueue: config.temporal.taskQueue }, config.scheduleReconcileSeconds);
  await schedules.first;
  await ensureRetentionSchedule(client, { taskQueue: config.temporal.taskQueue, retentionDays: config.retention.days }, logger).catch((err: unknown) =>
    logger.error({ err: { message: (err as Error).message } }, 'retention schedule not set up; history is kept until the next start'),
  );
  const connection = await connectNative(target);
  const worker = await buildMainWorker({ config, db, logger, connection, extractors: await loadExtractors(config.extractorsFile) });
  const running = worker.run();
  logger.info({ address, namespace: config.temporal.namespace, taskQueue: config.temporal.taskQueue }, 'worker started');
  onShutdown(logger, async () => {
    // The SDK also reacts to SIGINT/SIGTERM and may already be draining.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
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
