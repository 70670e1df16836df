import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

// GET /api/stats across teams (docs/security.md "Teams", README "Objects of other teams are invisible
// (lists leave them out…)"). Its per-rule lines are a list of rules: a principal of team beta must not
// see a line, an id or a name of team alpha's rules, nor of a rule whose row is gone (its team is unknown,
// so only a global admin may see it). Its totals are fleet-wide, like the incidents, matches and action
// runs they are counted from (docs/security.md "What is not team-scoped"): the same for every caller.
// Before, a match of a rule with no row in `rules` was shown to everyone, its id standing in for its name.

const ADMIN = 'stats-teams-admin-token-0123456789abcdef';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('security: GET /api/stats shows each caller only the rule lines of teams it may read', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const suffix = randomUUID().slice(0, 8);
  const names = { alpha: `alpha-secret-rule-${suffix}`, alphaDeleted: `alpha-deleted-rule-${suffix}`, beta: `beta-own-rule-${suffix}` };
  const ghost = `rule-ghost-${suffix}`;
  const ids = {} as Record<keyof typeof names, string>;
  let betaViewer: string;
  let legacyReader: string;

  const call = async (token: string, method: string, path: string, body?: unknown): Promise<{ status: number; text: string; body: Doc }> => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, text, body: text ? (JSON.parse(text) as Doc) : {} };
  };
  const admin = async (method: string, path: string, body: unknown, expected: number) => {
    const res = await call(ADMIN, method, path, body);
    assert.equal(res.status, expected, `${method} ${path}: ${res.text}`);
    return res.body;
  };
  const stats = async (token: string) => {
    const res = await call(token, 'GET', '/api/stats');
    assert.equal(res.status, 200, res.text);
    return res;
  };

  /** An incident the rule ran on: its match (decision run) and one succeeded action run. */
  async function ranOn(ruleId: string, ruleName: string, n: number) {
    for (let i = 0; i < n; i++) {
      const incident = `QST${suffix}${ruleId.slice(-4)}${i}`.toUpperCase();
      await db.db.insertInto('incidents').values({ id: incident, title: 'disk full', status: 'triggered', service_id: 'PSTATSTEAMS', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
      const match = await db.db
        .insertInto('rule_matches')
        .values({ incident_id: incident, event_id: `E-${incident}`, rule_id: ruleId, rule_version: 1, rule_name: ruleName, explanation: '{}', decision: 'run', target: 'db-1', verification: 'verified' })
        .returning('id')
        .executeTakeFirstOrThrow();
      const run = `${incident}:${ruleId}:fix`;
      await db.db
        .insertInto('action_runs')
        .values({ id: run, idempotency_key: run, incident_id: incident, match_id: String(match.id), rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'fix', action_type: 'pagerduty.note', status: 'succeeded', started_at: new Date(), finished_at: new Date() })
        .execute();
    }
  }

  before(async function () {
    db = await createTestDatabase();
    // Stats requests cost 10 of the caller's budget; the budget is not what this tests.
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const name of ['alpha', 'beta']) await admin('POST', '/api/teams', { name }, 201);
    const rule = (name: string, team: string) => ({ name, team, services: ['PSTATSTEAMS'], actions: [{ id: 'fix', type: 'pagerduty.note', content: 'seen' }] });
    ids.alpha = (await admin('POST', '/api/rules', rule(names.alpha, 'alpha'), 201)).id;
    ids.alphaDeleted = (await admin('POST', '/api/rules', rule(names.alphaDeleted, 'alpha'), 201)).id;
    ids.beta = (await admin('POST', '/api/rules', rule(names.beta, 'beta'), 201)).id;
    await ranOn(ids.alpha, names.alpha, 3);
    await ranOn(ids.alphaDeleted, names.alphaDeleted, 1);
    await ranOn(ids.beta, names.beta, 2);
    // A match whose rule has no row any more (a rule removed outside the API, or a history restored
    // without it): nothing tells which team it was of.
    await ranOn(ghost, `ghost-name-${suffix}`, 1);
    await admin('DELETE', `/api/rules/${ids.alphaDeleted}`, undefined, 200);
    betaViewer = (await admin('POST', '/api/tokens', { name: `beta-viewer-${suffix}`, teams: ['beta:viewer'] }, 201)).token;
    // A token without team roles acts on the default team only.
    legacyReader = (await admin('POST', '/api/tokens', { name: `legacy-reader-${suffix}`, scopes: ['read'] }, 201)).token;
  });
  after(async () => db?.close());

  it("beta's viewer sees beta's rule line and no id or name of alpha's rules (live or deleted) or of a rule whose team is unknown", async function () {
    const { body, text } = await stats(betaViewer);
    assert.deepEqual(
      body.rules.map((r: Doc) => [r.id, r.name, r.runs]),
      [[ids.beta, names.beta, 2]],
    );
    for (const hidden of [ids.alpha, names.alpha, ids.alphaDeleted, names.alphaDeleted, ghost, `ghost-name-${suffix}`]) {
      assert.ok(!text.includes(hidden), `${hidden} is in beta's answer: ${text}`);
    }
    // A token of the default team only sees no line at all: none of these rules is of its team.
    const legacy = await stats(legacyReader);
    assert.deepEqual(legacy.body.rules, [], legacy.text);
    assert.ok(!legacy.text.includes(ghost), `the rule of unknown team is in a default-team answer: ${legacy.text}`);
  });

  it('a global admin sees every line, the deleted rule by name and the one whose row is gone by its id', async function () {
    const { body } = await stats(ADMIN);
    assert.deepEqual(
      body.rules.map((r: Doc) => [r.id, r.name, r.runs]),
      [
        [ids.alpha, names.alpha, 3],
        [ids.beta, names.beta, 2],
        [ids.alphaDeleted, names.alphaDeleted, 1],
        [ghost, ghost, 1],
      ].sort((a, b) => (b[2] as number) - (a[2] as number) || String(a[1]).localeCompare(String(b[1]))),
    );
  });

  it('the totals are fleet-wide and the same for every caller: only the rule lines differ', async function () {
    const all = (await stats(ADMIN)).body;
    assert.deepEqual([all.runs, all.finishedRuns, all.succeededRuns, all.successRate], [7, 7, 7, 1]);
    assert.deepEqual(all.verification, { verified: 7, unverified: 0, pending: 0, notApplicable: 0 });
    assert.equal(all.incidents.open, 7, 'every incident of the range, of every team');
    const totals = (s: Doc) => {
      const { rules: _rules, range: _range, ...rest } = s;
      return rest;
    };
    for (const token of [betaViewer, legacyReader]) assert.deepEqual(totals((await stats(token)).body), totals(all));
  });

  it("a match skipped on another team's environment counts as one policy, not one per environment and team", async function () {
    for (const [env, team] of [['pay-vault-eu', 'alpha'], ['pay-vault-us', 'alpha'], ['shop-db', 'beta']]) {
      const incident = `QSK${suffix}${env}`.toUpperCase().replace(/-/g, '');
      await db.db.insertInto('incidents').values({ id: incident, title: 'disk full', status: 'triggered', service_id: 'PSTATSTEAMS', assignees: '[]', environment: '{}', workflow_id: `incident-${incident}` }).execute();
      const reason = `environment ${env} belongs to team ${team}: a rule of team default may not run scripts there`;
      await db.db.insertInto('rule_matches').values({ incident_id: incident, event_id: `E-${incident}`, rule_id: ids.beta, rule_version: 1, rule_name: names.beta, explanation: '{}', decision: 'skipped', skip_reason: reason, target: env }).execute();
    }
    const { body, text } = await stats(betaViewer);
    assert.deepEqual(body.suppressed, [{ policy: "another team's environment", count: 3 }]);
    for (const name of ['pay-vault-eu', 'pay-vault-us', 'belongs to team']) assert.ok(!JSON.stringify(body.suppressed).includes(name), `${name} in ${text}`);
  });
});
