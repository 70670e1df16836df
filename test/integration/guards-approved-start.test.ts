// The fleet guards count a remediation when it runs, not only when it is planned. A gated fix is planned
// (and counted) at T0, waits for its approval, and is approved an hour later: by then the window that
// counted it has moved on, and other fixes filled it. Before, the approved start looked at pauses only, and
// more than maxTargets distinct targets were remediated within one window. Now the start checks the guards
// again, under their lock, at the start time: crossing one, the fix is recorded skipped with the guard named
// and automation is paused (a page owed), as the planner does; starting, its remediation counts from then.
import assert from 'node:assert/strict';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { activePauses, resumePauses } from '../../src/db/repositories/guards.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../../src/domain/guards.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });
const MINUTE = 60_000;

describe('guards are checked again when an approved remediation starts', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  // One clock for planning and for the approved starts: the test moves it.
  let clock = new Date();
  const now = () => clock;
  const guards: GuardConfig = { ...DEFAULT_GUARD_CONFIG, maxTargets: 2, windowSeconds: 3600 };
  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\]' }] };
  const acts = (g = guards) => createActionRunActivities({ db: db.db, logger, guards: g, now });

  async function rule(gated: boolean): Promise<string> {
    const svc = newServiceId();
    const approval = gated ? { approval: { required: true, timeoutMinutes: 1440, onTimeout: 'approve' as const } } : {};
    await insertRule(db.db, { name: `fix-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, ...approval }] } as never);
    return svc;
  }

  /** An incident on `host` planned at the clock's time; its fix claimed (waiting for approval when gated). */
  async function planned(host: string, svc: string, gated: boolean, g = guards) {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger, guards: g, now }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const id = newIncidentId();
    const occurredAt = clock.toISOString();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt, data: { title: `[${host}] disk full`, urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const r = await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` });
    const plan = r.plans[0]!;
    const actionRunId = `${id}:${plan.ruleId}:fix:${body.event.id}`;
    const start = () => acts(g).startApprovedAction({ actionRunId, owner: 'wf/run', incidentId: id, cancelIfResolved: true, action: { id: 'fix', type: 'script.agent' } });
    if (plan.decision !== 'run') return { host, actionRunId, decision: plan.decision, reason: plan.skipReason, start };
    const a = acts(g);
    const claim = await a.claimAction({ actionRunId, incidentId: id, plan, action: plan.actions[0]!, owner: 'wf/run', workflowId: 'wf', reason: 'test', awaitingApproval: gated });
    assert.ok(claim.owned);
    if (gated) await a.settleApproval({ actionRunId, onTimeout: 'approve' });
    return { host, actionRunId, decision: plan.decision, reason: plan.skipReason, start };
  }

  /** The targets whose fix started (what a host's owner sees run), with when. */
  const startedTargets = async () =>
    (await db.db.selectFrom('action_runs').select(['target', 'started_at']).where('started_at', 'is not', null).execute()).map((r) => ({ target: r.target!, at: r.started_at! }));

  it('gated fixes planned at T0, approved at T0+62min after ungated ones at T0+61min filled the window: at most maxTargets distinct targets start within it', async function () {
    const t0 = new Date(Date.now() - 3 * 60 * MINUTE);
    const gatedSvc = await rule(true);
    const plainSvc = await rule(false);

    clock = t0;
    const g1 = await planned('gated-1', gatedSvc, true);
    const g2 = await planned('gated-2', gatedSvc, true);
    assert.deepEqual([g1.decision, g2.decision], ['run', 'run'], 'two targets: within the guard of 2');

    clock = new Date(t0.getTime() + 61 * MINUTE);
    const u1 = await planned('plain-1', plainSvc, false);
    const u2 = await planned('plain-2', plainSvc, false);
    assert.deepEqual([u1.decision, u2.decision], ['run', 'run'], 'the gated ones, planned 61 minutes ago, left the window');

    clock = new Date(t0.getTime() + 62 * MINUTE);
    const s1 = await g1.start();
    const s2 = await g2.start();

    // Within the hour before T0+62min, at most 2 distinct targets were remediated.
    const since = clock.getTime() - 60 * MINUTE;
    const inWindow = new Set((await startedTargets()).filter((s) => s.at.getTime() > since).map((s) => s.target));
    assert.deepEqual([...inWindow].sort(), ['plain-1', 'plain-2'], `at most 2 distinct targets started within the window: ${[...inWindow].join(', ')}`);

    assert.equal(s1.finished?.status, 'skipped', JSON.stringify(s1));
    assert.match(s1.finished?.error ?? '', /^not run when approved: guard fleet\.maxTargets: 2 distinct targets remediated by any rule in the last 1h \(max 2\); automation paused fleet-wide/);
    assert.equal(s2.finished?.status, 'skipped', 'the fleet is paused now');
    assert.match(s2.finished?.error ?? '', /^not run: automation was paused/);
    const pauses = await activePauses(db.db);
    assert.deepEqual(pauses.map((p) => [p.scope, p.guard]), [['fleet', 'fleet.maxTargets']], 'the crossing paused automation, as the planner does');
    const pages = await db.db.selectFrom('automation_alerts').select(['kind', 'page', 'text']).execute();
    assert.equal(pages.length, 1, 'one page owed');
    assert.match(pages[0]!.text, /^\[self-healing\] Automation paused: guard fleet\.maxTargets/);
    await resumePauses(db.db, { scope: 'fleet', environment: '', actor: 'admin', at: clock });
  });

  it('an approved fix that starts counts from its start: a window it entered then stops the third target', async function () {
    const t1 = new Date(Date.now() - 50 * MINUTE);
    const gatedSvc = await rule(true);
    const plainSvc = await rule(false);

    clock = t1;
    const g = await planned('late-1', gatedSvc, true);
    assert.equal(g.decision, 'run');
    clock = new Date(t1.getTime() + 30 * MINUTE);
    assert.deepEqual(await g.start(), { status: 'running' }, 'room under the guard: it starts');

    // 70 minutes after it was planned, 40 after it started: it still counts, so only one more target fits.
    clock = new Date(t1.getTime() + 70 * MINUTE);
    const u1 = await planned('late-2', plainSvc, false);
    const u2 = await planned('late-3', plainSvc, false);
    assert.equal(u1.decision, 'run');
    assert.notEqual(u2.decision, 'run', 'a third distinct target within an hour of the approved start is stopped');
    assert.match(u2.reason ?? '', /^guard fleet\.maxTargets: 2 distinct targets/);
    await resumePauses(db.db, { scope: 'fleet', environment: '', actor: 'admin', at: clock });
  });

  // Flapping is one of the guards the planner applies: a host remediated K times within the window gets no
  // more remediation, and a person is paged. Before, the approved start checked the fleet guards only, and a
  // fix approved after the host had started flapping ran all the same.
  it('a gated fix approved after its host started flapping while it waited does not start: skipped with the flapping reason, and a person is paged, as at planning', async function () {
    const flapping: GuardConfig = { ...DEFAULT_GUARD_CONFIG, flapping: { max: 2, windowSeconds: 3600 } };
    const t0 = new Date(Date.now() - 5 * 60 * MINUTE);
    const gatedSvc = await rule(true);
    const plainSvc = await rule(false);

    clock = t0;
    const g = await planned('flap-1', gatedSvc, true, flapping);
    assert.equal(g.decision, 'run');
    // An hour later, while it still waits, two other fixes of the same host: now it is flapping.
    clock = new Date(t0.getTime() + 61 * MINUTE);
    const u1 = await planned('flap-1', plainSvc, false, flapping);
    const u2 = await planned('flap-1', plainSvc, false, flapping);
    assert.deepEqual([u1.decision, u2.decision], ['run', 'run'], 'the gated one, planned 61 minutes ago, left the window');

    clock = new Date(t0.getTime() + 62 * MINUTE);
    const s = await g.start();
    assert.equal(s.finished?.status, 'skipped', JSON.stringify(s));
    // The planner's words for a flapping host (another fix of it planned now is stopped with them).
    const reason = 'flapping: flap-1 was remediated 2 times in the last 1h (max 2); remediation of it stops and a person is paged';
    assert.equal(s.finished?.error, `not run when approved: ${reason}`);
    const run = await db.db.selectFrom('action_runs').select(['status', 'started_at', 'error']).where('id', '=', g.actionRunId).executeTakeFirstOrThrow();
    assert.deepEqual(run, { status: 'skipped', started_at: null, error: `not run when approved: ${reason}` }, 'never started');
    const pages = await db.db.selectFrom('automation_alerts').select(['kind', 'page', 'text']).where('target', '=', 'flap-1').execute();
    assert.deepEqual(pages, [{ kind: 'flapping', page: true, text: `[self-healing] ${reason}` }], 'paged as the planner pages');
    assert.deepEqual(await activePauses(db.db), [], 'flapping stops the host, it pauses nothing');
  });
});
