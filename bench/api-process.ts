// A child process of the benchmark, so the load generator (which measures every latency) and the parts
// under test do not share an event loop, and each one's CPU time can be read on its own:
//   api    → the real API (startApiServer) configured from the environment, like `npm run server`
//   worker → the real main worker configured from the environment, like `npm run worker`
//   hello  → a Hono hello-world on @hono/node-server: the HTTP ceiling of this machine
//   trivial → a worker for the trivial baseline workflows and the same-shape floor on BENCH_TRIVIAL_TASK_QUEUE
// It reports ready (with its URL, if it serves HTTP) to the parent over IPC and stops on SIGTERM. The
// worker answers `{ type: 'status' }` messages with what it has in flight.
import { serve, type ServerType } from '@hono/node-server';
import { Worker } from '@temporalio/worker';
import { Hono } from 'hono';
import { fileURLToPath } from 'node:url';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { startApiServer } from '../src/server.js';
import { temporalTarget } from '../src/temporal/connection.js';
import { lazyTemporalClient } from '../src/temporal/native-client.js';
import { connectNative, installTemporalRuntime } from '../src/temporal/worker.js';
import { buildMainWorker } from '../src/worker.js';
import { shapeActivities } from './shape-activities.js';

export interface ChildReady {
  url: string;
}

/** The worker child's answer to `{ type: 'status' }`. */
export interface WorkerBusy {
  type: 'status';
  activations: number;
  activities: number;
  /** Workflows in the worker's sticky cache, and the cache's size (maxCachedWorkflows). */
  cached: number;
  maxCached: number;
}

async function startHello(): Promise<{ url: string; close: () => Promise<void> }> {
  const app = new Hono();
  app.get('/', (c) => c.text('Hello Hono!'));
  app.post('/', (c) => c.json({ status: 'accepted' }, 202));
  return new Promise((resolve) => {
    const server: ServerType = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info) =>
      resolve({ url: `http://127.0.0.1:${info.port}`, close: () => new Promise<void>((r) => server.close(() => r())) }),
    );
  });
}

async function startApi(): Promise<{ url: string; close: () => Promise<void> }> {
  const config = loadConfig(process.env);
  // Request logs go to stdout, which the parent discards: their cost is part of the figure.
  const logger = createLogger({ level: config.logLevel, name: 'selfheal-api' });
  const handle = await openDatabase({ url: config.database.url, dataDir: '', poolSize: config.database.poolSize });
  // As src/server.ts: the client over the SDK's native connection, its log lines through this logger.
  installTemporalRuntime(logger);
  const temporal = await lazyTemporalClient(temporalTarget(config, config.temporal.address ?? 'localhost:7233'));
  const api = await startApiServer({ config, db: handle.db, temporal, logger });
  return {
    url: api.url,
    close: async () => {
      await api.close();
      await temporal.connection.close();
      await handle.close();
    },
  };
}

async function startWorker(): Promise<{ url: string; close: () => Promise<void> }> {
  const config = loadConfig(process.env);
  const logger = createLogger({ level: config.logLevel, name: 'selfheal-worker' });
  installTemporalRuntime(logger);
  const handle = await openDatabase({ url: config.database.url, dataDir: '', poolSize: config.database.poolSize });
  const connection = await connectNative(temporalTarget(config, config.temporal.address ?? 'localhost:7233'));
  const worker = await buildMainWorker({ config, db: handle.db, logger, connection, extractors: {} });
  process.on('message', (m: { type?: string }) => {
    if (m?.type !== 'status') return;
    const s = worker.getStatus();
    const busy: WorkerBusy = {
      type: 'status',
      activations: s.numInFlightWorkflowActivations,
      activities: s.numInFlightActivities,
      cached: s.numCachedWorkflows,
      maxCached: worker.options.maxCachedWorkflows,
    };
    process.send?.(busy);
  });
  return runWorker(worker, () => connection.close(), () => handle.close());
}

/** Run `worker` until the parent stops this child; then let it drain and close what it used, in order. */
function runWorker(worker: Worker, ...after: (() => Promise<void>)[]): { url: string; close: () => Promise<void> } {
  const running = worker.run();
  return {
    url: '',
    close: async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      for (const close of after) await close();
    },
  };
}

async function startTrivialWorker(): Promise<{ url: string; close: () => Promise<void> }> {
  const config = loadConfig(process.env);
  installTemporalRuntime(createLogger({ level: 'warn', name: 'selfheal-bench-trivial' }));
  const connection = await connectNative(temporalTarget(config, config.temporal.address ?? 'localhost:7233'));
  // The main worker's slots (TEMPORAL_WORKER_*_SLOTS), so the baseline runs under the same limits.
  const slots = config.temporal.workerSlots;
  const worker = await Worker.create({
    connection,
    taskQueue: process.env.BENCH_TRIVIAL_TASK_QUEUE ?? 'bench-trivial',
    workflowsPath: fileURLToPath(new URL('./workflows/index.ts', import.meta.url)),
    // The same-shape floor's trivial activities (bench/shape-activities.ts).
    activities: shapeActivities,
    shutdownGraceTime: '10 seconds',
    maxConcurrentWorkflowTaskExecutions: slots.workflowTasks,
    maxConcurrentLocalActivityExecutions: slots.localActivities,
    maxConcurrentActivityTaskExecutions: slots.activities,
  });
  return runWorker(worker, () => connection.close());
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  const server =
    mode === 'hello' ? await startHello() : mode === 'worker' ? await startWorker() : mode === 'trivial' ? await startTrivialWorker() : await startApi();
  const ready: ChildReady = { url: server.url };
  process.send?.(ready);
  const stop = (): void => {
    void server.close().finally(() => process.exit(0));
    // The worker drains its in-flight tasks first (its shutdown grace time is 10 s).
    setTimeout(() => process.exit(0), mode === 'worker' || mode === 'trivial' ? 15_000 : 3000);
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench ${process.argv[2] ?? ''} server failed: ${(err as Error).message}\n`);
  process.exit(1);
});
