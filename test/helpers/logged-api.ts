// A real API server for CLI tests: a fresh database, the shared Temporal dev server, the admin token and
// whatever configuration the test adds, with its log lines captured (the access log says which requests
// reached the API and how they were answered).
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { ADMIN_TOKEN } from './stack.js';
import { testTemporal } from './temporal.js';

export interface LogLine {
  msg: string;
  status?: number;
  req?: { method: string; path: string; headers?: Record<string, string> };
}

export interface LoggedApi {
  server: ApiServer;
  db: TestDatabase;
  /** Every line the API logged, parsed. */
  logLines: LogLine[];
  /** The access log's lines. */
  requests(): LogLine[];
  /** The environment of the CLI calling this server with `token`. */
  as(token: string): Record<string, string>;
  close(): Promise<void>;
}

export async function startLoggedApi(env: Record<string, string>): Promise<LoggedApi> {
  const db = await createTestDatabase();
  const temporal = await testTemporal();
  const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, ...env });
  const logLines: LogLine[] = [];
  const destination = { write: (line: string) => void logLines.push(JSON.parse(line) as LogLine) };
  const server = await startApiServer({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'info', destination }) });
  return {
    server,
    db,
    logLines,
    requests: () => logLines.filter((l) => l.msg === 'request'),
    as: (token) => ({ SELFHEAL_URL: server.url, SELFHEAL_TOKEN: token }),
    async close() {
      await server.close();
      await db.close();
    },
  };
}
