import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import type { IncidentEventMessage } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';

// PagerDuty delivers out of order (a delivery answered 503, by this API's overload bound or a
// Temporal outage, is retried minutes later). An incident resolved, reopened by a person and resolved again,
// whose reopen delivery comes in last. The second resolve is a "resolve of a resolved incident" here
// (activities/incidents.ts `resolvedAgain`): stored as stale, it does not move the incident's snapshot time,
// so the older reopen that follows is taken as newer than anything held.
describe('triage: a reopen delivered after the resolve that followed it', function () {
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
  function message(sample: string, id: string, serviceId: string, occurredAt: string): IncidentEventMessage {
    const body = sampleFor(sample, id, { occurredAt, data: { title: 'disk full', urgency: 'high', service: { id: serviceId, type: 'service_reference', summary: 'svc' } } });
    return { eventId: body.event.id, eventType: String(body.event.event_type), occurredAt, receivedAt: new Date().toISOString(), event: body.event };
  }

  it('is stale: the incident stays resolved and no rule starts', async function () {
    const serviceId = newServiceId();
    await insertRule(db.db, { name: 'review-fix-on-reopen', services: [serviceId], eventTypes: ['incident.triggered', 'incident.reopened'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'fixing' }] });
    const id = newIncidentId();
    const run = triage();
    // What happened in PagerDuty: triggered 10:00, resolved 10:05, reopened 10:10, resolved 10:15.
    await run({ incidentId: id, message: message('v3-incident.triggered-01.json', id, serviceId, '2026-06-01T10:00:00.000Z'), takenBy: 'run-A' });
    await run({ incidentId: id, message: message('v3-incident.resolved-01.json', id, serviceId, '2026-06-01T10:05:00.000Z'), takenBy: 'run-A' });
    await run({ incidentId: id, message: message('v3-incident.resolved-01.json', id, serviceId, '2026-06-01T10:15:00.000Z'), takenBy: 'run-A' });
    // The reopen's delivery was retried and arrives last.
    const reopen = await run({ incidentId: id, message: message('v3-incident.reopened-01.json', id, serviceId, '2026-06-01T10:10:00.000Z'), takenBy: 'run-A' });

    const row = await db.db.selectFrom('incidents').select(['status', 'resolved_at']).where('id', '=', id).executeTakeFirstOrThrow();
    assert.equal(row.status, 'resolved', 'PagerDuty has it resolved since 10:15');
    assert.equal(reopen.recorded.stale, true, 'the reopen is older than the last resolve');
    assert.deepEqual(
      reopen.plans.map((p) => [p.ruleId, p.decision]),
      [],
      'no fix is planned on an incident resolved since',
    );
  });
});
