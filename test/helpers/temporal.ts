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
  const server = await startDevServer({ executable: await temporalCliForTests() });
  const connection = await Connection.connect({ address: server.address });
  await ensureSearchAttributes(connection, 'default');
  const client = new Client({ connection, namespace: 'default' });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const apiClient = await lazyTemporalClient({ address: server.address, namespace: 'default' });
  onTeardown(async () => {
    await apiClient.connection.close();
    await nativeConnection.close();
    await connection.close();
    await server.stop();
  });
  return { server, address: server.address, client, apiClient, nativeConnection };
}
