// A guard's pause stops what is planned after it; the runs it let through before (its budget) finish. An
// approval is decided later, though, up to days: an action approved (or approved by its timeout) while
// remediation is paused where its incident is starts nothing, and is recorded skipped saying why. Before,
// only planning looked at pauses, and an approval landing days later ran the fix on a paused fleet.
import assert from 'node:assert/strict';
import { createActionRunActivities } from '../../activities/action-runs.js';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe('an approval given while remediation is paused starts nothing', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?:(?<environment>[a-z-]+):)?(?<host>[a-z0-9-]+)\\]' }] };
  async function planFor(host: string, serviceId: string) {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const id = newIncidentId();
    const occurredAt = new Date().toISOString();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt, data: { title: `[${host}] disk full`, urgency: 'high', service: { id: serviceId, type: 'service_reference', summary: 'T' } } });
    const r = await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` });
    return { incidentId: id, eventId: body.event.id, plan: r.plans[0]! };
  }

  async function waitingFix(host: string, svc: string) {
    const acts = createActionRunActivities({ db: db.db, logger });
    const p = await planFor(host, svc);
    assert.equal(p.plan.decision, 'run');
    const actionRunId = `${p.incidentId}:${p.plan.ruleId}:fix:${p.eventId}`;
    const claim = await acts.claimAction({ actionRunId, incidentId: p.incidentId, plan: p.plan, action: p.plan.actions.find((a) => a.id === 'fix')!, owner: 'wf/run', workflowId: 'wf', reason: 'test', awaitingApproval: true });
    assert.ok(claim.owned && claim.status === 'awaiting_approval');
    await acts.settleApproval({ actionRunId, onTimeout: 'approve' });
    const start = () => acts.startApprovedAction({ actionRunId, owner: 'wf/run', incidentId: p.incidentId, cancelIfResolved: true, action: { id: 'fix', type: 'script.agent' } });
    return { ...p, actionRunId, start };
  }

  it('a fleet pause: the approved fix is recorded skipped, never started; after a resume, an approved fix starts', async function () {
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `pause-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, approval: { required: true, timeoutMinutes: 60, onTimeout: 'approve' } }],
    } as never);
    const first = await waitingFix('pause-web-1', svc);
    // While it waits, a guard crossed elsewhere pauses the whole fleet.
    assert.ok(await insertPause(db.db, { scope: 'fleet', environment: '', guard: 'fleet.maxTargets', reason: 'test', incidentId: first.incidentId, at: new Date() }));
    const started = await first.start();
    assert.equal(started.finished?.status, 'skipped', `the approved fix does not start on a paused fleet: ${JSON.stringify(started)}`);
    assert.match(started.finished?.error ?? '', /^not run: automation was paused/);
    const row = await db.db.selectFrom('action_runs').select(['status', 'started_at', 'error']).where('id', '=', first.actionRunId).executeTakeFirstOrThrow();
    assert.deepEqual([row.status, row.started_at], ['skipped', null]);

    await resumePauses(db.db, { scope: 'fleet', environment: '', actor: 'admin', at: new Date() });
    const next = await waitingFix('pause-web-2', svc);
    assert.deepEqual(await next.start(), { status: 'running' }, 'resumed: an approved fix starts');
  });

  it("an environment's pause stops the approved fixes of incidents in that environment only", async function () {
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `envpause-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, approval: { required: true, timeoutMinutes: 60, onTimeout: 'approve' } }],
    } as never);
    const a = await waitingFix('envpause-a', svc);
    const b = await waitingFix('envpause-b', svc);
    await db.db.updateTable('incidents').set({ environment: JSON.stringify({ environment: 'prod-eu', host: 'envpause-a' }) }).where('id', '=', a.incidentId).execute();
    await db.db.updateTable('incidents').set({ environment: JSON.stringify({ environment: 'prod-us', host: 'envpause-b' }) }).where('id', '=', b.incidentId).execute();
    await insertPause(db.db, { scope: 'environment', environment: 'prod-eu', guard: 'environment.maxTargets', reason: 'test', incidentId: a.incidentId, at: new Date() });
    assert.equal((await a.start()).finished?.status, 'skipped', 'prod-eu is paused');
    assert.deepEqual(await b.start(), { status: 'running' }, 'prod-us is not');
    await resumePauses(db.db, { scope: 'environment', environment: 'prod-eu', actor: 'admin', at: new Date() });
  });

  it('the pause of the environment a fix was planned in stops it, though a later event moved the incident elsewhere', async function () {
    // Its script runs where it was planned (the agent queue is pinned then); before, only the incident's
    // environment of the moment was looked at, and a re-extraction to another environment let it through.
    const svc = newServiceId();
    await insertRule(db.db, {
      name: `pinned-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true, approval: { required: true, timeoutMinutes: 60, onTimeout: 'approve' } }],
    } as never);
    const a = await waitingFix('prod-ap:pinned-1', svc);
    assert.equal((await db.db.selectFrom('incidents').select('environment').where('id', '=', a.incidentId).executeTakeFirstOrThrow()).environment?.environment, 'prod-ap');
    await db.db.updateTable('incidents').set({ environment: JSON.stringify({ environment: 'staging', host: 'pinned-1' }) }).where('id', '=', a.incidentId).execute();
    await insertPause(db.db, { scope: 'environment', environment: 'prod-ap', guard: 'environment.maxTargetPercent', reason: 'test', incidentId: a.incidentId, at: new Date() });
    const started = await a.start();
    assert.equal(started.finished?.status, 'skipped', JSON.stringify(started));
    await resumePauses(db.db, { scope: 'environment', environment: 'prod-ap', actor: 'admin', at: new Date() });
  });
});
