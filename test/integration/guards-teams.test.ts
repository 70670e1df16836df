import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../../src/domain/guards.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

// Team pay's acknowledge rule used to act on incidents of shop's environment, and its remediations were
// counted as that environment's: it made shop's host "flapping" (shop's own fix on it stopped) and crossed
// shop's environment share guard (shop's environment paused, every fix there stopped until an admin
// resumed). Host flapping and an environment's share now count the deciding rule's team's remediations;
// another team's rule checks no environment guard there. The fleet guards still count every team's. Since
// then a rule that changes the incident is skipped on another team's environment altogether (policies.ts),
// so pay's acknowledgements reach shop's hosts only where no environment is registered, which belongs to
// no team.
describe('guards: another team\'s rule neither flaps nor pauses a team\'s environment', function () {
  let db: TestDatabase;
  const logger = createLogger({ level: 'silent' });
  const s = randomUUID().slice(0, 6);
  const [pay, shop] = [`pay-${s}`, `shop-${s}`];
  const shopEnv = `shop-env-${s}`;
  let guards: GuardConfig = { ...DEFAULT_GUARD_CONFIG, maxTargetPercent: 0, flapping: { max: 3, windowSeconds: 3600 } };

  before(async function () {
    db = await createTestDatabase();
    await db.db.insertInto('teams').values([{ name: pay, created_by: 'test' }, { name: shop, created_by: 'test' }]).execute();
    await db.db.insertInto('environments').values({ name: shopEnv, labels: '{}', maintenance_windows: '[]', team: shop }).execute();
  });
  after(async () => db?.close());

  /** The planner's decision for a new incident on `host` of shop's environment (or `env`), on service `svc` (of its one rule). */
  async function decide(host: string, svc: string, env = shopEnv) {
    const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<environment>[a-z0-9-]+):(?<host>[a-z0-9-]+)\\]' }] };
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    const triage = createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger, guards }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
    const id = newIncidentId();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString(), data: { title: `[${env}:${host}] down`, service: { id: svc, type: 'service_reference', summary: 'T' } } });
    const plans = (await triage({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` })).plans;
    return plans[0] ?? { decision: 'no rule', skipReason: undefined };
  }
  async function rule(team: string, name: string, actions: unknown[]): Promise<string> {
    const svc = newServiceId();
    const id = await insertRule(db.db, { name: `${name}-${s}`, services: [svc], actions } as never);
    await db.db.updateTable('rules').set({ team }).where('id', '=', id).execute();
    return svc;
  }
  const ack = [{ id: 'ack', type: 'pagerduty.acknowledge' }];
  const fix = [{ id: 'fix', type: 'script.agent', script: 'restart-service.sh', args: ['nginx'], idempotent: true }];

  it("pay's acknowledgements of a host do not make it flap for shop's fix; pay's own 4th is stopped", async function () {
    // An unregistered environment: its incidents belong to no team, so pay's rule acknowledges them.
    const loose = `loose-env-${s}`;
    const paySvc = await rule(pay, 'pay-ack', ack);
    for (let i = 0; i < 3; i++) assert.equal((await decide('web-1', paySvc, loose)).decision, 'run');
    const shopSvc = await rule(shop, 'shop-fix', fix);
    const shops = await decide('web-1', shopSvc, loose);
    assert.equal(shops.decision, 'run', shops.skipReason);
    // Pay's own count on the host: its 4th remediation within the window is flapping.
    const fourth = await decide('web-1', paySvc, loose);
    assert.equal(fourth.decision, 'skipped');
    assert.match(fourth.skipReason ?? '', /^flapping: web-1/);
    const teams = await db.db.selectFrom('remediations').select('team').where('target', '=', 'web-1').orderBy('id').execute();
    assert.deepEqual(teams.map((t) => t.team), [pay, pay, pay, shop]);
  });

  it("pay's rule over half of shop's hosts is skipped there and pauses nothing; shop's own fixes still cross the share guard", async function () {
    const quiet = newServiceId();
    for (let i = 0; i < 10; i++) await decide(`k-${i}`, quiet); // shop's environment has 10 known hosts
    guards = { ...guards, maxTargetPercent: 50, flapping: { max: 0, windowSeconds: 3600 } };
    const paySvc = await rule(pay, 'pay-ack-share', ack);
    for (let i = 0; i < 7; i++) {
      const pays = await decide(`k-${i}`, paySvc);
      assert.equal(pays.decision, 'skipped', `pay on k-${i}`);
      assert.match(pays.skipReason ?? '', /may not acknowledge, resolve or reprioritise its incidents/);
    }
    const paused = () => db.db.selectFrom('automation_pauses').select(['scope', 'environment', 'guard']).where('resumed_at', 'is', null).execute();
    assert.deepEqual(await paused(), [], "another team's rule paused shop's environment");

    // Shop's own fixes: the share is shop's, counted from its own remediations: 5 of its 10 hosts.
    const shopSvc = await rule(shop, 'shop-fix-share', fix);
    const decisions = [];
    for (let i = 0; i < 7; i++) decisions.push((await decide(`k-${i}`, shopSvc)).decision);
    assert.deepEqual(decisions, ['run', 'run', 'run', 'run', 'run', 'skipped', 'skipped']);
    assert.deepEqual(await paused(), [{ scope: 'environment', environment: shopEnv, guard: 'environment.maxTargetPercent' }]);
  });
});
