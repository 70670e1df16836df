// A child process of the benchmark serving HTTP, so the load generator and the server under test do not
// share an event loop:
//   api   → the real API (startApiServer) configured from the environment, like `npm run server`
//   hello → a Hono hello-world on @hono/node-server: the HTTP ceiling of this machine
// It reports its URL to the parent over IPC and stops on SIGTERM.
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { loadConfig } from '../src/config.js';
import { openDatabase } from '../src/db/connect.js';
import { createLogger } from '../src/logger.js';
import { startApiServer } from '../src/server.js';
import { connectClient, temporalTarget } from '../src/temporal/connection.js';

export interface ChildReady {
  url: string;
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
  const temporal = await connectClient(temporalTarget(config, config.temporal.address ?? 'localhost:7233'));
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

async function main(): Promise<void> {
  const mode = process.argv[2];
  const server = mode === 'hello' ? await startHello() : await startApi();
  const ready: ChildReady = { url: server.url };
  process.send?.(ready);
  const stop = (): void => {
    void server.close().finally(() => process.exit(0));
    setTimeout(() => process.exit(0), 3000);
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench ${process.argv[2] ?? ''} server failed: ${(err as Error).message}\n`);
  process.exit(1);
});
