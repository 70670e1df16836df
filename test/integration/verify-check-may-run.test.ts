// The question the rule run asks before each run of its verification's check (verifyCheckMayRun, rule-run
// revision 6), against real Postgres: a match planned by the real triage, then the world changed as an
// admin or a guard would change it. The check runs on the host long after the match was planned; it is held
// to what an approved remediation is held to when it starts. (The end-to-end run: test/e2e/verification-check-stops.test.ts.)
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { createVerificationActivities } from '../../activities/verification.js';
import { insertPause, resumePauses } from '../../src/db/repositories/guards.js';
import { createLogger } from '../../src/logger.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

const logger = createLogger({ level: 'silent' });

describe('verifyCheckMayRun: whether a verification check may still run', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());
  afterEach(async () => {
    await resumePauses(db.db, { scope: 'fleet', environment: '', actor: 'admin', at: new Date() });
  });

  const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }] };

  /** A rule with a fix and a check, matched on a fresh environment and host: what the rule run would ask with. */
  async function planned() {
    const environment = `vc-${randomUUID().slice(0, 6)}`;
    await db.db.insertInto('environments').values({ name: environment, labels: '{}', agent_task_queue: agentTaskQueue(environment), maintenance_windows: '[]', ssh: null }).execute();
    const svc = newServiceId();
    const ruleId = await insertRule(db.db, {
      name: `vc-${svc.toLowerCase()}`,
      services: [svc],
      actions: [{ id: 'fix', type: 'script.agent', script: 'fix.sh' }],
      verify: { within: '10m', check: { type: 'script.agent', script: 'check.sh' } },
    } as never);
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const incidentId = newIncidentId();
    const body = sampleFor('v3-incident.triggered-01.json', incidentId, { occurredAt: new Date().toISOString(), data: { title: `[${environment}-web] ${environment}: down`, service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const plan = (await triage({ incidentId, message: messageFor(body), takenBy: `run-${incidentId}` })).plans[0]!;
    assert.equal(plan.decision, 'run');
    const ask = () => createVerificationActivities({ db: db.db, logger }).verifyCheckMayRun({ incidentId, matchId: plan.matchId, ruleId, ruleVersion: plan.ruleVersion });
    return { environment, ruleId, ask };
  }

  it('may run while nothing changed', async function () {
    const { ask } = await planned();
    assert.deepEqual(await ask(), {});
  });

  it('a pause fleet-wide, or of the incident environment, stops it; a pause elsewhere does not, and after a resume it may run again', async function () {
    const { environment, ask } = await planned();
    await insertPause(db.db, { scope: 'environment', environment: 'somewhere-else', guard: 'environment.maxTargetPercent', reason: 'test', incidentId: 'x', at: new Date() });
    assert.deepEqual(await ask(), {});
    await insertPause(db.db, { scope: 'environment', environment, guard: 'environment.maxTargetPercent', reason: 'test', incidentId: 'x', at: new Date() });
    assert.deepEqual(await ask(), { refused: `automation was paused in environment ${environment} (environment.maxTargetPercent)` });
    await resumePauses(db.db, { scope: 'environment', environment, actor: 'admin', at: new Date() });
    await resumePauses(db.db, { scope: 'environment', environment: 'somewhere-else', actor: 'admin', at: new Date() });
    assert.deepEqual(await ask(), {});
    await insertPause(db.db, { scope: 'fleet', environment: '', guard: 'fleet.maxTargets', reason: 'test', incidentId: 'x', at: new Date() });
    assert.deepEqual(await ask(), { refused: 'automation was paused fleet-wide (fleet.maxTargets)' });
  });

  it('its rule disabled, replaced by a new version, or deleted stops it', async function () {
    const disabled = await planned();
    await db.db.updateTable('rules').set({ enabled: false }).where('id', '=', disabled.ruleId).execute();
    assert.deepEqual(await disabled.ask(), { refused: 'its rule was disabled (version 1 planned it)' });
    const replaced = await planned();
    await db.db.updateTable('rules').set({ version: 2 }).where('id', '=', replaced.ruleId).execute();
    assert.deepEqual(await replaced.ask(), { refused: 'its rule was replaced by version 2 (version 1 planned it)' });
    const deleted = await planned();
    await db.db.updateTable('rules').set({ deleted_at: new Date() }).where('id', '=', deleted.ruleId).execute();
    assert.deepEqual(await deleted.ask(), { refused: 'its rule was deleted (version 1 planned it)' });
  });

  it('the environment deleted, or moved to another team, stops it', async function () {
    const gone = await planned();
    await db.db.deleteFrom('environments').where('name', '=', gone.environment).execute();
    assert.deepEqual(await gone.ask(), { refused: `environment ${gone.environment} was deleted, or moved out of the rule's team` });
    const moved = await planned();
    const team = `other-${randomUUID().slice(0, 6)}`;
    await db.db.insertInto('teams').values({ name: team, created_by: 'test' }).execute();
    await db.db.updateTable('environments').set({ team }).where('name', '=', moved.environment).execute();
    assert.deepEqual(await moved.ask(), { refused: `environment ${moved.environment} was deleted, or moved out of the rule's team` });
  });
});
