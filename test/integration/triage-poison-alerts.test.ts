import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createPlanActivities } from '../../activities/plan.js';
import { createTriageActivities } from '../../activities/triage.js';
import type { IncidentEventMessage } from '../../src/contracts/index.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';

// docs/guarantees.md "A poison event never blocks" (NUL replaced by U+FFFD, a lone surrogate
// rejected with the reason). That holds for the webhook's event, not for the alerts triage fetches from
// PagerDuty's REST API, whose custom details are written by whatever sends events to the service: they are
// stored (incidents.alerts) and extracted from (incidents.environment) as they came. jsonb refuses U+0000
// and lone surrogates, the update throws, and triage (a local activity retried without limit) fails the
// same way on every attempt: the incident's workflow takes none of its later events, its resolve included.
describe('triage: alerts Postgres cannot store as they are', function () {
  const TOKEN = 'pd-review-poison';
  let db: TestDatabase;
  let pd: PagerDutyPeer;
  const logger = createLogger({ level: 'silent' });
  before(async function () {
    db = await createTestDatabase();
    pd = await startPagerDutyPeer({ token: TOKEN });
  });
  after(async function () {
    await pd?.close();
    await db?.close();
  });

  function triage() {
    const pagerduty = createPagerDutyClient({ baseUrl: pd.url, token: TOKEN, fromEmail: 'selfheal@example.com' });
    const incidents = createIncidentSteps({ db: db.db, logger, extractors: {}, pagerduty });
    const plan = createPlanActivities({ db: db.db, logger });
    return createTriageActivities({ logger, incidents, plan, writeBack: true, enrichBackoffMs: [10] }).triageIncidentEvent;
  }
  function message(id: string, serviceId: string): IncidentEventMessage {
    const body = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-06-01T10:00:00.000Z', data: { service: { id: serviceId, type: 'service_reference', summary: 'svc' } } });
    return { eventId: body.event.id, eventType: 'incident.triggered', occurredAt: '2026-06-01T10:00:00.000Z', receivedAt: new Date().toISOString(), event: body.event };
  }

  for (const [what, value] of [
    ['U+0000 in a detail (and so in the extracted host)', 'web-1\u0000'],
    ['a lone UTF-16 surrogate in a detail', 'web-1\ud800'],
  ] as const) {
    it(`${what}: triage still completes (the event stored, the rule planned)`, async function () {
      const serviceId = newServiceId();
      await insertRule(db.db, { name: `review-poison-${serviceId.toLowerCase()}`, services: [serviceId], actions: [{ id: 'note', type: 'pagerduty.note', content: 'on {{ environment.host }}' }] });
      const id = newIncidentId();
      pd.seedAlerts(id, [{ id: 'A1', type: 'alert', summary: 'disk', body: { type: 'alert_body', details: { host: value } } }]);
      const run = triage();
      const msg = message(id, serviceId);
      let first: Awaited<ReturnType<typeof run>> | undefined;
      let error: unknown;
      try {
        first = await run({ incidentId: id, message: msg, takenBy: 'run-A' });
      } catch (err) {
        error = err;
      }
      assert.equal(error, undefined, `triage threw: ${(error as Error | undefined)?.message.split('\n')[0]}`);
      assert.equal(first?.plans.length, 1);
      // The workflow would retry it: the retry must complete as well.
      await run({ incidentId: id, message: msg, takenBy: 'run-A' });
    });
  }
});
