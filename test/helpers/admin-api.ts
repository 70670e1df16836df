// The real API app in process (no HTTP listener), called with the bootstrap admin token: for tests that
// drive the API against their own database and a real Temporal client, without a whole stack.
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from './db.js';
import { ADMIN_TOKEN } from './stack.js';

export type AdminApi = (method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Response>;

/** `api(method, path, body?)` as the admin, JSON in; Temporal calls go to `temporal` on `taskQueue`. */
export function adminApi(db: TestDatabase, temporal: Client, taskQueue: string): AdminApi {
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', TEMPORAL_TASK_QUEUE: taskQueue });
  const app = createApp({ config, db: db.db, temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  return (method, path, body, headers = {}) =>
    Promise.resolve(app.request(path, { method, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) }));
}
