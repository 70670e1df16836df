import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { historyApi, teamToken, twoTeams, type TokenCall } from '../helpers/history-api.js';
import { seededIncident, storeHistory, storeRecordedMatch } from '../helpers/history.js';

// The Doctor agent's team refusal named the task's team ('this Doctor agent does not serve team alpha', until
// 5128275) and the agent target check the rule's ('no environment of team alpha is served on agent queue …',
// until 96c67e0). Both were stored on the action run and, from a verification's check, in the match's
// verification detail; GET /api/incidents/{id} answers both to a reader of any team (incidents span teams,
// team names do not). The action run's error was read without the first wording's team only; the
// verification detail was answered as stored, to the dashboard and the CLI alike.
const ADMIN = 'verification-detail-admin-token-0123456789';

describe('API: an incident answers stored agent refusals without the team they named (action runs, verification details)', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let call: TokenCall;
  let alpha: string;
  let betaViewer: string;
  after(async () => db?.close());

  before(async () => {
    db = await createTestDatabase();
    call = historyApi(db, ADMIN);
    const teams = await twoTeams(call, ADMIN);
    alpha = teams.alpha;
    betaViewer = await teamToken(call, ADMIN, 'beta-viewer', [`${teams.beta}:viewer`]);
  });

  it("beta's viewer (and an admin) reads no team alpha in a stored verification detail or action run error, whole or cut short, in the answer the dashboard and the CLI show", async () => {
    const incident = seededIncident({ id: 'VDTEAM1', host: 'vault-1', environment: 'pay-vault', at: new Date(Date.now() - 3_600_000) });
    await storeHistory(db.db, [incident]);
    const eventId = incident.events[0]!.eventId;
    const refusal = (script: string) => `${script} was not run: this Doctor agent does not serve team ${alpha} (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)`;
    const queue = 'is served on agent queue selfheal-agent-pay-vault any more (deleted, or registered again by another team, while the script waited for its agent)';
    // As workflows/verify.ts wrote them: the check's error, its first line cut at 200 characters.
    const longScript = `${'a'.repeat(140)}.sh`;
    const details = [
      `no incident.resolved within 300 s; check health-check.sh failed: ${refusal('health-check.sh').slice(0, 200)} (3 runs)`,
      `check ${longScript} stopped after run 1 (failed: ${refusal(longScript).slice(0, 200)}): its rule was disabled (version 1 planned it); no incident.resolved within 300 s: not verified, and not counted as a failure`,
      `no incident.resolved within 300 s; check health-check.sh failed: not run: no environment of team ${alpha} ${queue} (1 runs)`,
    ];
    for (const [i, detail] of details.entries()) {
      const ruleId = `r-fix-${i}`;
      await storeRecordedMatch(db.db, { incidentId: incident.id, eventId, ruleId, ruleName: `fix-${i}`, decision: 'run', target: 'vault-1', matchedAt: incident.events[0]!.at, actions: [{ status: 'failed', finishedAt: incident.events[0]!.at, type: 'script.agent' }] });
      await db.db.updateTable('rule_matches').set({ verification: 'unverified', verification_detail: detail, verified_at: new Date() }).where('incident_id', '=', incident.id).where('rule_id', '=', ruleId).execute();
      await db.db.updateTable('action_runs').set({ error: refusal('fix.sh') }).where('incident_id', '=', incident.id).where('rule_id', '=', ruleId).execute();
    }
    const stored = await db.db.selectFrom('rule_matches').select('verification_detail').where('incident_id', '=', incident.id).execute();
    assert.ok(stored.every((m) => m.verification_detail?.includes(alpha.slice(0, 5))), 'the rows hold the old words');

    for (const token of [betaViewer, ADMIN]) {
      const res = await call(token, 'GET', `/api/incidents/${incident.id}`);
      assert.equal(res.status, 200, res.text);
      const leaked = [...res.text.matchAll(new RegExp(`[^"]{0,60}(serve team|of team) [a-z0-9-]*${alpha.slice(0, 3)}[^"]{0,20}`, 'g'))].map((m) => m[0]);
      assert.deepEqual(leaked, [], 'no team named, nor the first letters of one cut short');
      assert.ok(!res.text.includes(alpha), 'team alpha is not named');
      const body = JSON.parse(res.text) as { matches: { ruleId: string; verificationDetail: string }[]; actionRuns: { error: string }[] };
      const detail = (i: number) => body.matches.find((m) => m.ruleId === `r-fix-${i}`)!.verificationDetail;
      assert.equal(detail(0), `no incident.resolved within 300 s; check health-check.sh failed: health-check.sh was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it) (3 runs)`);
      assert.match(detail(1), /was not run: this Doctor agent does not serve the team the task was sent for\): its rule was disabled/);
      assert.equal(detail(2), `no incident.resolved within 300 s; check health-check.sh failed: not run: no environment of the rule's team ${queue} (1 runs)`);
      assert.deepEqual(
        body.actionRuns.map((r) => r.error),
        details.map(() => 'fix.sh was not run: this Doctor agent does not serve the team the task was sent for (its SELFHEAL_AGENT_TEAMS, set on its host, does not list it)'),
      );
    }
  });
});
