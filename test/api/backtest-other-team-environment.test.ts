import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { historyApi, teamToken, twoTeams, type TokenCall } from '../helpers/history-api.js';
import { seededIncident, storeHistory, storeRecordedMatch } from '../helpers/history.js';

// "Reads of another team's objects are 404 ... lists leave them out" (docs/security.md), and GET /api/stats
// takes care not to show a viewer the environment and team named in another team's skip reasons
// (test/security/stats-teams.test.ts). A backtest is a read any viewer may send with any rule it writes,
// and its per-event `reason` named the environment's team: beta's viewer, who gets 404 for alpha's
// environment and does not see team alpha in GET /api/teams, learnt from one request with a script action
// and `services: ["*"]` which team owns every environment named in the incident history. The same reason,
// as the live planner stored it, is in the incident's matches, which any reader reads (incidents span
// teams): there it named the environment's team to the rule's team's readers and the rule's team to the
// environment's team's readers.
const ADMIN = 'backtest-teams-admin-token-0123456789';
const HOUR = 3_600_000;

describe("API: a skip reason does not name a team the reader cannot read (backtests, an incident's matches)", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let call: TokenCall;
  let alpha: string;
  let beta: string;
  let betaViewer: string;
  let alphaViewer: string;
  let base: Date;
  after(async () => db?.close());

  before(async () => {
    db = await createTestDatabase();
    call = historyApi(db, ADMIN);
    ({ alpha, beta } = await twoTeams(call, ADMIN));
    assert.equal((await call(ADMIN, 'POST', '/api/environments', { name: 'pay-vault', team: alpha })).status, 201);
    betaViewer = await teamToken(call, ADMIN, 'beta-viewer', [`${beta}:viewer`]);
    alphaViewer = await teamToken(call, ADMIN, 'alpha-viewer', [`${alpha}:viewer`]);
    base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 24 * HOUR);
  });

  it("beta's viewer gets 404 for alpha's environment, and no `alpha` in a backtest over its incident", async () => {
    await storeHistory(db.db, [seededIncident({ id: 'RVTEAM1', host: 'vault-1', environment: 'pay-vault', at: base })]);

    assert.equal((await call(betaViewer, 'GET', '/api/environments/pay-vault')).status, 404, "alpha's environment is hidden from beta's viewer");
    assert.ok(!(await call(betaViewer, 'GET', '/api/teams')).text.includes(alpha), 'team alpha is hidden from it');

    const probe = { name: 'probe', team: beta, services: ['*'], actions: [{ id: 's', type: 'script.agent', script: 'probe.sh' }] };
    const res = await call(betaViewer, 'POST', '/api/rules/backtest', { rule: probe, from: new Date(base.getTime() - HOUR).toISOString(), to: new Date(base.getTime() + HOUR).toISOString(), only: 'all' });
    assert.equal(res.status, 200, res.text);
    assert.ok(!res.text.includes(alpha), `beta's viewer reads alpha's team name in the backtest: ${/"reason":"[^"]*"/.exec(res.text)?.[0]}`);
    const item = (JSON.parse(res.text) as { items: { candidate: { decision: string; reason: string } }[] }).items[0]!;
    assert.deepEqual(item.candidate, { ...item.candidate, decision: 'skipped', reason: `environment pay-vault is another team's environment: a rule of team ${beta} may not run scripts there` });
  });

  it("an incident's match skipped on another team's environment: each team's viewer reads its own team named, the other one as another team; an admin reads both", async () => {
    const incident = seededIncident({ id: 'RVTEAM2', host: 'vault-1', environment: 'pay-vault', at: new Date(base.getTime() + 10 * 60_000) });
    await storeHistory(db.db, [incident]);
    const stored = `environment pay-vault belongs to team ${alpha}: a rule of team ${beta} may not run scripts there`;
    await storeRecordedMatch(db.db, { incidentId: incident.id, eventId: incident.events[0]!.eventId, ruleId: 'r-beta', ruleName: 'beta-cleanup', decision: 'skipped', skipReason: stored, target: 'vault-1', matchedAt: incident.events[0]!.at, actions: [] });
    const reasonFor = async (token: string) => {
      const res = await call(token, 'GET', `/api/incidents/${incident.id}`);
      assert.equal(res.status, 200, res.text);
      return (JSON.parse(res.text) as { matches: { skipReason: string }[] }).matches.map((m) => m.skipReason);
    };
    assert.deepEqual(await reasonFor(betaViewer), [`environment pay-vault is another team's environment: a rule of team ${beta} may not run scripts there`]);
    assert.deepEqual(await reasonFor(alphaViewer), [`environment pay-vault belongs to team ${alpha}: another team's rule may not run scripts there`]);
    assert.deepEqual(await reasonFor(ADMIN), [stored]);
  });
});
