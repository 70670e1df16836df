import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seedStatsHistory, STATS_RANGE } from '../helpers/stats-history.js';
import { selfheal } from '../helpers/cli.js';

// `selfheal rules stats` as an SRE runs it (the real launcher in a child process) against the real API over
// the seeded history whose answers are known (test/helpers/stats-history.ts).
const TOKEN = 'cli-stats-admin-token-0123456789';

describe('selfheal rules stats', function () {
  let db: TestDatabase;
  let server: ApiServer;
  let env: Record<string, string>;
  const range = ['--since', STATS_RANGE.since, '--until', STATS_RANGE.until];

  before(async function () {
    db = await createTestDatabase();
    await seedStatsHistory(db.db);
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    server = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) });
    env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: TOKEN };
  });
  after(async () => {
    await server?.close();
    await db?.close();
  });

  it('one rule by name: rates, labels, medians with and without it, suppressions', async function () {
    const run = await selfheal(['rules', 'stats', 'restart-replica', ...range], env);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^rule restart-replica \(rule-stats-1\); live since 2026-03-20T00:00:00.000Z, 2026-03-01T00:00:00.000Z → 2026-04-01T00:00:00.000Z$/);
    assert.equal(lines[1], '  runs 4 (finished 4, succeeded 3: 75%); verified 2 of 3 checked (67%), pending 0, not applicable 0; dry runs 1');
    assert.equal(lines[2], '  incidents: auto-remediated 2, assisted 2, human 0, open 0 (auto-remediated share 50%)');
    assert.equal(lines[3], '  median time to resolve: with automation 12m 30s (4 incidents), without 1h (3)');
    assert.equal(lines[4], '  suppressed: flapping 2, rate limit 1');
    assert.equal(lines[5], '  flapping targets: db-7 (2)');
  });

  it('all rules, with a line per rule; --json gives the API answer', async function () {
    const run = await selfheal(['rules', 'stats', ...range], env);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^all rules, /);
    assert.match(run.stdout, /^ {2}median time to resolve: with automation 12m 30s \(4 incidents\), without 45m \(4\)$/m);
    assert.match(run.stdout, /^RULE\tRUNS\tSUCCESS\tVERIFIED\tAUTO\tSUPPRESSED\nrestart-replica\t4\t75%\t67%\t50%\t3$/m);
    const json = await selfheal(['rules', 'stats', '--json', ...range], env);
    assert.equal(json.code, 0, json.stderr);
    assert.deepEqual(JSON.parse(json.stdout).incidents, { 'auto-remediated': 2, assisted: 2, human: 4, open: 3 });
  });

  it('--since takes a duration back from now (the default is 30d)', async function () {
    for (const [args, days] of [[['--since', '90d'], 90], [[], 30]] as const) {
      const run = await selfheal(['rules', 'stats', 'restart-replica', '--json', ...args], env);
      assert.equal(run.code, 0, run.stderr);
      const { range } = JSON.parse(run.stdout) as { range: { since: string; until: string } };
      const span = (Date.parse(range.until) - Date.parse(range.since)) / 86_400_000;
      assert.ok(Math.abs(span - days) < 0.01, `${args.join(' ') || 'default'}: ${span} days`);
    }
  });

  it('says what is wrong with a bad --since, and an unknown rule', async function () {
    const bad = await selfheal(['rules', 'stats', '--since', 'last week'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /--since must be a duration such as 30d or 12h, or an ISO time \(got "last week"\)/);
    const unknown = await selfheal(['rules', 'stats', 'no-such-rule'], env);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /no rule named or with id "no-such-rule"/);
  });
});
