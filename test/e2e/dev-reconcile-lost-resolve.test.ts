// `npm start` (src/dev.ts) runs the worker's periodic duties through the same function as src/worker.ts
// (keepPeriodicDutiesRunning): here, the reconcile of open incidents, which closes an incident PagerDuty
// reports resolved while its resolve webhook was lost. Before, npm start never ran it: the incident stayed
// open here for good.
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startDev } from '../helpers/dev.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

describe('npm start closes an incident resolved in PagerDuty while its webhook was lost, as the worker does', function () {
  this.timeout(420_000);
  const PD_TOKEN = 'pd-dev-reconcile-token';
  let temporal: TestTemporal;
  let db: TestDatabase;
  let pd: PagerDutyPeer;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
  });
  after(async function () {
    await pd?.close();
  });

  it('an incident resolved in PagerDuty without a webhook is resolved here by the reconcile under npm start', async function () {
    const dev = await startDev({ temporal, db }, 'dev-reconcile', {
      PAGERDUTY_API_URL: pd.url,
      PAGERDUTY_API_TOKEN: PD_TOKEN,
      PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
      PAGERDUTY_RECONCILE_MINUTES: '1',
    });
    const port = dev.port;
    try {
      const svc = newServiceId();
      const id = newIncidentId();
      pd.seedIncident(id, { serviceId: svc, title: '[db-1] replica lag' });
      const body = sampleFor('v3-incident.triggered-01.json', id, { data: { title: '[db-1] replica lag', service: { id: svc, type: 'service_reference', summary: 's' } } });
      const res = await fetch(`http://127.0.0.1:${port}/webhooks/pagerduty`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(res.status, 202, await res.text());
      await eventually(async () => db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst(), 30_000, 'the incident recorded');

      // Resolved in PagerDuty; the webhook never comes. Quiet here for an hour: past the reconcile's quiet period.
      pd.humanUpdate(id, { status: 'resolved' }, 'oncall@example.com');
      // What npm start logged of its sweeps, to tell a failure's cause (PagerDuty not asked, the resolve
      // not handed over) in a CI log.
      const row = await eventually(
        async () => {
          const r = await db.db.selectFrom('incidents').selectAll().where('id', '=', id).executeTakeFirst();
          if (r?.status === 'resolved') return r;
          // Dated two hours back whenever a write brought it forward (the incident's triage may still write its
          // row, and date it now). Not one hour: a sweep takes incidents quiet since an hour before its own
          // start, and a row dated an hour before a look made after that start (every 100 ms) was never taken,
          // in three sweeps, when the sweep's query reached Postgres more than 100 ms after it started (the
          // fresh-clone CI of e3fef07, under load).
          await db.db
            .updateTable('incidents')
            .set({ updated_at: new Date(Date.now() - 2 * 3600_000) })
            .where('id', '=', id)
            .where('status', '!=', 'resolved')
            .where('updated_at', '>', new Date(Date.now() - 3600_000 - 60_000))
            .execute();
          return undefined;
        },
        // Three sweeps at least (one a minute): a question that got no answer under load is asked again.
        200_000,
        "npm start's reconcile to close the incident",
      ).catch((err: Error) => {
        const lines = dev.child.output().split('\n').filter((l) => /reconcile/i.test(l));
        throw new Error(`${err.message}; npm start logged of its reconcile: ${lines.slice(-20).join('\n') || '(nothing)'}`);
      });
      assert.equal(row.status, 'resolved');
      assert.ok(pd.requests.some((r) => r.method === 'GET' && r.path === `/incidents/${id}`), 'PagerDuty was asked');
    } finally {
      await dev.stop();
    }
  });
});
