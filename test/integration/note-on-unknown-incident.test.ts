import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { reconcileOpenIncidents } from '../../activities/reconcile.js';
import { createRetentionActivities } from '../../activities/retention.js';
import { createTriageActivities } from '../../activities/triage.js';
import type { IncidentEventMessage } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import type { PagerDutyIncident } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';

// PagerDuty lets people add notes to resolved incidents. A note on an incident Self-healing holds no row for
// (resolved and purged after SELFHEAL_RETENTION_DAYS, or resolved before the subscription existed) is a fresh
// event (its occurred_at is now, so the webhook's replay bound takes it). Triage wrote the incident
// `triggered`, a guess no event made: open here for good, its workflow waiting for a resolve PagerDuty would
// never send, kept whole by retention, and handed by the reconcile a resolve of months ago that ran the
// incident.resolved rules again. Such an incident is `unknown` until an event that carries a status arrives.
describe('triage: an incident first known from a note', function () {
  let db: TestDatabase;
  const logger = createLogger({ level: 'silent' });
  before(async function () {
    db = await createTestDatabase();
  });
  after(async function () {
    await db?.close();
  });

  function triage() {
    const incidents = createIncidentSteps({ db: db.db, logger, extractors: {} });
    const plan = createPlanActivities({ db: db.db, logger });
    return createTriageActivities({ logger, incidents, plan, writeBack: false, enrichBackoffMs: [10] }).triageIncidentEvent;
  }
  function note(id: string, at: Date): IncidentEventMessage {
    const body = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: at.toISOString() });
    return { eventId: body.event.id, eventType: 'incident.annotated', occurredAt: at.toISOString(), receivedAt: at.toISOString(), event: body.event };
  }
  function incidentEvent(sample: string, id: string, serviceId: string, at: Date): IncidentEventMessage {
    const body = sampleFor(sample, id, { occurredAt: at.toISOString(), data: { title: 'disk full', service: { id: serviceId, type: 'service_reference', summary: 'svc' } } });
    return { eventId: body.event.id, eventType: String(body.event.event_type), occurredAt: at.toISOString(), receivedAt: at.toISOString(), event: body.event };
  }
  const statusOf = async (id: string) => (await db.db.selectFrom('incidents').select('status').where('id', '=', id).executeTakeFirst())?.status;
  /** PagerDuty's REST answer about one incident, for the reconcile. */
  const answering = (answer: (id: string) => Partial<PagerDutyIncident>) => ({ getIncident: async (incidentId: string) => ({ id: incidentId, ...answer(incidentId) }) as PagerDutyIncident });

  it('a note on an incident resolved long ago leaves it `unknown`; the resolve the reconcile derives closes it and runs no incident.resolved rule', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: `post-mortem-${serviceId.toLowerCase()}`, services: [serviceId], eventTypes: ['incident.resolved'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'post-mortem reminder' }] });
    const id = newIncidentId();
    const run = triage();
    const now = new Date();
    const taken = await run({ incidentId: id, message: note(id, now), takenBy: 'run-A' });
    assert.equal(taken.recorded.incidentStatus, 'unknown');
    assert.equal(await statusOf(id), 'unknown', 'no event said the incident is open');

    // Two hours later the reconcile asks PagerDuty about the incidents held open and quiet for an hour.
    await db.db.updateTable('incidents').set({ updated_at: new Date(now.getTime() - 2 * 3600_000) }).where('id', '=', id).execute();
    const resolvedLongAgo = '2026-01-02T03:04:05Z';
    const signalled: IncidentEventMessage[] = [];
    const swept = await reconcileOpenIncidents(
      {
        db: db.db,
        logger,
        pagerduty: answering(() => ({ status: 'resolved', last_status_change_at: resolvedLongAgo, service: { id: serviceId, type: 'service_reference', summary: 'svc' } } as Partial<PagerDutyIncident>)),
        signal: async (incidentId, m) => {
          if (incidentId === id) signalled.push(m);
        },
      },
      { batch: 1000, now },
    );
    assert.ok(swept.resolved.includes(id), 'PagerDuty says it is resolved: its workflow is handed the resolve');
    assert.equal(signalled.length, 1);
    const resolve = await run({ incidentId: id, message: signalled[0]!, takenBy: 'run-A' });
    assert.deepEqual(resolve.plans.map((p) => p.ruleId), [], 'the incident.resolved rules do not run for a resolve of months ago');
    assert.equal(resolve.recorded.incidentStatus, 'resolved', 'the workflow sees it resolved, and ends');
    assert.match(resolve.recorded.quiet ?? '', /no incident\.resolved rule/);
    const row = await db.db.selectFrom('incidents').select(['status', 'resolved_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'resolved');
    assert.equal(row.resolved_at?.toISOString(), new Date(resolvedLongAgo).toISOString(), 'resolved when PagerDuty resolved it');
    const matches = await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', id).execute();
    assert.deepEqual(matches, [], 'no rule matched');
    const stored = await db.db.selectFrom('incident_events').select(['note']).where('event_id', '=', signalled[0]!.eventId).executeTakeFirstOrThrow();
    assert.match(stored.note ?? '', /whose status no event had told/, 'why no rule ran is recorded on the event');

    // A retry of the same triage (this run's own) stays quiet.
    const retried = await run({ incidentId: id, message: signalled[0]!, takenBy: 'run-A' });
    assert.deepEqual(retried.plans, []);
    assert.ok(retried.recorded.quiet);
  });

  it('out of order: a note, then its trigger: the incident is `triggered` and its incident.triggered rules run', async function () {
    const serviceId = newServiceId();
    const ruleId = await insertRule(db.db, { name: `fix-${serviceId.toLowerCase()}`, services: [serviceId], eventTypes: ['incident.triggered'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'fixing' }] });
    const id = newIncidentId();
    const run = triage();
    const t0 = Date.now();
    await run({ incidentId: id, message: note(id, new Date(t0 + 1000)), takenBy: 'run-A' });
    assert.equal(await statusOf(id), 'unknown');
    const trigger = await run({ incidentId: id, message: incidentEvent('v3-incident.triggered-01.json', id, serviceId, new Date(t0)), takenBy: 'run-A' });
    assert.equal(trigger.recorded.stale, false);
    assert.equal(await statusOf(id), 'triggered');
    assert.deepEqual(trigger.plans.map((p) => [p.ruleId, p.decision]), [[ruleId, 'run']], 'the triggered rules start');
  });

  it('the reconcile takes the open status PagerDuty gives an `unknown` incident; the trigger delivered later still starts its rules, and a resolve derived later runs the resolved ones', async function () {
    const serviceId = newServiceId();
    const onTrigger = await insertRule(db.db, { name: `fix2-${serviceId.toLowerCase()}`, services: [serviceId], eventTypes: ['incident.triggered'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'fixing' }] });
    const onResolve = await insertRule(db.db, { name: `pm2-${serviceId.toLowerCase()}`, services: [serviceId], eventTypes: ['incident.resolved'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'post-mortem reminder' }] });
    const id = newIncidentId();
    const run = triage();
    const now = new Date();
    await run({ incidentId: id, message: note(id, now), takenBy: 'run-A' });
    await db.db.updateTable('incidents').set({ updated_at: new Date(now.getTime() - 2 * 3600_000) }).where('id', '=', id).execute();
    const signalled: IncidentEventMessage[] = [];
    const deps = (status: string) => ({
      db: db.db,
      logger,
      pagerduty: answering((incidentId) => (incidentId === id ? { status, last_status_change_at: now.toISOString(), service: { id: serviceId, type: 'service_reference', summary: 'svc' } } : { status: 'triggered' }) as Partial<PagerDutyIncident>),
      signal: async (incidentId: string, m: IncidentEventMessage) => {
        if (incidentId === id) signalled.push(m);
      },
    });
    await reconcileOpenIncidents(deps('acknowledged'), { batch: 1000, now });
    assert.equal(await statusOf(id), 'acknowledged', "PagerDuty's answer");
    assert.deepEqual(signalled, []);

    const trigger = await run({ incidentId: id, message: incidentEvent('v3-incident.triggered-01.json', id, serviceId, new Date(now.getTime() - 60_000)), takenBy: 'run-A' });
    assert.deepEqual(trigger.plans.map((p) => p.ruleId), [onTrigger], 'the late trigger is not stale');

    const later = new Date(now.getTime() + 3 * 3600_000);
    await db.db.updateTable('incidents').set({ updated_at: new Date(later.getTime() - 2 * 3600_000) }).where('id', '=', id).execute();
    await reconcileOpenIncidents(deps('resolved'), { batch: 1000, now: later });
    assert.equal(signalled.length, 1);
    const resolve = await run({ incidentId: id, message: signalled[0]!, takenBy: 'run-A' });
    assert.deepEqual(resolve.plans.map((p) => p.ruleId), [onResolve], 'a lost resolve of an incident known open runs its rules, as before');
  });

  it('retention purges an `unknown` incident past the retention, as a resolved one, rather than keeping it whole as open', async function () {
    const id = newIncidentId();
    const open = newIncidentId();
    const serviceId = newServiceId();
    const run = triage();
    await run({ incidentId: id, message: note(id, new Date()), takenBy: 'run-A' });
    await run({ incidentId: open, message: incidentEvent('v3-incident.triggered-01.json', open, serviceId, new Date()), takenBy: 'run-A' });
    const purge = createRetentionActivities({ db: db.db, logger, now: () => new Date(Date.now() + 100 * 86_400_000) }).purgeHistoryBatch;
    for (let more = true; more; ) more = (await purge({ retentionDays: 90, batchSize: 5000 })).more;
    assert.equal(await statusOf(id), undefined, 'the incident of unknown status is gone with its note');
    assert.equal(await statusOf(open), 'triggered', 'an open incident is kept');
  });
});
