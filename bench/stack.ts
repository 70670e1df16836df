// Everything the benchmarks run against, on loopback: a Temporal dev server (or, with
// BENCH_TEMPORAL=postgres, a Temporal server on PostgreSQL: see temporal-postgres.ts), a fresh Postgres
// database (dropped at the end), the real main worker, the real API and a Hono hello-world each in a
// child process (as deployed: the load generator measuring latency shares no event loop with them), and
// an HTTP sink in this process that stands in for a notification endpoint.
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.js';
import { openDatabase, type DatabaseHandle } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { createLogger } from '../src/logger.js';
import { findTemporalCli, startDevServer, stopChild } from '../src/temporal/dev-server.js';
import { ensureSearchAttributes } from '../src/temporal/search-attributes.js';
import { installTemporalRuntime } from '../src/temporal/worker.js';
import type { ChildReady, WorkerBusy } from './api-process.js';
import { cpuSnapshot, type CpuSnapshot } from './cpu.js';
import { log } from './lib.js';
import { startPostgresTemporal } from './temporal-postgres.js';

export const WEBHOOK_SECRET = 'bench-webhook-secret-0123456789';
export const ADMIN_TOKEN = 'bench-admin-token-0123456789abcdef';
export const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface Sink {
  url: string;
  /** Arrival time (epoch ms) of the first request naming each incident id. */
  arrivals: Map<string, number>;
  close(): Promise<void>;
}

/** The Temporal server the bench runs against, whichever kind it is. */
export interface BenchTemporalServer {
  address: string;
  process: ChildProcess;
  /** Temporal's own database on the bench's Postgres (BENCH_TEMPORAL=postgres only). */
  databaseName?: string;
  stop(): Promise<void>;
}

export interface BenchStack {
  server: BenchTemporalServer;
  /** Which Temporal server, for the results' machine line. */
  temporalDescription: string;
  address: string;
  client: Client;
  native: NativeConnection;
  database: DatabaseHandle;
  databaseName: string;
  config: Config;
  /** The environment the API and worker children run with. */
  env: Record<string, string>;
  taskQueue: string;
  /**
   * The main worker in its own process; with BENCH_WORKERS=n, `child` is the first of n worker processes
   * on the same task queue, `busy()` adds up what all of them have in flight and the CPU figures count
   * all of them.
   */
  worker: { child: ChildProcess; children: ChildProcess[]; busy(): Promise<WorkerBusy>; nice: number };
  api: { url: string; child: ChildProcess };
  hello: { url: string; child: ChildProcess };
  sink: Sink;
  /** CPU counters of the stack's processes now (bench/cpu.ts). */
  cpu(): CpuSnapshot;
  stop(): Promise<void>;
}

const childScript = fileURLToPath(new URL('./api-process.ts', import.meta.url));

export async function startChild(mode: 'api' | 'hello' | 'worker' | 'trivial', env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = fork(childScript, [mode], {
    // BENCH_CHILD_NODE_OPTIONS (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof) to profile the children.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CHILD_NODE_OPTIONS?.split(' ').filter(Boolean) ?? [])],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} did not start within 60 s`)), 60_000);
    child.once('message', (m) => {
      clearTimeout(timer);
      resolve((m as ChildReady).url);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} exited (${code})`));
    });
  });
  return { url, child };
}

async function startSink(): Promise<Sink> {
  const arrivals = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const at = Date.now();
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { incident?: unknown };
        if (typeof body.incident === 'string' && !arrivals.has(body.incident)) arrivals.set(body.incident, at);
      } catch {
        // Not ours; answer anyway.
      }
      res.writeHead(204).end();
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/hook`,
    arrivals,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** BENCH_WORKER_NICE: the worker process's nice value (0, the default, to 19). */
function workerNice(): number {
  const raw = process.env.BENCH_WORKER_NICE || '0';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n > 19) throw new Error(`BENCH_WORKER_NICE must be an integer from 0 to 19, not ${raw}`);
  return n;
}

/** BENCH_WORKERS: how many main worker processes share the task queue (1, the default, to 8). */
function workerCount(): number {
  const raw = process.env.BENCH_WORKERS || '1';
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > 8) throw new Error(`BENCH_WORKERS must be an integer from 1 to 8, not ${raw}`);
  return n;
}

/** What all worker children have in flight, added up; the cache figures are the first one's. */
async function busyOfAll(children: ChildProcess[]): Promise<WorkerBusy> {
  const all = await Promise.all(children.map(askBusy));
  return { ...all[0]!, activations: all.reduce((n, b) => n + b.activations, 0), activities: all.reduce((n, b) => n + b.activities, 0) };
}

/** What the worker child has in flight, over IPC. */
function askBusy(child: ChildProcess): Promise<WorkerBusy> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.off('message', onMessage);
      reject(new Error('the worker did not answer a status request within 5 s'));
    }, 5000);
    const onMessage = (m: unknown): void => {
      if ((m as WorkerBusy)?.type !== 'status') return;
      clearTimeout(timer);
      child.off('message', onMessage);
      resolve(m as WorkerBusy);
    };
    child.on('message', onMessage);
    child.send({ type: 'status' });
  });
}

/**
 * BENCH_TEMPORAL=dev (the default): the Temporal CLI's dev server, SQLite in memory, one history shard.
 * BENCH_TEMPORAL=postgres: Temporal server on the bench's Postgres with BENCH_TEMPORAL_SHARDS (default 8)
 * history shards.
 */
async function startTemporal(databaseUrl: string): Promise<{ server: BenchTemporalServer; temporalDescription: string }> {
  const kind = process.env.BENCH_TEMPORAL || 'dev';
  if (kind === 'postgres') {
    const rawShards = process.env.BENCH_TEMPORAL_SHARDS || '8';
    const shards = Number(rawShards);
    if (!/^\d+$/.test(rawShards) || shards < 1) throw new Error(`BENCH_TEMPORAL_SHARDS must be a positive integer, not ${rawShards}`);
    const server = await startPostgresTemporal({ databaseUrl, shards, log });
    log(`${server.description} at ${server.address}`);
    return { server, temporalDescription: server.description };
  }
  if (kind !== 'dev') throw new Error(`BENCH_TEMPORAL must be dev or postgres, not ${kind}`);
  const cli = await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH, provision: true, log });
  if (!cli) throw new Error('Temporal CLI not found: set TEMPORAL_CLI_PATH');
  const server = await startDevServer({ executable: cli });
  log(`Temporal dev server at ${server.address}`);
  const version = spawnSync(cli, ['--version'], { encoding: 'utf8' });
  return { server, temporalDescription: `${version.stdout?.trim() || 'Temporal dev server'} (SQLite in memory, 1 history shard)` };
}

export async function startBenchStack(): Promise<BenchStack> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    while (stops.length > 0) await stops.pop()!().catch((err: unknown) => log(`teardown: ${(err as Error).message}`));
  };
  try {
    const logger = createLogger({ level: process.env.BENCH_LOG_LEVEL ?? 'warn', name: 'selfheal-bench' });
    installTemporalRuntime(logger);
    const base = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
    const { server, temporalDescription } = await startTemporal(base);
    stops.push(() => server.stop());

    const databaseName = `selfheal_bench_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const admin = async (sql: string): Promise<void> => {
      const c = new pg.Client({ connectionString: base });
      await c.connect();
      try {
        await c.query(sql);
      } finally {
        await c.end();
      }
    };
    await admin(`CREATE DATABASE ${databaseName}`);
    stops.push(() => admin(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`));
    const url = new URL(base);
    url.pathname = `/${databaseName}`;
    const database = await openDatabase({ url: url.toString(), dataDir: '', poolSize: 10 });
    stops.push(() => database.close());
    await migrateToLatest(database.db);
    log(`database ${databaseName} migrated`);

    const connection = await Connection.connect({ address: server.address });
    stops.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const client = new Client({ connection, namespace: 'default' });
    const native = await NativeConnection.connect({ address: server.address });
    stops.push(() => native.close());

    const taskQueue = `bench-${randomBytes(4).toString('hex')}`;
    const env: Record<string, string> = {
      NODE_ENV: 'production',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'info',
      TEMPORAL_ADDRESS: server.address,
      TEMPORAL_TASK_QUEUE: taskQueue,
      PAGERDUTY_WEBHOOK_SECRETS: WEBHOOK_SECRET,
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: url.toString(),
      // The webhook→action figure's notify.webhook sink listens on loopback, which rules may not reach unless allowed.
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
    };
    // The worker's slots as the operator would set them (TEMPORAL_WORKER_*_SLOTS); the API child ignores them.
    for (const name of ['TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS', 'TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS', 'TEMPORAL_WORKER_ACTIVITY_SLOTS']) {
      const value = process.env[name];
      if (value) env[name] = value;
    }
    const config = loadConfig(env);
    const children: ChildProcess[] = [];
    for (let n = 0; n < workerCount(); n++) {
      const workerChild = await startChild('worker', { ...env, LOG_LEVEL: 'warn' });
      stops.push(() => stopChild(workerChild.child, 20_000));
      children.push(workerChild.child);
    }
    const worker = { child: children[0]!, children, busy: () => busyOfAll(children), nice: workerNice() };
    // BENCH_WORKER_NICE lowers the worker's CPU priority, an experiment: it did not help the ack path
    // (docs/performance.md, "What did not help").
    for (const c of children) if (worker.nice !== 0 && c.pid) os.setPriority(c.pid, worker.nice);

    const api = await startChild('api', env);
    stops.push(() => stopChild(api.child, 5000));
    const hello = await startChild('hello', {});
    stops.push(() => stopChild(hello.child, 5000));
    const sink = await startSink();
    stops.push(() => sink.close());
    log(`API at ${api.url}, hello-world at ${hello.url}, sink at ${sink.url}`);

    return { server, temporalDescription, address: server.address, client, native, database, databaseName, config, env, taskQueue, worker, api, hello, sink, stop: stopAll,
      cpu: () => cpuSnapshot({ temporal: server.process.pid, api: api.child.pid, worker: children.map((c) => c.pid) }) };
  } catch (err) {
    await stopAll();
    throw err;
  }
}
