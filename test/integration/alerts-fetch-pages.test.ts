import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId } from '../helpers/samples.js';

// Triage keeps 50 alerts (MAX_STORED_ALERTS) but reads every page PagerDuty has, up to 10 pages of
// 100 (each up to 8 MiB), at every remediating event (trigger, escalation, priority change, unacknowledge):
// an alert storm grouped into one incident costs ten requests of the token's 960 a minute per event, and
// up to 80 MiB read, to keep the first page's first half.
describe('triage: fetching the alerts of an incident with many', function () {
  const TOKEN = 'pd-review-pages';
  let db: TestDatabase;
  let pd: PagerDutyPeer;
  before(async function () {
    db = await createTestDatabase();
    pd = await startPagerDutyPeer({ token: TOKEN });
  });
  after(async function () {
    await pd?.close();
    await db?.close();
  });

  it('reads only what it keeps: one page for 50 alerts', async function () {
    const id = newIncidentId();
    pd.seedAlerts(id, Array.from({ length: 1000 }, (_, i) => ({ id: `A${i}`, type: 'alert', summary: `alert ${i}`, body: { type: 'alert_body', details: { n: i } } })));
    const pagerduty = createPagerDutyClient({ baseUrl: pd.url, token: TOKEN, fromEmail: 'selfheal@example.com' });
    const steps = createIncidentSteps({ db: db.db, logger: createLogger({ level: 'silent' }), extractors: {}, pagerduty });
    const before = pd.requests.length;
    const alerts = await steps.fetchAlerts(id);
    assert.equal(alerts?.length, 50);
    const gets = pd.requests.slice(before).filter((r) => r.path.endsWith('/alerts'));
    assert.equal(gets.length, 1, `${gets.length} requests for the 50 alerts kept`);
  });
});
