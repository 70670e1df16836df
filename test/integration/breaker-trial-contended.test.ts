// An approved fix whose rule's breaker is open and due for its half-open trial starts as that trial, under
// the planner's lock on the rule, taken without waiting (the planner takes it before the target's lock, which
// the start holds already). When the planner holds it at that moment, the start is rolled back and retried
// rather than recorded skipped: the match being decided may not run at all (held by this run's own lease, or
// a decision only read back), and then the approval was lost for good, the breaker left open and due.
// The activities as the rule run calls them; the planner's lock held by a connection of the test.
import assert from 'node:assert/strict';
import pg from 'pg';
import { BreakerTrialContendedError, createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import type { Action } from '../../src/domain/rules/schema.js';
import { createLogger } from '../../src/logger.js';
import { advisoryKeyValue } from '../../src/db/repositories/transactions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe("an approved fix and the planner's lock on its rule, the breaker due for its trial", function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
  const acts = () => createActionRunActivities({ db: db.db, logger });
  const actions: Action[] = [
    { id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, approval: { required: true, timeoutMinutes: 60, onTimeout: 'approve' } } as Action,
  ];

  it('the lock held: the start is retried, not skipped; once it is free, the fix starts as the trial', async function () {
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, { name: `contended-${svc.toLowerCase()}`, services: [svc], policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 60 } }, actions } as never);
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const id = newIncidentId();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: `[web-${svc.toLowerCase()}] disk full`, urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const plan = (await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` })).plans[0]!;
    assert.equal(plan.decision, 'run');
    const actionRunId = `${id}:${plan.ruleId}:fix:${body.event.id}`;
    const claim = await acts().claimAction({ actionRunId, incidentId: id, plan, action: plan.actions[0]!, owner: 'wf/run', workflowId: 'wf', reason: 'test', awaitingApproval: true });
    assert.ok(claim.owned && claim.status === 'awaiting_approval');
    await acts().settleApproval({ actionRunId, onTimeout: 'approve' });
    const start = () => acts().startApprovedAction({ actionRunId, owner: 'wf/run', incidentId: id, cancelIfResolved: true, action: { id: 'fix', type: 'script.agent' } });
    const run = () => db.db.selectFrom('action_runs').select(['status', 'error']).where('id', '=', actionRunId).executeTakeFirstOrThrow();
    const breaker = () => db.db.selectFrom('rules').select(['breaker_state', 'breaker_trial_match']).where('id', '=', ruleId).executeTakeFirstOrThrow();

    // While the fix waited, other runs opened the breaker two minutes ago, past its resetSeconds.
    await db.db.updateTable('rules').set({ breaker_state: 'open', consecutive_failures: 1, breaker_opened_at: new Date(Date.now() - 120_000) }).where('id', '=', ruleId).execute();

    // A match of the rule is being decided: the planner holds its lock on the rule.
    const planner = new pg.Client({ connectionString: db.url });
    await planner.connect();
    try {
      await planner.query('BEGIN');
      await planner.query('SELECT pg_advisory_xact_lock($1::bigint)', [advisoryKeyValue(`rule:${ruleId}`)]);
      await assert.rejects(start(), (err: unknown) => err instanceof BreakerTrialContendedError && /is retried$/.test(err.message));
      // Nothing recorded: the approval is not spent, the breaker as it was.
      assert.deepEqual(await run(), { status: 'awaiting_approval', error: null });
      assert.deepEqual(await breaker(), { breaker_state: 'open', breaker_trial_match: null });
      // That match did not run (nothing began a trial): the lock is let go.
      await planner.query('ROLLBACK');
    } finally {
      await planner.end();
    }

    // The activity's retry: the breaker still open and due, this fix starts as its trial.
    const retried = await start();
    assert.equal(retried.status, 'running');
    assert.equal((await run()).status, 'running');
    assert.deepEqual(await breaker(), { breaker_state: 'half_open', breaker_trial_match: String(plan.matchId) });
  });

  // The breaker half-open on a trial begun longer ago than a run of the rule may take (as read now: the rule
  // may have been edited to a shorter run since), so the start takes the trial over; but that trial's run is
  // alive and its failure is counted (under the rule's row lock, not the planner's lock) after the start read
  // the breaker and before it took the trial. The failure re-opened the breaker: the fix must not run.
  it("a trial taken over as lost whose failure is counted between the start's read and its taking the trial: the fix is not run under the re-opened breaker", async function () {
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, { name: `contended-out-${svc.toLowerCase()}`, services: [svc], policies: { circuitBreaker: { failureThreshold: 1, resetSeconds: 60 } }, actions } as never);
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    /** A match of the rule on `host`, its fix claimed and approved (not started yet). */
    const approved = async (host: string) => {
      const id = newIncidentId();
      const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: `[${host}-${svc.toLowerCase()}] disk full`, urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'T' } } });
      const plan = (await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` })).plans[0]!;
      assert.equal(plan.decision, 'run');
      const actionRunId = `${id}:${plan.ruleId}:fix:${body.event.id}`;
      const claim = await acts().claimAction({ actionRunId, incidentId: id, plan, action: plan.actions[0]!, owner: `wf/${id}`, workflowId: `wf-${id}`, reason: 'test', awaitingApproval: true });
      assert.ok(claim.owned && claim.status === 'awaiting_approval');
      await acts().settleApproval({ actionRunId, onTimeout: 'approve' });
      const start = () => acts().startApprovedAction({ actionRunId, owner: `wf/${id}`, incidentId: id, cancelIfResolved: true, action: { id: 'fix', type: 'script.agent' } });
      return { matchId: String(plan.matchId), actionRunId, start };
    };
    const run = (actionRunId: string) => db.db.selectFrom('action_runs').select(['status', 'error']).where('id', '=', actionRunId).executeTakeFirstOrThrow();
    const breaker = () => db.db.selectFrom('rules').select(['breaker_state', 'breaker_trial_match']).where('id', '=', ruleId).executeTakeFirstOrThrow();

    // The trial: its fix is running on its host, begun (as the rule reads now) longer ago than a run may take.
    const trial = await approved('trial');
    assert.equal((await trial.start()).status, 'running');
    const fix = await approved('web');
    await db.db
      .updateTable('rules')
      .set({ breaker_state: 'half_open', consecutive_failures: 1, breaker_opened_at: new Date(Date.now() - 86_400_000), breaker_trial_match: trial.matchId })
      .where('id', '=', ruleId)
      .execute();

    // The trial's run fails and its outcome is being counted (under the rule's row lock, the breaker re-opened
    // but not committed yet): held just before it commits, its match's row locked by the test.
    const holder = new pg.Client({ connectionString: db.url });
    await holder.connect();
    const blockedOn = async (statement: string) => {
      for (;;) {
        // Read afresh: the test's transaction would see the activity as it first read it.
        await holder.query('SELECT pg_stat_clear_snapshot()');
        const waiting = await holder.query(`SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query ILIKE $1`, [`${statement}%`]);
        if (waiting.rowCount) return;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    let counted: ReturnType<ReturnType<typeof acts>['recordRuleOutcome']>;
    let first: Promise<unknown>;
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM rule_matches WHERE id = $1 FOR UPDATE', [trial.matchId]);
      counted = acts().recordRuleOutcome({ ruleId, matchId: trial.matchId, outcome: 'failed', trial: true });
      await blockedOn('update "rule_matches" set "breaker_outcome"');
      // Meanwhile the fix's start reads the breaker (half-open on that trial, as committed) and goes to take it.
      first = fix.start().then(
        (r) => r,
        (err: unknown) => err,
      );
      await blockedOn('update "rules" set "breaker_state"');
      // The failure is committed: the breaker is open again.
      await holder.query('ROLLBACK');
    } finally {
      await holder.end();
    }
    assert.equal((await counted).opened, true);
    // The start goes on; retried (the activity's retries) when it threw, as the rule run retries it.
    const answered = await first;
    if (answered instanceof Error) {
      assert.ok(answered instanceof BreakerTrialContendedError, String(answered));
      await fix.start();
    }
    // The fix did not run under the open breaker, and no run is taken for its trial.
    const ended = await run(fix.actionRunId);
    assert.equal(ended.status, 'skipped', `the fix's run is ${JSON.stringify(ended)}, breaker ${JSON.stringify(await breaker())}`);
    assert.match(ended.error ?? '', /circuit breaker/);
    assert.deepEqual(await breaker(), { breaker_state: 'open', breaker_trial_match: null });
  });
});
