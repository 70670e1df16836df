import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { seedStatsHistory, STATS_RANGE } from '../helpers/stats-history.js';
import { testTemporal } from '../helpers/temporal.js';

describe('effectiveness statistics API against a seeded history', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let ruleId: string;
  let ids: Record<string, string>;
  const get = (path: string, token = ADMIN_TOKEN) => app.request(path, { headers: { authorization: `Bearer ${token}` } });
  const range = `since=${STATS_RANGE.since}&until=${STATS_RANGE.until}`;
  const json = async (path: string) => {
    const res = await get(path);
    assert.equal(res.status, 200, await res.clone().text());
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    return (await res.json()) as any;
  };

  before(async function () {
    db = await createTestDatabase();
    const temporal = await testTemporal();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address });
    app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    ({ ruleId, ids } = await seedStatsHistory(db.db));
  });
  after(async () => db?.close());

  it("a rule's runs, rates, suppressions, labels and time to resolve with and without it", async function () {
    const s = await json(`/api/rules/${ruleId}/stats?${range}`);
    assert.equal(s.rule.liveSince, '2026-03-20T00:00:00.000Z', 'live from the first version saved enabled and not in dry run');
    assert.deepEqual([s.runs, s.finishedRuns, s.succeededRuns, s.successRate], [4, 4, 3, 0.75]);
    assert.deepEqual(s.verification, { verified: 2, unverified: 1, pending: 0, notApplicable: 0 });
    assert.equal(s.verifiedRate, 2 / 3);
    assert.equal(s.dryRuns, 1);
    assert.deepEqual(s.suppressed, [{ policy: 'flapping', count: 2 }, { policy: 'rate limit', count: 1 }]);
    assert.deepEqual(s.flappingTargets, [{ target: 'db-7', count: 2 }]);
    assert.deepEqual(s.incidents, { 'auto-remediated': 2, assisted: 2, human: 0, open: 0 });
    assert.equal(s.autoRemediatedShare, 0.5);
    // With: W1 300 s, W2 1200 s, W3 2400 s, W4 180 s. Without: B1 3600 s, B2 7200 s (before it was live), D1 1800 s (dry run).
    assert.deepEqual(s.timeToResolve.withAutomation, { count: 4, medianSeconds: 750, histogram: [0, 2, 0, 1, 1, 0, 0, 0, 0, 0] });
    assert.deepEqual(s.timeToResolve.withoutAutomation, { count: 3, medianSeconds: 3600, histogram: [0, 0, 0, 1, 1, 1, 0, 0, 0, 0] });
    assert.deepEqual(s.timeToResolve.bucketsSeconds, [60, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400]);
    assert.deepEqual(s.daily, [
      { day: '2026-03-21', runs: 1, verified: 1 },
      { day: '2026-03-22', runs: 1, verified: 0 },
      { day: '2026-03-23', runs: 1, verified: 0 },
      { day: '2026-03-24', runs: 1, verified: 1 },
    ]);
    assert.equal(s.truncated, false);
  });

  it('overall: every incident of the range labelled, automation against the rest, the rule in the table', async function () {
    const s = await json(`/api/stats?${range}`);
    assert.deepEqual(s.incidents, { 'auto-remediated': 2, assisted: 2, human: 4, open: 3 });
    assert.equal(s.autoRemediatedShare, 0.5);
    assert.deepEqual([s.runs, s.successRate, s.verifiedRate], [4, 0.75, 2 / 3]);
    assert.equal(s.timeToResolve.withAutomation.medianSeconds, 750);
    // B1 3600, B2 7200, D1 1800, X1 100 (S1–S3 are open, OLD is before the range).
    assert.deepEqual([s.timeToResolve.withoutAutomation.count, s.timeToResolve.withoutAutomation.medianSeconds], [4, 2700]);
    assert.deepEqual(s.rules, [{ id: ruleId, name: 'restart-replica', runs: 4, successRate: 0.75, verifiedRate: 2 / 3, autoRemediatedShare: 0.5, suppressed: 3 }]);
  });

  it('a narrower range counts only what happened in it', async function () {
    const s = await json(`/api/rules/${ruleId}/stats?since=2026-03-22T00:00:00Z&until=2026-03-24T00:00:00Z`);
    assert.deepEqual([s.runs, s.successRate, s.verifiedRate, s.autoRemediatedShare], [2, 0.5, 0, 0]);
    assert.deepEqual(s.timeToResolve.withoutAutomation.count, 0, 'the rule was live all along: nothing to compare with');
  });

  it('each incident carries its label in the incident API', async function () {
    const label = async (name: string) => (await json(`/api/incidents/${ids[name]}`)).label;
    assert.equal((await label('W1')).label, 'auto-remediated');
    assert.equal((await label('W4')).label, 'auto-remediated', 'our own resolve is not a person acting');
    assert.match((await label('W2')).reason, /incident\.annotated/);
    assert.equal((await label('W3')).label, 'assisted');
    assert.equal((await label('B1')).label, 'human');
    assert.deepEqual([(await label('S1')).label, (await label('S1')).final], ['human', false]);
    const list = await json('/api/incidents?limit=200');
    const byId = new Map<string, { label: { label: string } }>(list.items.map((i: { id: string; label: { label: string } }) => [i.id, i]));
    assert.equal(byId.get(ids.W1!)!.label.label, 'auto-remediated');
    assert.equal(byId.get(ids.W2!)!.label.label, 'assisted');
    assert.equal(byId.get(ids.X1!)!.label.label, 'human');
  });

  it('refuses a bad or unbounded range (400 naming since), an unknown rule (404) and anonymous callers (401)', async function () {
    for (const q of ['since=2026-03-10T00:00:00Z&until=2026-03-01T00:00:00Z', 'since=2020-01-01T00:00:00Z&until=2026-01-01T00:00:00Z', 'since=yesterday']) {
      const res = await get(`/api/stats?${q}`);
      assert.equal(res.status, 400, q);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.deepEqual(((await res.json()) as { errors: { path: string }[] }).errors.map((e) => e.path), ['since'], q);
    }
    const missing = await get(`/api/rules/nope/stats?${range}`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    assert.equal((await app.request('/api/stats')).status, 401);
    assert.equal((await app.request(`/api/rules/${ruleId}/stats`)).status, 401);
  });
});
