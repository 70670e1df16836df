import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createJobActivities } from '../../activities/jobs.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { messageFor, newIncidentId, sampleFor } from '../helpers/samples.js';

// A rule runs scripts only on its own team's environments (issue 24): the incident's extracted
// environment decides, at planning time, in the worker.
describe('teams: rules and jobs act only on environments of their own team', function () {
  let db: TestDatabase;
  const logger = createLogger({ level: 'silent' });
  const suffix = randomUUID().slice(0, 6);
  const shopVm = `shop-vm-${suffix}`;
  const payVm = `pay-vm-${suffix}`;

  before(async function () {
    db = await createTestDatabase();
    await db.db.insertInto('teams').values([{ name: `pay-${suffix}`, created_by: 'test' }, { name: `shop-${suffix}`, created_by: 'test' }]).execute();
    await db.db
      .insertInto('environments')
      .values([
        { name: shopVm, labels: '{}', maintenance_windows: '[]', team: `shop-${suffix}` },
        { name: payVm, labels: '{}', maintenance_windows: '[]', team: `pay-${suffix}` },
      ])
      .execute();
  });
  after(async () => db?.close());

  const triage = () => {
    const extractors = { extractors: [{ type: 'regex' as const, source: 'title' as const, pattern: '^\\[(?<environment>[a-z0-9-]+)\\]' }] };
    const incidents = createIncidentSteps({ db: db.db, logger, extractors });
    return createTriageActivities({ logger, incidents, plan: createPlanActivities({ db: db.db, logger }), writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
  };

  async function planFor(env: string, serviceId: string) {
    const id = newIncidentId();
    const occurredAt = new Date().toISOString();
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt, data: { title: `[${env}] disk full`, urgency: 'high', service: { id: serviceId, type: 'service_reference', summary: 'T' } } });
    const r = await triage()({ incidentId: id, message: messageFor(body), takenBy: `run-${id}` });
    assert.equal(r.environment.environment, env, 'the environment was extracted');
    return r.plans;
  }

  it("skips a rule's scripts on another team's environment, saying why; runs them on its own", async function () {
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, { name: `pay-cleanup-${suffix}`, services: [serviceId], actions: [{ id: 'clean', type: 'script.agent', script: 'disk-cleanup.sh', idempotent: true }] });
    await db.db.updateTable('rules').set({ team: `pay-${suffix}`, updated_at: new Date() }).where('id', '=', ruleId).execute();

    const foreign = await planFor(shopVm, serviceId);
    assert.deepEqual(foreign.map((p) => [p.ruleId, p.decision, p.actions.length]), [[ruleId, 'skipped', 0]]);
    assert.equal(foreign[0]!.skipReason, `environment ${shopVm} belongs to team shop-${suffix}: a rule of team pay-${suffix} may not run scripts there`);

    const own = await planFor(payVm, serviceId);
    assert.deepEqual(own.map((p) => [p.ruleId, p.decision, p.actions.map((a) => a.type)]), [[ruleId, 'run', ['script.agent']]]);
  });

  it("a rule whose only script is its verification's check is skipped on another team's environment too", async function () {
    // The review's repro: a note, and a check script that runs on the incident's agent without approval.
    // Before, only the actions were looked at: the rule ran, and its check ran on shop's host.
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, {
      name: `pay-verify-${suffix}`,
      services: [serviceId],
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'looking' }],
      verify: { within: '10m', settle: '1m', check: { type: 'script.agent', script: 'restart-service.sh', args: ['nginx'] } },
    } as never);
    await db.db.updateTable('rules').set({ team: `pay-${suffix}`, updated_at: new Date() }).where('id', '=', ruleId).execute();
    const foreign = await planFor(shopVm, serviceId);
    assert.deepEqual(foreign.map((p) => [p.ruleId, p.decision, p.actions.length, p.verify]), [[ruleId, 'skipped', 0, undefined]]);
    assert.match(foreign[0]!.skipReason ?? '', /may not run scripts there/);
    const own = await planFor(payVm, serviceId);
    assert.deepEqual(own.map((p) => [p.ruleId, p.decision, p.verify?.check?.type]), [[ruleId, 'run', 'script.agent']]);
  });

  it("a rule that acknowledges, resolves or reprioritises is skipped on another team's environment, runs on its own", async function () {
    // The review's case: a team's editor saves services "*" with pagerduty.resolve and no script. Before, it
    // ran on every team's incidents, resolving them in PagerDuty and so cancelling their rule runs (waiting
    // approvals included), which marking an incident resolved by hand reserves to a global admin.
    for (const action of [{ type: 'pagerduty.resolve' }, { type: 'pagerduty.acknowledge' }, { type: 'pagerduty.priority', priorityId: 'PSEV1AB' }]) {
      const serviceId = newServiceId();
      const ruleId = await insertRule(db.db, { name: `pay-${action.type.replace('.', '-')}-${suffix}`, services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'seen' }, { id: 'change', ...action }] } as never);
      await db.db.updateTable('rules').set({ team: `pay-${suffix}`, updated_at: new Date() }).where('id', '=', ruleId).execute();
      const foreign = await planFor(shopVm, serviceId);
      assert.deepEqual(foreign.map((p) => [p.ruleId, p.decision, p.actions.length]), [[ruleId, 'skipped', 0]], action.type);
      assert.equal(foreign[0]!.skipReason, `environment ${shopVm} belongs to team shop-${suffix}: a rule of team pay-${suffix} may not acknowledge, resolve or reprioritise its incidents`);
      const own = await planFor(payVm, serviceId);
      assert.deepEqual(own.map((p) => [p.ruleId, p.decision, p.actions.map((a) => a.type)]), [[ruleId, 'run', ['pagerduty.note', action.type]]], action.type);
    }
  });

  it("a rule that only notifies is not held back by the environment's team", async function () {
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, { name: `pay-note-${suffix}`, services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'seen' }] });
    await db.db.updateTable('rules').set({ team: `pay-${suffix}`, updated_at: new Date() }).where('id', '=', ruleId).execute();
    const plans = await planFor(shopVm, serviceId);
    assert.deepEqual(plans.map((p) => [p.ruleId, p.decision]), [[ruleId, 'run']]);
  });
  it("a job run reaches only its team's environments: another team's, named or matched by a selector, is not there", async function () {
    await db.db.updateTable('environments').set({ labels: JSON.stringify({ fleet: suffix }) }).where('name', 'in', [shopVm, payVm]).execute();
    const def = (targets: unknown) => JSON.stringify({ name: 'x', schedule: { interval: '1h' }, targets, via: 'agent', script: 'probe.sh' });
    await db.db
      .insertInto('jobs')
      .values([
        { id: `named-${suffix}`, name: `named ${suffix}`, definition: def({ environments: [payVm, shopVm] }), schedule_id: `job-named-${suffix}`, team: `pay-${suffix}` },
        { id: `selected-${suffix}`, name: `selected ${suffix}`, definition: def({ selector: { fleet: suffix } }), schedule_id: `job-selected-${suffix}`, team: `pay-${suffix}` },
      ])
      .execute();
    const { resolveJobTargets } = createJobActivities({ db: db.db, logger });
    const named = await resolveJobTargets({ jobId: `named-${suffix}` });
    assert.ok('targets' in named);
    assert.deepEqual(
      named.targets.map((t) => [t.environment, t.problem ?? 'ok']),
      [
        [payVm, 'ok'],
        [shopVm, `environment ${shopVm} is not registered in team pay-${suffix}`],
      ],
    );
    const selected = await resolveJobTargets({ jobId: `selected-${suffix}` });
    assert.ok('targets' in selected);
    assert.deepEqual(selected.targets.map((t) => t.environment), [payVm]);
  });

  it("a selector job's run counts what it matched against the 24 h run limit: one that grew past it is skipped, saying why", async function () {
    // A save checks one target of a selector (it cannot know how many a later run matches): 23 targets of
    // 3,600 s (+ 60 s pickup + 30 s) one at a time fit in 86,400 s, 24 do not. Before, the 24th environment
    // began a run Temporal would end midway, its last targets never run and the run left "running".
    const fleet = `grow-${suffix}`;
    const envs = Array.from({ length: 24 }, (_, i) => ({ name: `grow-${suffix}-${String(i).padStart(2, '0')}`, labels: JSON.stringify({ fleet }), maintenance_windows: '[]', team: `pay-${suffix}` }));
    await db.db.insertInto('environments').values(envs.slice(0, 23)).execute();
    const def = JSON.stringify({ name: 'x', schedule: { interval: '1d' }, targets: { selector: { fleet } }, via: 'agent', script: 'probe.sh', timeoutSecondsPerTarget: 3600, agentPickupTimeoutSeconds: 60, concurrency: 1 });
    await db.db.insertInto('jobs').values({ id: `grow-${suffix}`, name: `grow ${suffix}`, definition: def, schedule_id: `job-grow-${suffix}`, team: `pay-${suffix}` }).execute();
    const { resolveJobTargets } = createJobActivities({ db: db.db, logger });
    const fits = await resolveJobTargets({ jobId: `grow-${suffix}` });
    assert.ok('targets' in fits, JSON.stringify(fits));
    assert.equal(fits.targets.length, 23);
    await db.db.insertInto('environments').values(envs[23]!).execute();
    assert.deepEqual(await resolveJobTargets({ jobId: `grow-${suffix}` }), {
      skipped: `job grow-${suffix} did not start: a run of 24 targets, 1 at a time, may take 88560 s, longer than a run's limit of 86400 s (24 h): raise concurrency or lower timeoutSecondsPerTarget or agentPickupTimeoutSeconds`,
      failed: true,
      name: 'x',
      notify: false,
    });
  });

  it('a job stored with a time zone spelled in another case (a save now refuses it) still runs', async function () {
    const def = JSON.stringify({ name: 'x', schedule: { cron: '0 6 * * *', timezone: 'europe/paris' }, targets: { environments: [payVm] }, via: 'agent', script: 'probe.sh' });
    await db.db.insertInto('jobs').values({ id: `zone-${suffix}`, name: `zone ${suffix}`, definition: def, schedule_id: `job-zone-${suffix}`, team: `pay-${suffix}` }).execute();
    const { resolveJobTargets } = createJobActivities({ db: db.db, logger });
    const resolved = await resolveJobTargets({ jobId: `zone-${suffix}` });
    assert.ok('targets' in resolved, JSON.stringify(resolved));
    assert.deepEqual(resolved.targets.map((t) => t.environment), [payVm]);
  });

  it('a job whose selector matches no environment of its team is skipped on every run, saying so, not reported succeeded', async function () {
    const def = JSON.stringify({ name: 'x', schedule: { interval: '1h' }, targets: { selector: { fleet: `typo-${suffix}` } }, via: 'agent', script: 'probe.sh' });
    await db.db.insertInto('jobs').values({ id: `nomatch-${suffix}`, name: `nomatch ${suffix}`, definition: def, schedule_id: `job-nomatch-${suffix}`, team: `pay-${suffix}` }).execute();
    const { resolveJobTargets } = createJobActivities({ db: db.db, logger });
    const resolved = await resolveJobTargets({ jobId: `nomatch-${suffix}` });
    assert.deepEqual(resolved, { skipped: `no environment of team pay-${suffix} matches the job's targets (selector {"fleet":"typo-${suffix}"})` });
  });
});
