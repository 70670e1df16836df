// A remediation that never touched its host stops counting in the guards. The planner records a remediation
// (what the fleet guards and flapping count) when it lets a match through; a gated fix then rejected (by a
// person, or at its deadline with `onTimeout: reject`), skipped at its approved start, or cancelled by a
// resolve before it started, used to keep counting for the whole window: three rejected approvals on a host
// made the fourth real fix "flapping" (stopped, a person paged), and rejected fixes across a fleet paused
// remediation fleet-wide. Now the activity that records such an outcome releases the remediation
// (`remediations.released_at`, the row kept) when none of the match's remediation actions started and none
// is left to come, under the guards' lock; a fix that ran (and failed) keeps counting. These drive the real
// activities against Postgres, as the rule-run workflow calls them.
import assert from 'node:assert/strict';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import type { MatchPlan } from '../../activities/types.js';
import { recordApprovalDecision } from '../../src/db/repositories/action-runs.js';
import { countTargetRemediations, resumePauses } from '../../src/db/repositories/guards.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../../src/domain/guards.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const OWNER = 'wf/run';

describe('a remediation settled without starting stops counting in the guards (released)', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  // One clock for planning and for the activities. Each test starts hours after the one before (a resume
  // restarts the windows from its time, so no test may run before an earlier test's resume).
  let clock = new Date();
  const now = () => clock;
  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
  const acts = (g: GuardConfig) => createActionRunActivities({ db: db.db, logger, guards: g, now });

  type Fix = { id: string; gated?: 'approve' | 'reject' | undefined };
  /** A rule of remediation actions (restart scripts), gated as said, on a service of its own. */
  async function rule(...fixes: Fix[]): Promise<string> {
    const svc = newServiceId();
    const actions = fixes.map((f) => ({
      id: f.id,
      type: 'script.agent',
      script: 'restart-service.sh',
      args: ['nginx'],
      idempotent: true,
      ...(f.gated ? { approval: { required: true, timeoutMinutes: 60, onTimeout: f.gated } } : {}),
    }));
    await insertRule(db.db, { name: `fix-${svc.toLowerCase()}`, services: [svc], actions } as never);
    return svc;
  }

  /** An incident on `host` triggered and planned at the clock's time: its first match's plan. */
  async function planned(host: string, svc: string, g: GuardConfig) {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger, guards: g, now }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const incidentId = newIncidentId();
    const occurredAt = clock.toISOString();
    const body = sampleFor('v3-incident.triggered-01.json', incidentId, { occurredAt, data: { title: `[${host}] disk full`, urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const r = await triage({ incidentId, message: messageFor(body), takenBy: `run-${incidentId}` });
    const plan: MatchPlan = r.plans[0]!;
    const runId = (actionId: string) => `${incidentId}:${plan.ruleId}:${actionId}:${body.event.id}`;
    const a = acts(g);
    const action = (actionId: string) => plan.actions.find((x) => x.id === actionId)!;
    return {
      incidentId,
      plan,
      runId,
      /** Claim the action (waiting for its approval when gated), as the rule run does before any side effect. */
      claim: async (actionId: string) => {
        const c = await a.claimAction({ actionRunId: runId(actionId), incidentId, plan, action: action(actionId), owner: OWNER, workflowId: 'wf', reason: 'test', awaitingApproval: Boolean(action(actionId).approval) });
        assert.ok(c.owned);
        return c;
      },
      start: (actionId: string, g2 = g) =>
        acts(g2).startApprovedAction({ actionRunId: runId(actionId), owner: OWNER, incidentId, cancelIfResolved: true, action: { id: actionId, type: 'script.agent' } }),
      /** What the rule run records as the action's outcome. */
      outcome: (actionId: string, status: 'succeeded' | 'failed' | 'rejected' | 'cancelled', error?: string) =>
        a.recordActionOutcome({ actionRunId: runId(actionId), actionId, type: 'script.agent', status, ...(error ? { error } : {}), owner: OWNER }),
      skip: (actionId: string, reason: string) => a.recordActionSkipped({ actionRunId: runId(actionId), incidentId, plan, action: action(actionId), reason, owner: OWNER }),
      ruleOutcome: (outcome: 'succeeded' | 'failed' | 'inconclusive') => a.recordRuleOutcome({ ruleId: plan.ruleId, matchId: plan.matchId, outcome }),
    };
  }

  /** The remediation row of a match: kept whatever happens, `released_at` set once it stops counting. */
  const remediation = async (matchId: string) => {
    const row = await db.db.selectFrom('remediations').selectAll().where('match_id', '=', matchId).executeTakeFirstOrThrow();
    return { ...row, released_at: row.released_at ?? null };
  };
  const actionRun = (id: string) => db.db.selectFrom('action_runs').select(['status', 'started_at']).where('id', '=', id).executeTakeFirstOrThrow();

  it('three rejected approvals of a fix on web-1 within the flapping window (two by a person, one timed out with onTimeout: reject) do not make the next real fix of web-1 flapping', async function () {
    const flapping: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 3, windowSeconds: 3600 } };
    const gatedSvc = await rule({ id: 'fix', gated: 'reject' });
    const plainSvc = await rule({ id: 'fix' });
    const t0 = new Date(Date.now() - 40 * HOUR);

    const rejected: { matchId: string; by: string; waiting: Date | null; atRejection: Date | null }[] = [];
    for (const [i, by] of (['person', 'person', 'timeout'] as const).entries()) {
      clock = new Date(t0.getTime() + i * 5 * MINUTE);
      const p = await planned('web-1', gatedSvc, flapping);
      assert.equal(p.plan.decision, 'run', `rejected fix ${i + 1}: planned`);
      await p.claim('fix');
      if (by === 'person') {
        // The API's write of a person's decision (the rule run reads it back after the nudge).
        assert.equal(await recordApprovalDecision(db.db, p.runId('fix'), { decision: 'reject', actor: 'user:oncall@example.com', at: clock.toISOString() }), true);
        assert.equal((await acts(flapping).readApproval({ actionRunId: p.runId('fix') }))?.decision, 'reject');
      } else {
        assert.equal((await acts(flapping).settleApproval({ actionRunId: p.runId('fix'), onTimeout: 'reject' })).decision, 'reject');
      }
      const waiting = (await remediation(p.plan.matchId)).released_at;
      await p.outcome('fix', 'rejected', by === 'person' ? 'rejected by user:oncall@example.com' : 'approval timed out; the rule says reject');
      const atRejection = (await remediation(p.plan.matchId)).released_at;
      await p.ruleOutcome('inconclusive');
      rejected.push({ matchId: p.plan.matchId, by, waiting, atRejection });
    }

    clock = new Date(t0.getTime() + 20 * MINUTE);
    const real = await planned('web-1', plainSvc, flapping);
    assert.equal(real.plan.decision, 'run', `the next real fix of web-1 runs: ${real.plan.skipReason ?? ''}`);
    const pages = await db.db.selectFrom('automation_alerts').select('text').where('target', '=', 'web-1').execute();
    assert.deepEqual(pages, [], 'nobody is paged for flapping');
    assert.equal(await countTargetRemediations(db.db, 'web-1', new Date(t0.getTime() - MINUTE)), 1, 'the real fix counts, none of the three rejected ones');

    for (const r of rejected) {
      assert.equal(r.waiting, null, `it counted while it waited for its decision (${r.by})`);
      assert.ok(r.atRejection, `released when its rejection was recorded, before its rule run ended (${r.by})`);
      const row = await remediation(r.matchId);
      assert.ok(row.released_at, 'still released after the rule outcome');
      assert.equal(row.target, 'web-1', 'the row stays, for the audit trail');
    }
  });

  it('a fix approved, then skipped at its approved start because its rule was disabled, no longer counts toward maxTargets', async function () {
    const guards: GuardConfig = { ...DEFAULT_GUARD_CONFIG, maxTargets: 2, windowSeconds: 3600 };
    const gatedSvc = await rule({ id: 'fix', gated: 'approve' });
    const plainSvc = await rule({ id: 'fix' });
    const t0 = new Date(Date.now() - 30 * HOUR);

    clock = t0;
    const g = await planned('skip-1', gatedSvc, guards);
    assert.equal(g.plan.decision, 'run');
    await g.claim('fix');
    await acts(guards).settleApproval({ actionRunId: g.runId('fix'), onTimeout: 'approve' });
    const u1 = await planned('skip-2', plainSvc, guards);
    assert.equal(u1.plan.decision, 'run');
    await u1.claim('fix');

    // An admin disables the gated rule while its fix waits: the approved start records it skipped.
    await db.db.updateTable('rules').set({ enabled: false }).where('id', '=', g.plan.ruleId).execute();
    clock = new Date(t0.getTime() + 5 * MINUTE);
    const s = await g.start('fix');
    assert.equal(s.finished?.status, 'skipped', JSON.stringify(s));
    assert.match(s.finished?.error ?? '', /^not run: its rule was disabled/);
    const released = (await remediation(g.plan.matchId)).released_at;

    try {
      const u2 = await planned('skip-3', plainSvc, guards);
      assert.equal(u2.plan.decision, 'run', `two distinct targets remediated (skip-2, skip-3), not three: ${u2.plan.skipReason ?? ''}`);
      assert.ok(released, 'released by the approved start that skipped it, in its transaction');
      // The guard still counts what ran: a fourth target is one too many.
      const u3 = await planned('skip-4', plainSvc, guards);
      assert.notEqual(u3.plan.decision, 'run');
      assert.match(u3.plan.skipReason ?? '', /^guard fleet\.maxTargets: 2 distinct targets remediated by any rule in the last 1h \(max 2\)/);
    } finally {
      // The crossing paused remediation fleet-wide (and so would a count of the skipped fix): lifted for the next tests.
      await resumePauses(db.db, { scope: 'fleet', environment: '', actor: 'admin', at: clock });
    }
  });

  it('a fix that ran and failed, and one cancelled while in flight, still count: the third fix of the host is stopped as flapping', async function () {
    const flapping: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 2, windowSeconds: 3600 } };
    const plainSvc = await rule({ id: 'fix' });
    const gatedSvc = await rule({ id: 'fix', gated: 'reject' });
    const t0 = new Date(Date.now() - 20 * HOUR);

    clock = t0;
    const failed = await planned('fail-1', plainSvc, flapping);
    await failed.claim('fix');
    await failed.outcome('fix', 'failed', 'exit code 1');
    await failed.ruleOutcome('failed');
    assert.equal((await remediation(failed.plan.matchId)).released_at, null, 'it ran: it counts');

    // Started (claimed running), then cancelled by a resolve: it may have touched the host, it counts.
    clock = new Date(t0.getTime() + MINUTE);
    const inFlight = await planned('fail-1', plainSvc, flapping);
    await inFlight.claim('fix');
    await inFlight.outcome('fix', 'cancelled', 'cancelled: the incident resolved');
    await inFlight.ruleOutcome('inconclusive');
    assert.equal((await actionRun(inFlight.runId('fix'))).status, 'cancelled');
    assert.equal((await remediation(inFlight.plan.matchId)).released_at, null, 'it started: it counts');

    clock = new Date(t0.getTime() + 2 * MINUTE);
    const third = await planned('fail-1', gatedSvc, flapping);
    assert.notEqual(third.plan.decision, 'run');
    assert.equal(third.plan.skipReason, 'flapping: fail-1 was remediated 2 times in the last 1h (max 2); remediation of it stops and a person is paged');
  });

  it('a rejected fix whose rule has another remediation still to come keeps counting until that one is settled too (skipped: released; a fix that starts: kept)', async function () {
    const flapping: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 5, windowSeconds: 3600 } };
    const svc = await rule({ id: 'fix', gated: 'reject' }, { id: 'fix2' });
    clock = new Date(Date.now() - 15 * HOUR);

    const skipped = await planned('two-1', svc, flapping);
    await skipped.claim('fix');
    await acts(flapping).settleApproval({ actionRunId: skipped.runId('fix'), onTimeout: 'reject' });
    await skipped.outcome('fix', 'rejected', 'approval timed out; the rule says reject');
    assert.equal((await remediation(skipped.plan.matchId)).released_at, null, 'fix2 may still run (`when: success` runs when nothing ran before it)');
    // The incident resolves before fix2 starts: the rule run records the rest skipped (cancelRest).
    await skipped.skip('fix2', 'not run: the rule was cancelled when the incident resolved');
    assert.ok((await remediation(skipped.plan.matchId)).released_at, 'released when its last remediation action was recorded skipped');

    const ran = await planned('two-2', svc, flapping);
    await ran.claim('fix');
    await acts(flapping).settleApproval({ actionRunId: ran.runId('fix'), onTimeout: 'reject' });
    await ran.outcome('fix', 'rejected', 'approval timed out; the rule says reject');
    await ran.claim('fix2');
    await ran.outcome('fix2', 'succeeded');
    await ran.ruleOutcome('succeeded');
    assert.equal((await remediation(ran.plan.matchId)).released_at, null, 'fix2 ran: the remediation counts');
  });

  it('a fix whose claim finds its incident resolved (cancelled before it started) is released; the rule outcome releases what no status write did', async function () {
    const flapping: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 5, windowSeconds: 3600 } };
    const svc = await rule({ id: 'fix' });
    clock = new Date(Date.now() - 12 * HOUR);

    const p = await planned('resolved-1', svc, flapping);
    await db.db.updateTable('incidents').set({ status: 'resolved' }).where('id', '=', p.incidentId).execute();
    const c = await p.claim('fix');
    assert.equal(c.status, 'cancelled', JSON.stringify(c));
    assert.ok((await remediation(p.plan.matchId)).released_at, 'released by the claim that recorded it cancelled');

    // A remediation whose rows were settled without the release (recorded by older code): the rule outcome,
    // when the run ends, releases it.
    const q = await planned('resolved-2', svc, flapping);
    await q.skip('fix', 'not run: the rule was cancelled when the incident resolved');
    await db.db.updateTable('remediations').set({ released_at: null }).where('match_id', '=', q.plan.matchId).execute();
    await q.ruleOutcome('inconclusive');
    assert.ok((await remediation(q.plan.matchId)).released_at, 'released at the rule outcome');
  });

  describe('race: a release and an approved start of the same remediation at once', function () {
    const guards: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 0, windowSeconds: 3600 } };
    const approvedFix = async (host: string, svc: string) => {
      const p = await planned(host, svc, guards);
      assert.equal(p.plan.decision, 'run');
      await p.claim('fix');
      await acts(guards).settleApproval({ actionRunId: p.runId('fix'), onTimeout: 'approve' });
      return p;
    };
    /** The invariant: a remediation whose action started counts (not released), one that never did does not. */
    async function assertCountsIffStarted(p: Awaited<ReturnType<typeof approvedFix>>, host: string): Promise<boolean> {
      const run = await actionRun(p.runId('fix'));
      const row = await remediation(p.plan.matchId);
      const started = run.started_at !== null;
      if (started) {
        assert.equal(row.released_at, null, `${host}: started (${run.status}) and released`);
        assert.equal(await countTargetRemediations(db.db, host, new Date(clock.getTime() - HOUR)), 1, `${host}: started and not counted`);
      } else {
        assert.ok(row.released_at, `${host}: never started (${run.status}) and not released`);
        assert.equal(await countTargetRemediations(db.db, host, new Date(clock.getTime() - HOUR)), 0);
      }
      return started;
    }

    it('the start first, then the cancellation of the running fix: it started, so it still counts', async function () {
      const svc = await rule({ id: 'fix', gated: 'approve' });
      clock = new Date(Date.now() - 10 * HOUR);
      const p = await approvedFix('race-seq-1', svc);
      assert.deepEqual(await p.start('fix'), { status: 'running' });
      await p.outcome('fix', 'cancelled', 'cancelled: the incident resolved');
      await p.ruleOutcome('inconclusive');
      assert.equal((await actionRun(p.runId('fix'))).status, 'cancelled');
      assert.equal(await assertCountsIffStarted(p, 'race-seq-1'), true);
    });

    it('the start and the cancellation (which releases a fix that never started) at once, 16 times: a fix that started is never released', async function () {
      const svc = await rule({ id: 'fix', gated: 'approve' });
      clock = new Date(Date.now() - 9 * HOUR);
      const hosts = Array.from({ length: 16 }, (_, i) => `race-c-${i}`);
      const fixes = await Promise.all(hosts.map((h) => approvedFix(h, svc)));
      await Promise.all(fixes.flatMap((p) => [p.start('fix'), p.outcome('fix', 'cancelled', 'cancelled: the incident resolved')]));
      await Promise.all(fixes.map((p) => p.ruleOutcome('inconclusive')));
      // Either may win (in trials here, the start won 10 to 12 of 16): each fix is checked as it ended.
      for (const [i, p] of fixes.entries()) await assertCountsIffStarted(p, hosts[i]!);
    });

    it('the start and the rule outcome (which releases what never started) at once, 16 times: every fix started and counts', async function () {
      const svc = await rule({ id: 'fix', gated: 'approve' });
      clock = new Date(Date.now() - 8 * HOUR);
      const hosts = Array.from({ length: 16 }, (_, i) => `race-o-${i}`);
      const fixes = await Promise.all(hosts.map((h) => approvedFix(h, svc)));
      const starts = await Promise.all(fixes.flatMap((p) => [p.start('fix'), p.ruleOutcome('inconclusive')]));
      assert.deepEqual(starts.filter((_, i) => i % 2 === 0), hosts.map(() => ({ status: 'running' })));
      for (const [i, p] of fixes.entries()) assert.equal(await assertCountsIffStarted(p, hosts[i]!), true);
    });
  });
});
