import type { Connection } from '@temporalio/client';
// `npm start`: the whole stack in one process for a laptop. Embedded Temporal dev server and Postgres
// (PGlite) unless TEMPORAL_ADDRESS / DATABASE_URL point at real ones; the worker; the API.
import path from 'node:path';
import { connectClient, temporalTarget } from './temporal/connection.js';
import { findTemporalCli, startDevServer, TemporalCliMissingError, type DevServer } from './temporal/dev-server.js';
import { ensureRetentionSchedule } from './temporal/retention.js';
import { ensureSearchAttributes } from './temporal/search-attributes.js';
import { connectNative, installTemporalRuntime } from './temporal/worker.js';
import { configOrExit, exitOnFatalError, loadExtractors, loggerFor, onShutdown, openMigratedDatabase } from './runtime.js';
import { lazyTemporalClient } from './temporal/native-client.js';
import { startApiServer } from './server.js';
import { buildMainWorker, keepJobSchedulesReconciled, keepPeriodicDutiesRunning } from './worker.js';

const DEV_TEMPORAL_PORT = 7233;
const DEV_UI_PORT = 8233;

/**
 * A laptop's defaults: the API listens on 127.0.0.1 unless HOST says otherwise, and, bound there without
 * webhook secrets, accepts unsigned webhooks (so PagerDuty's samples can be posted with curl), saying so
 * loudly at start-up. Bound anywhere else, the webhook fails closed like in every other process.
 */
function devEnvironment(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = { NODE_ENV: 'development', ...env };
  if (!out.HOST?.trim()) out.HOST = '127.0.0.1';
  const loopback = ['127.0.0.1', '::1', 'localhost'].includes(out.HOST!.trim());
  if (loopback && !out.PAGERDUTY_WEBHOOK_SECRETS?.trim() && !out.PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED?.trim()) out.PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED = 'true';
  return out;
}

async function main(): Promise<void> {
  const config = configOrExit('api', devEnvironment(process.env));
  const logger = loggerFor(config, 'selfheal-dev');
  exitOnFatalError(logger);
  installTemporalRuntime(logger, { metricsAddress: config.temporal.workerMetricsAddress });
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let devServer: DevServer | undefined;
  let sdkServer: { teardown(): Promise<void> } | undefined;
  let address = config.temporal.address;
  let uiUrl = config.temporal.uiUrl;
  if (!address) {
    const cli = await findTemporalCli({ cliPath: config.temporal.cliPath, provision: true, log: (m) => say(`» ${m}`) });
    if (cli) {
      say(`» starting the Temporal dev server (${cli})`);
      devServer = await startDevServer({
        executable: cli,
        port: DEV_TEMPORAL_PORT,
        uiPort: DEV_UI_PORT,
        dbFilename: path.resolve(config.dataDir, 'temporal.db'),
        namespace: config.temporal.namespace,
      });
      address = devServer.address;
      uiUrl = devServer.uiUrl ?? uiUrl;
    } else {
      say('» no Temporal CLI and no Go toolchain: trying the Temporal SDK download of the dev server');
      try {
        const { TestWorkflowEnvironment } = await import('@temporalio/testing');
        const env = await TestWorkflowEnvironment.createLocal({
          server: { ip: '127.0.0.1', port: DEV_TEMPORAL_PORT, ui: true, uiPort: DEV_UI_PORT, dbFilename: path.resolve(config.dataDir, 'temporal.db'), namespace: config.temporal.namespace },
        });
        sdkServer = env;
        address = `127.0.0.1:${DEV_TEMPORAL_PORT}`;
        uiUrl = `http://localhost:${DEV_UI_PORT}`;
      } catch (err) {
        throw new TemporalCliMissingError(`the SDK download failed: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }

  const database = await openMigratedDatabase(config, logger);
  const target = temporalTarget(config, address);
  const admin = await connectClient(target);
  await ensureSearchAttributes(admin.connection as Connection, config.temporal.namespace);
  // The worker's job-schedule pass, as src/worker.ts runs it: schedules kept in line with the jobs, and runs
  // whose execution ended in Temporal without recording it recorded ended (with their failure notice), at
  // start and every SELFHEAL_SCHEDULE_RECONCILE_SECONDS. Before, `npm start` reconciled once at start and never
  // ran the pass: a run terminated in the Temporal UI stayed `running` for ever.
  const schedules = keepJobSchedulesReconciled({ config, db: database.db, logger, client: admin });
  await schedules.first;
  await ensureRetentionSchedule(admin, { taskQueue: config.temporal.taskQueue, retentionDays: config.retention.days }, logger);

  const connection = await connectNative(target);
  const extractors = await loadExtractors(config.extractorsFile);
  const worker = await buildMainWorker({ config, db: database.db, logger, connection, extractors });
  const workerDone = worker.run();
  // The worker's other periodic duties, through the same function src/worker.ts runs: owed alert pages
  // retried, and incidents resolved in PagerDuty while a webhook was lost closed (before, `npm start` ran neither).
  const duties = keepPeriodicDutiesRunning({ config, db: database.db, logger, client: admin });

  const temporal = await lazyTemporalClient(target);
  const api = await startApiServer({ config, db: database.db, temporal, logger, temporalUiUrl: uiUrl, extractors });

  // One write: the worker's and the API's log lines cannot land inside it, and whoever reads the output
  // sees the whole banner at once (a reader that saw its first line read the address from a later one).
  const banner = [
    '',
    'Self-healing is running (Ctrl-C to stop)',
    `  API            ${api.url}`,
    `  API docs       ${api.url}/docs`,
    `  Webhook        ${api.url}/webhooks/pagerduty`,
    `  Temporal UI    ${uiUrl}`,
    `  Temporal       ${address} (namespace ${config.temporal.namespace})`,
    `  Database       ${database.embedded ? `embedded PGlite in ${path.resolve(config.dataDir, 'pglite')}` : 'DATABASE_URL'}`,
  ];
  if (config.pagerduty.webhookSecrets.length === 0) {
    if (config.pagerduty.webhookAllowUnsigned) banner.push(`  WARNING        UNSIGNED webhooks are accepted on ${config.host} (no PAGERDUTY_WEBHOOK_SECRETS; PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true)`);
    else banner.push('  WARNING        PAGERDUTY_WEBHOOK_SECRETS unset: the webhook refuses every delivery (503)');
  }
  if (!config.adminToken) banner.push('  NOTE           SELFHEAL_ADMIN_TOKEN unset: the /api endpoints refuse every request');
  say(`${banner.join('\n')}\n`);

  onShutdown(logger, async () => {
    await api.close();
    // The SDK also reacts to SIGINT/SIGTERM and may already be draining.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await workerDone;
    await duties.stop();
    await schedules.stop();
    await admin.connection.close();
    await connection.close();
    await temporal.connection.close();
    await database.close();
    await devServer?.stop();
    await sdkServer?.teardown();
    say('stopped');
  });
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).message}\n`);
  process.exit(1);
});
