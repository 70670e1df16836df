import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { findTemporalCli, startDevServer, type DevServer } from '../../src/temporal/dev-server.js';
import { lazyTemporalClient } from '../../src/temporal/native-client.js';
import { ensureSearchAttributes } from '../../src/temporal/search-attributes.js';
import { installTemporalRuntime } from '../../src/temporal/worker.js';
import { createLogger } from '../../src/logger.js';
import { onTeardown } from './shared.js';

export interface TestTemporal {
  server: DevServer;
  address: string;
  client: Client;
  /** The client the API gets in production (src/temporal/native-client.ts): startStack's API uses it. */
  apiClient: Client;
  nativeConnection: NativeConnection;
}

let shared: Promise<TestTemporal> | undefined;

/** The real Temporal dev server (Temporal CLI) on free ports, shared by the whole run. */
export function testTemporal(): Promise<TestTemporal> {
  shared ??= start();
  return shared;
}

export async function temporalCliForTests(): Promise<string> {
  const cli = await findTemporalCli({ cliPath: process.env.TEMPORAL_CLI_PATH, provision: true, log: (m) => process.stderr.write(`${m}\n`) });
  if (!cli) throw new Error('Temporal CLI not found: run .ci/run once, set TEMPORAL_CLI_PATH, or install Go so it can be built');
  return cli;
}

async function start(): Promise<TestTemporal> {
  installTemporalRuntime(createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const executable = await temporalCliForTests();
  // A SQLite file rather than the dev server's in-memory database: Temporal 1.29's SQLite driver can
  // lose its single in-memory connection to a cancelled query (temporalio/temporal#3784, #8017), after
  // which every call fails ("GetNamespace operation failed. Error interrupted (9)") until the process
  // ends; a CI run here lost its last 104 tests to it. From a file, a server restarted on its port
  // (superviseServer) carries on with every workflow, schedule and search attribute it had.
  const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-test-temporal-'));
  const dbFilename = path.join(dir, 'temporal.db');
  let server = await startDevServer({ executable, dbFilename, sqlitePragmas: FAST_SQLITE });
  const connection = await Connection.connect({ address: server.address, connectTimeout: 90_000 });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const apiClient = await lazyTemporalClient({ address: server.address, namespace: 'default' });
  const stopSupervising = superviseServer(connection, async () => {
    await server.stop();
    server = await startDevServer({ executable, dbFilename, sqlitePragmas: FAST_SQLITE, port: server.port });
  });
  onTeardown(async () => {
    stopSupervising();
    await apiClient.connection.close();
    await nativeConnection.close();
    await connection.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return {
    get server() {
      return server;
    },
    address: server.address,
    client,
    apiClient,
    nativeConnection,
  };
}

/**
 * A dev server of the caller's own, with `dynamicConfig` (a lower history size limit, say), for the rest of
 * the run: a test that needs Temporal's limits where it can reach them. Not supervised (testTemporal is).
 */
export async function privateTestTemporal(dynamicConfig: Record<string, string | number | boolean>): Promise<TestTemporal> {
  installTemporalRuntime(createLogger({ level: process.env.TEST_LOG_LEVEL ?? 'silent' }));
  const executable = await temporalCliForTests();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-test-temporal-'));
  const server = await startDevServer({ executable, dbFilename: path.join(dir, 'temporal.db'), sqlitePragmas: FAST_SQLITE, dynamicConfig });
  const connection = await Connection.connect({ address: server.address, connectTimeout: 90_000 });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const apiClient = await lazyTemporalClient({ address: server.address, namespace: 'default' });
  onTeardown(async () => {
    await apiClient.connection.close();
    await nativeConnection.close();
    await connection.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  return { server, address: server.address, client, apiClient, nativeConnection };
}

/**
 * A test server's file need not survive a power cut, only its process being killed: a write-ahead log
 * and no fsync per commit (SQLite keeps such a file whole when the process dies, not when the host does).
 */
export const FAST_SQLITE = { journal_mode: 'WAL', synchronous: 'OFF' };

export interface SupervisorOptions {
  everyMs?: number;
  deadlineMs?: number;
  /** Failed asks in a row before a restart. */
  failures?: number;
}

/**
 * Asks the server about its namespace every few seconds; after three failures in a row (a server whose
 * database stopped answering) restarts it on the same port. Clients and workers reconnect on their own.
 * Returns the function that stops the supervision.
 */
export function superviseServer(connection: Connection, restart: () => Promise<void>, opts: SupervisorOptions = {}): () => void {
  const { everyMs = 5_000, deadlineMs = 20_000, failures: allowed = 3 } = opts;
  let failures = 0;
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    connection
      .withDeadline(Date.now() + deadlineMs, () => connection.workflowService.describeNamespace({ namespace: 'default' }))
      .then(
        () => {
          failures = 0;
        },
        async (err: unknown) => {
          if (++failures < allowed) return;
          failures = 0;
          process.stderr.write(`Temporal dev server stopped answering (${(err as Error).message}); restarting it on its port\n`);
          await restart();
        },
      )
      .catch((err: unknown) => process.stderr.write(`Temporal dev server restart failed: ${(err as Error).message}\n`))
      .finally(() => {
        busy = false;
      });
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
