import assert from 'node:assert/strict';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';

// A rule run's outcome counts once for its rule's circuit breaker. The counting step is a local activity:
// when it committed and the worker died before the workflow task holding its result completed, Temporal
// runs it again. Before, that second run counted the failure again, and the breaker opened after fewer
// real failures than its threshold (cutting the rule to notifications, with a "breaker opened" notice).
describe('circuit breaker: a run outcome counted again (its step retried) counts once', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  it('a retried count neither adds a failure nor loses the "opened" answer the first one gave', async function () {
    const { recordRuleOutcome } = createActionRunActivities({ db: db.db, logger: createLogger({ level: 'silent' }) });
    const ruleId = await insertRule(db.db, {
      name: 'breaker-once',
      services: [newServiceId()],
      policies: { circuitBreaker: { failureThreshold: 3, resetSeconds: 3600 } },
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'x' }],
    } as never);
    const match = async (n: number) =>
      (
        await db.db
          .insertInto('rule_matches')
          .values({ incident_id: 'PBRKONCE', event_id: `e${n}`, rule_id: ruleId, rule_version: 1, rule_name: 'breaker-once', explanation: '{}', decision: 'run' })
          .returning('id')
          .executeTakeFirstOrThrow()
      ).id;
    const breaker = () => db.db.selectFrom('rules').select(['breaker_state', 'consecutive_failures']).where('id', '=', ruleId).executeTakeFirstOrThrow();

    const first = await match(1);
    const once = await recordRuleOutcome({ ruleId, matchId: first, outcome: 'failed' });
    // The same step again (and again, at once), as Temporal retries it.
    const again = await Promise.all([recordRuleOutcome({ ruleId, matchId: first, outcome: 'failed' }), recordRuleOutcome({ ruleId, matchId: first, outcome: 'failed' })]);
    assert.deepEqual(again, [once, once]);
    assert.deepEqual(await breaker(), { breaker_state: 'closed', consecutive_failures: 1 });

    await recordRuleOutcome({ ruleId, matchId: await match(2), outcome: 'failed' });
    const third = await match(3);
    const opened = await recordRuleOutcome({ ruleId, matchId: third, outcome: 'failed' });
    assert.deepEqual([opened.opened, opened.failures], [true, 3], 'the third real failure opens it');
    assert.deepEqual(await recordRuleOutcome({ ruleId, matchId: third, outcome: 'failed' }), opened, 'a retry says it opened, so the notice still goes out once');
    assert.deepEqual(await breaker(), { breaker_state: 'open', consecutive_failures: 3 });
    // A run without a match id (started before the count was kept) counts as before: a success resets the
    // count (only a half-open trial closes an open breaker).
    await recordRuleOutcome({ ruleId, outcome: 'succeeded' });
    assert.deepEqual(await breaker(), { breaker_state: 'open', consecutive_failures: 0 });
  });
});
