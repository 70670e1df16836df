// The real API app in process over a fresh test database, with one rule saved through it (a note action;
// schedules stubbed): for tests that plant rows under a rule and read them back through the API.
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { stubScheduleClient } from './schedule-stub.js';

export interface RuleApp {
  db: TestDatabase;
  app: ReturnType<typeof createApp>;
  ruleId: string;
}

/** A database, the app with bootstrap admin token `admin`, and rule `name` saved by it. */
export async function ruleApp(admin: string, name: string): Promise<RuleApp> {
  const db = await createTestDatabase();
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: admin, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
  const app = createApp({ config, db: db.db, temporal: stubScheduleClient().temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
  const res = await app.request('/api/rules', {
    method: 'POST',
    headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name, actions: [{ type: 'pagerduty.note', content: 'hi' }] }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return { db, app, ruleId: ((await res.json()) as { id: string }).id };
}
