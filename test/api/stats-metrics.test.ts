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
    const { ruleId, ids } = await seedStatsHistory(db.db);
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

    // A run going: its first action succeeded, its second waits for an approval. Judged while it went, it
    // counted as succeeded, then dropped out when the approver rejected the second (Prometheus reads a drop as
    // a reset). It counts once it has ended (its breaker outcome, the last thing a run writes), and never goes.
    const succeeded = async () => Number(lines(await scrape(), 'selfheal_rule_runs_succeeded_total')[0]?.split(' ')[1]);
    const seen = [await succeeded()];
    const run = async (incident: string, event: string) =>
      String(
        (
          await db.db
            .insertInto('rule_matches')
            .values({ incident_id: incident, event_id: event, rule_id: ruleId, rule_version: 2, rule_name: 'restart-replica', explanation: '{}', decision: 'run', target: 'db-9', matched_at: new Date() })
            .returning('id')
            .executeTakeFirstOrThrow()
        ).id,
      );
    const action = (matchId: string, i: number, status: string) => ({
      id: `${matchId}:a${i}`,
      idempotency_key: `${matchId}:a${i}`,
      incident_id: ids.W1!,
      match_id: matchId,
      rule_id: ruleId,
      rule_version: 2,
      action_index: i,
      action_id: `a${i}`,
      action_type: 'script.ssh',
      status,
      started_at: new Date(),
      finished_at: status === 'awaiting_approval' ? null : new Date(),
    });
    const ended = (matchId: string) => db.db.updateTable('rule_matches').set({ breaker_outcome: JSON.stringify({ breaker: 'closed', opened: false, failures: 1, threshold: 5 }) }).where('id', '=', matchId).execute();
    const rejected = await run(ids.W1!, 'E-going-1');
    await db.db.insertInto('action_runs').values([action(rejected, 0, 'succeeded'), action(rejected, 1, 'awaiting_approval')]).execute();
    seen.push(await succeeded());
    await db.db.updateTable('action_runs').set({ status: 'rejected', finished_at: new Date() }).where('id', '=', `${rejected}:a1`).execute();
    seen.push(await succeeded());
    await ended(rejected);
    seen.push(await succeeded());
    // A run whose every action succeeded counts once it has ended.
    const good = await run(ids.W1!, 'E-going-2');
    await db.db.insertInto('action_runs').values([action(good, 0, 'succeeded'), action(good, 1, 'succeeded')]).execute();
    seen.push(await succeeded());
    await ended(good);
    seen.push(await succeeded());
    assert.deepEqual(seen, [3, 3, 3, 3, 3, 4]);

    await db.db.updateTable('rules').set({ deleted_at: new Date() }).where('id', '=', ruleId).execute();
    assert.deepEqual(lines(await scrape(), 'selfheal_rule_runs_total'), [], 'a deleted rule leaves no series behind');
  });
});
