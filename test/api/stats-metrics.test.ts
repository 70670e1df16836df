import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createMetrics } from '../../src/metrics.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { seedStatsHistory } from '../helpers/stats-history.js';
import { testTemporal } from '../helpers/temporal.js';

/** Every `name{…} value` line of one metric. */
const lines = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));

describe('effectiveness series in /metrics', function () {
  let db: TestDatabase;

  before(async function () {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  it('per rule id only: runs, succeeded, verified, unverified and suppressed from the durable tables; deleted rules drop out', async function () {
    const { ruleId } = await seedStatsHistory(db.db);
    const temporal = await testTemporal();
    const logger = createLogger({ level: 'silent' });
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, METRICS_REFRESH_SECONDS: '0' });
    const metrics = createMetrics({ db: db.db, temporal: temporal.client, namespace: 'default', logger, processMetrics: false, refreshSeconds: 0 });
    const app = createApp({ config, db: db.db, temporal: temporal.client, logger, metrics }, allRoutes);
    const scrape = async () => {
      await metrics.settled();
      await app.request('/metrics');
      await metrics.settled();
      return (await app.request('/metrics')).text();
    };
    const text = await scrape();
    assert.deepEqual(lines(text, 'selfheal_rule_runs_total'), [`selfheal_rule_runs_total{rule_id="${ruleId}"} 4`]);
    assert.deepEqual(lines(text, 'selfheal_rule_runs_succeeded_total'), [`selfheal_rule_runs_succeeded_total{rule_id="${ruleId}"} 3`]);
    assert.deepEqual(lines(text, 'selfheal_rule_runs_verified_total'), [`selfheal_rule_runs_verified_total{rule_id="${ruleId}"} 2`]);
    assert.deepEqual(lines(text, 'selfheal_rule_runs_unverified_total'), [`selfheal_rule_runs_unverified_total{rule_id="${ruleId}"} 1`]);
    assert.deepEqual(lines(text, 'selfheal_rule_matches_suppressed_total'), [`selfheal_rule_matches_suppressed_total{rule_id="${ruleId}"} 3`]);

    await db.db.updateTable('rules').set({ deleted_at: new Date() }).where('id', '=', ruleId).execute();
    assert.deepEqual(lines(await scrape(), 'selfheal_rule_runs_total'), [], 'a deleted rule leaves no series behind');
  });
});
