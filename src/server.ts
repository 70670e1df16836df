import { serve, type ServerType } from '@hono/node-server';
import { pathToFileURL } from 'node:url';
import { createApp, type AppDeps } from './api/app.js';
import { allRoutes } from './api/routes/index.js';
import { temporalTarget } from './temporal/connection.js';
import { configOrExit, lazyTemporalClient, loadExtractors, loggerFor, onShutdown, openMigratedDatabase } from './runtime.js';

export interface ApiServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Serve the API on config.host:port (port 0 → a free port). */
export async function startApiServer(deps: AppDeps): Promise<ApiServer> {
  const app = createApp(deps, allRoutes);
  return new Promise((resolve) => {
    const server: ServerType = serve({ fetch: app.fetch, port: deps.config.port, hostname: deps.config.host }, (info) => {
      const host = deps.config.host === '0.0.0.0' || deps.config.host === '127.0.0.1' ? 'localhost' : deps.config.host;
      resolve({
        url: `http://${host}:${info.port}`,
        port: info.port,
        close: () =>
          new Promise<void>((r) => {
            server.close(() => r());
            (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      });
    });
  });
}

async function main(): Promise<void> {
  const config = configOrExit('api');
  const logger = loggerFor(config, 'selfheal-api');
  if (config.pagerduty.webhookSecrets.length === 0) {
    if (config.pagerduty.webhookAllowUnsigned) logger.warn('PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true and no PAGERDUTY_WEBHOOK_SECRETS: UNSIGNED webhooks are accepted (development only)');
    else logger.warn('PAGERDUTY_WEBHOOK_SECRETS is not set: the webhook refuses every delivery (503) until it is');
  }
  if (config.nodeEnv === 'production' && config.metricsToken === undefined) {
    logger.warn('METRICS_TOKEN is not set: GET /metrics answers anyone who reaches the API; keep it off the public listener or set METRICS_TOKEN');
  }
  const { db, close } = await openMigratedDatabase(config, logger);
  const address = config.temporal.address ?? 'localhost:7233';
  const temporal = await lazyTemporalClient(temporalTarget(config, address));
  const api = await startApiServer({ config, db, temporal, logger, extractors: await loadExtractors(config.extractorsFile) });
  logger.info({ url: api.url, temporal: address }, 'API listening');
  onShutdown(logger, async () => {
    await api.close();
    await temporal.connection.close();
    await close();
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`server failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
