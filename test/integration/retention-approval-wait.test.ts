// An approved script's start checks that its environment still stands (not deleted, not moved to another
// team, not registered again by another team while the approval waited), and the planned environment is
// read from the match's remediation row. The purge took remediation rows past the guards' week whatever
// their match still had to do, and a gated chain may wait 7 days per action: with that row gone the check
// found nothing to compare and the script started, possibly on another team's agent. Driven here with the
// real purge and the real approved start against the database.
import assert from 'node:assert/strict';
import { startApprovedRun } from '../../src/db/repositories/action-runs.js';
import { purgeHistoryBefore } from '../../src/db/repositories/retention.js';
import { inTransaction } from '../../src/db/repositories/transactions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId } from '../helpers/samples.js';

const DAY = 86_400_000;

describe('retention keeps what a script still waiting for approval is checked against', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  /** A match 9 days old whose second gated action, a script on `environment`, still waits for approval. */
  async function waitingScript(environment: string): Promise<{ runId: string; matchId: string }> {
    const ruleId = await insertRule(db.db, {
      name: `retention-wait-${environment}`,
      services: [newServiceId()],
      actions: [
        { id: 'gate', type: 'pagerduty.note', content: 'first', approval: { required: true, timeoutMinutes: 10080 } },
        { id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, approval: { required: true, timeoutMinutes: 10080 } },
      ],
    } as never);
    await db.db.insertInto('environments').values({ name: environment, labels: '{}', maintenance_windows: '[]' } as never).execute();
    const incidentId = newIncidentId();
    const matchedAt = new Date(Date.now() - 9 * DAY);
    const match = await db.db
      .insertInto('rule_matches')
      .values({ incident_id: incidentId, event_id: `E-${incidentId}`, rule_id: ruleId, rule_name: 'r', explanation: '{}', rule_version: 1, decision: 'run', matched_at: matchedAt } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    const matchId = String(match.id);
    await db.db.insertInto('remediations').values({ match_id: matchId, rule_id: ruleId, incident_id: incidentId, target: `${environment}-h1`, environment, actions: 1, at: matchedAt } as never).execute();
    const runId = `AR-${incidentId}`;
    await db.db
      .insertInto('action_runs')
      .values({ id: runId, idempotency_key: runId, incident_id: incidentId, match_id: matchId, rule_id: ruleId, rule_version: 1, action_index: 1, action_id: 'fix', action_type: 'script.agent', status: 'awaiting_approval', target: `${environment}-h1`, claimed_by: 'run-1', created_at: new Date(Date.now() - 2 * DAY) } as never)
      .execute();
    return { runId, matchId };
  }

  it('a purge past the guards week keeps the remediation of a match whose script waits, and the script is not started on an environment deleted meanwhile', async function () {
    const { runId, matchId } = await waitingScript('prod-retention');
    // SELFHEAL_RETENTION_DAYS=7: the purge's cutoff and the guards' week both fall after the match.
    await inTransaction(db.db, (trx) => purgeHistoryBefore(trx, new Date(Date.now() - 7 * DAY), 100));
    assert.equal((await db.db.selectFrom('remediations').select('id').where('match_id', '=', matchId).execute()).length, 1, 'the remediation is kept');

    await db.db.deleteFrom('environments').where('name', '=', 'prod-retention').execute();
    const started = await startApprovedRun(db.db, runId, 'run-1', new Date());
    assert.equal(started?.status, 'skipped', 'the approved script started on an environment deleted while it waited');

    // Once nothing of the match is left to run, the row goes with the next purge.
    await inTransaction(db.db, (trx) => purgeHistoryBefore(trx, new Date(Date.now() - 7 * DAY), 100));
    assert.equal((await db.db.selectFrom('remediations').select('id').where('match_id', '=', matchId).execute()).length, 0);
  });
});
