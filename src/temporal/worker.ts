import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { WorkerSlots } from '../config.js';
import type { Logger } from '../logger.js';
import { tlsOptions, type TemporalTarget } from './connection.js';

const workflowsPath = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;
/** Bundle the workflow code once per process (it takes seconds) and reuse it for every worker. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  return bundle;
}

const quietBundlerLogger = new DefaultLogger('WARN');

let runtimeInstalled = false;
/** Route the Temporal SDK's own logs into our logger. Call once, before any worker or native connection. */
export function installTemporalRuntime(logger: Logger, opts: { level?: LogLevel; metricsAddress?: string | undefined } = {}): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = opts.level ?? 'WARN';
  const sdk = logger.child({ component: 'temporal-sdk' });
  Runtime.install({
    telemetryOptions: {
      // Native (core) logs go through the same logger as everything else, instead of straight to the console.
      logging: { filter: { core: level, other: 'ERROR' }, forward: {} },
      // Worker metrics (task slots, poll latency, activity and workflow task durations) for Prometheus.
      ...(opts.metricsAddress ? { metrics: { prometheus: { bindAddress: opts.metricsAddress } } } : {}),
    },
    logger: new DefaultLogger(level, (entry) => {
      const meta = entry.meta ?? {};
      const lvl = entry.level.toLowerCase();
      const fn = lvl === 'error' ? sdk.error : lvl === 'warn' ? sdk.warn : lvl === 'info' ? sdk.info : sdk.debug;
      fn.call(sdk, meta, entry.message);
    }),
  });
}

export async function connectNative(target: TemporalTarget): Promise<NativeConnection> {
  const tls = await tlsOptions(target);
  return NativeConnection.connect({
    address: target.address,
    ...(tls ? { tls } : {}),
    ...(target.apiKey ? { apiKey: target.apiKey } : {}),
  });
}

export async function createMainWorker(opts: {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  activities: object;
  identity?: string;
  slots?: WorkerSlots;
}): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: opts.activities,
    ...(opts.identity ? { identity: opts.identity } : {}),
    shutdownGraceTime: '10 seconds',
    ...(opts.slots
      ? {
          maxConcurrentWorkflowTaskExecutions: opts.slots.workflowTasks,
          maxConcurrentLocalActivityExecutions: opts.slots.localActivities,
          maxConcurrentActivityTaskExecutions: opts.slots.activities,
        }
      : {}),
  });
}

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
