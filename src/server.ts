import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { serve } from '@hono/node-server';
import { pathToFileURL } from 'node:url';
import { createApp, type AppDeps } from './api/app.js';
import { allRoutes } from './api/routes/index.js';
import { openDestinationLists } from './config.js';
import { temporalTarget } from './temporal/connection.js';
import { configOrExit, exitOnFatalError, loadExtractors, loggerFor, onShutdown, openMigratedDatabase } from './runtime.js';
import { lazyTemporalClient } from './temporal/native-client.js';
import { installTemporalRuntime } from './temporal/worker.js';

/**
 * How long a stopping API lets requests in flight finish before it closes their connections. Below the
 * Helm chart's terminationGracePeriodSeconds minus its preStop sleep (30 - 5 s; test/unit/helm-chart.test.ts
 * checks it), and above what a request waits on Temporal (4 s for a webhook's signalWithStart, 10 s deadline
 * for a schedule change, which then answers 503 itself).
 */
export const API_DRAIN_SECONDS = 10;

export interface ApiServer {
  url: string;
  port: number;
  /**
   * Graceful stop: refuse new connections at once, close idle keep-alive connections, let requests in flight
   * finish (their answers carry `Connection: close`) for up to `drainMs`, then close whatever is left.
   * Resolves when every connection is closed.
   */
  close(drainMs?: number): Promise<void>;
}

/**
 * How long a client has to send a whole request, headers and body (Node's `requestTimeout`, 300 s by
 * default), and its headers alone (`headersTimeout`). Some bodies are read before anyone is authenticated
 * (the webhook's 256 KiB before its signature is checked, the approval link's form, chunked uploads): a
 * client that sent most of one and stalled held those bytes for five minutes; now it is answered 408 and its
 * connection closed after a minute at most (checked every 5 s). A minute sends the largest body, 4 MiB, at
 * 0.6 Mbit/s. What the server then takes to answer is not bounded here (a backtest runs 30 s).
 */
export const REQUEST_RECEIVE_SECONDS = 60;
const HEADERS_RECEIVE_SECONDS = 20;

/** Serve the API on config.host:port (port 0 → a free port). `receiveTimeoutMs`: REQUEST_RECEIVE_SECONDS, for tests. */
export async function startApiServer(deps: AppDeps, opts: { receiveTimeoutMs?: number } = {}): Promise<ApiServer> {
  const app = createApp(deps, allRoutes);
  const receiveMs = opts.receiveTimeoutMs ?? REQUEST_RECEIVE_SECONDS * 1000;
  const serverOptions = {
    requestTimeout: receiveMs,
    headersTimeout: Math.min(receiveMs, HEADERS_RECEIVE_SECONDS * 1000),
    connectionsCheckingInterval: Math.min(5000, Math.max(100, Math.floor(receiveMs / 2))),
  };
  return new Promise((resolve) => {
    const server = serve({ fetch: app.fetch, port: deps.config.port, hostname: deps.config.host, serverOptions }, (info) => {
      const host = deps.config.host === '0.0.0.0' || deps.config.host === '127.0.0.1' ? 'localhost' : deps.config.host;
      resolve({ url: `http://${host}:${info.port}`, port: info.port, close: closer(server as Server, deps.logger) });
    });
  });
}

/**
 * Node's server.close() stops listening and closes idle connections, but a keep-alive connection whose
 * request is in flight would stay open after its answer until the keep-alive timeout, and one that never
 * finishes would hold the process forever. So the answers of requests in flight, and of requests that
 * still arrive on open connections, close their connection; past the bound every connection is cut.
 */
function closer(server: Server, logger: AppDeps['logger']): (drainMs?: number) => Promise<void> {
  const inFlight = new Set<ServerResponse>();
  let draining = false;
  server.on('request', (_req: IncomingMessage, res: ServerResponse) => {
    if (draining) res.setHeader('connection', 'close');
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
  });
  let closed: Promise<void> | undefined;
  return (drainMs = API_DRAIN_SECONDS * 1000) => {
    closed ??= new Promise<void>((resolve) => {
      draining = true;
      for (const res of inFlight) if (!res.headersSent) res.setHeader('connection', 'close');
      if (inFlight.size > 0) logger.info({ requests: inFlight.size, drainSeconds: drainMs / 1000 }, 'API stopping: letting requests in flight finish');
      const cut = setTimeout(() => {
        logger.warn({ requests: inFlight.size }, 'API stopping: requests still in flight after the drain bound; closing their connections');
        server.closeAllConnections();
      }, drainMs);
      server.close(() => {
        clearTimeout(cut);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closed;
  };
}

async function main(): Promise<void> {
  const config = configOrExit('api');
  const logger = loggerFor(config, 'selfheal-api');
  exitOnFatalError(logger);
  if (config.pagerduty.webhookSecrets.length === 0) {
    if (config.pagerduty.webhookAllowUnsigned) logger.warn('PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED=true and no PAGERDUTY_WEBHOOK_SECRETS: UNSIGNED webhooks are accepted (development only)');
    else logger.warn('PAGERDUTY_WEBHOOK_SECRETS is not set: the webhook refuses every delivery (503) until it is');
  }
  if (config.nodeEnv === 'production' && config.metricsToken === undefined) {
    logger.warn('METRICS_TOKEN is not set (or empty): GET /metrics answers anyone who reaches the API; keep it off the public listener or set METRICS_TOKEN');
  }
  const open = openDestinationLists(config);
  if (config.nodeEnv === 'production' && open.length > 0) {
    logger.warn({ unset: open }, `${open.join(', ')} not set: rules may send incident details to any such destination (docs/security.md, Destination lists)`);
  }
  const { db, close } = await openMigratedDatabase(config, logger);
  const address = config.temporal.address ?? 'localhost:7233';
  // The client's connection is the SDK's native one: its log lines go through this logger.
  installTemporalRuntime(logger);
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
