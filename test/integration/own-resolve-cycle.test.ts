// "Resolved by Self-healing's own pagerduty.resolve" is decided per open cycle of the incident. Before, one
// resolve sent in an earlier cycle made every later resolve, after a reopen, look like our own: verification
// ignored a person's or monitoring's resolve (unverified, onUnverified ran, the breaker counted a failure), and
// the guard that starts no action on a resolved incident let actions run for the rest of its life.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import type { MatchPlan, PlannedAction } from '../../src/contracts/plan.js';
import { createVerificationActivities } from '../../activities/verification.js';
import { recordWriteAnswered, recordWriteStart } from '../../src/db/repositories/pagerduty-writes.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { messageOf } from '../helpers/workers.js';

describe("an own resolve counts only in the incident's cycle it was sent in", function () {
  let db: TestDatabase;
  const logger = createLogger({ level: 'silent' });
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.close();
  });

  const minutesAgo = (m: number) => new Date(Date.now() - m * 60_000).toISOString();
  const action: PlannedAction = { index: 0, id: 'fix', type: 'notify.webhook', when: 'success', params: {} } as PlannedAction;
  const plan = { matchId: '1', ruleId: 'r1', ruleName: 'r', ruleVersion: 1, decision: 'run', cancelOnResolve: true, actions: [action], context: { incident: { status: 'triggered' }, event: { type: 'incident.reopened' } } } as unknown as MatchPlan;

  it('a resolve by a person after a reopen is not ours; a claim on it starts nothing; our resolve of the new cycle is ours again', async function () {
    const steps = createIncidentSteps({ db: db.db, logger, extractors: { extractors: [] } });
    const verification = createVerificationActivities({ db: db.db, logger });
    const actions = createActionRunActivities({ db: db.db, logger });
    const id = newIncidentId();
    const record = (sample: string, at: string) => steps.recordEvent(messageOf(sampleFor(sample, id, { occurredAt: at })), 'run');
    const claim = (n: number) => actions.claimAction({ actionRunId: `${id}:r1:fix:${n}`, incidentId: id, plan, action, owner: 'owner', workflowId: 'wf', reason: 'test', awaitingApproval: false });

    // Cycle 1: a rule resolves the incident itself.
    await record('v3-incident.triggered-01.json', minutesAgo(10));
    const ours = await recordWriteStart(db.db, { incidentId: id, kind: 'status', eventType: 'incident.resolved', value: 'resolved' });
    await recordWriteAnswered(db.db, ours, {});
    await db.db.updateTable('pagerduty_writes').set({ started_at: sql<Date>`now() - interval '9 minutes'` }).where('id', '=', ours).execute();
    await record('v3-incident.resolved-01.json', minutesAgo(8));
    assert.equal((await verification.incidentResolution({ incidentId: id })).ownWrite, true, 'cycle 1: the resolve is ours');

    // Cycle 2: reopened, then resolved by a person.
    await record('v3-incident.reopened-01.json', minutesAgo(5));
    await record('v3-incident.resolved-01.json', minutesAgo(3));
    const r = await verification.incidentResolution({ incidentId: id });
    assert.equal(r.resolved, true);
    assert.equal(r.ownWrite, undefined, `a person's resolve proves the fix: ${JSON.stringify(r)}`);
    const late = await claim(1);
    assert.ok(late.owned && late.status === 'cancelled', `no action starts on the resolved incident: ${JSON.stringify(late)}`);

    // Cycle 3: reopened, and this time a rule resolves it again: ours.
    await record('v3-incident.reopened-01.json', minutesAgo(2));
    await recordWriteStart(db.db, { incidentId: id, kind: 'status', eventType: 'incident.resolved', value: 'resolved' });
    await record('v3-incident.resolved-01.json', minutesAgo(0));
    assert.equal((await verification.incidentResolution({ incidentId: id })).ownWrite, true, 'cycle 3: the resolve is ours');
    const after = await claim(2);
    assert.ok(after.owned && after.status === 'running', `a rule's later actions still run after its own resolve: ${JSON.stringify(after)}`);
  });
});
