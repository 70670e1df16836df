import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createIncidentSteps } from '../../activities/incidents.js';
import { listIncidents, listIncidentsQuery } from '../../src/db/repositories/incidents.js';
import { buildContext } from '../../src/domain/rules/evaluate.js';
import { MAX_STORED_ALERTS_BYTES, OMITTED_ALERTS_TYPE } from '../../src/domain/stored-alerts.js';
import { createLogger } from '../../src/logger.js';
import { createPagerDutyClient } from '../../src/pagerduty/rest-client.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newIncidentId } from '../helpers/samples.js';

// A reviewer's repro: GET /api/incidents read every incident's alerts (up to 50 of PagerDuty's 512 KB
// each) for a list that shows none of them: 101 incidents of 50 alerts of 40 KB were 202 MB read per
// request. The list now reads named columns, and the alerts stored are bounded in bytes when fetched.
describe('incident alerts: bounded in bytes, never read by the list', function () {
  const TOKEN = 'pd-alert-bytes';
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

  it('a page of incidents with 2 MB of alerts each reads none of them, nor the description', async function () {
    await sql`insert into incidents (id, status, service_id, title, description, environment, assignees, workflow_id, created_at, alerts)
      select 'PBIG' || n, 'triggered', 'PSVC', 'incident ' || n, repeat('d', 100000), '{}'::jsonb, '[]', 'incident-PBIG' || n, now() - (n || ' minutes')::interval,
             (select jsonb_agg(jsonb_build_object('id', 'A' || k, 'body', jsonb_build_object('details', repeat('x', 40000)))) from generate_series(1, 50) k)
      from generate_series(1, 5) n`.execute(db.db);
    const compiled = listIncidentsQuery(db.db, { limit: 101 }).compile().sql;
    assert.doesNotMatch(compiled, /\*|"alerts"|"description"/, compiled);
    const rows = await listIncidents(db.db, { limit: 101 });
    assert.equal(rows.length, 5);
    for (const r of rows) {
      assert.equal('alerts' in r, false);
      assert.equal('description' in r, false);
    }
    const bytes = Buffer.byteLength(JSON.stringify(rows));
    assert.ok(bytes < 10_000, `the page read ${bytes} bytes for 5 incidents`);
  });

  it('stores a hostile alert set capped at 1 MiB, with a marker counting what was left out', async function () {
    const id = newIncidentId();
    await db.db.insertInto('incidents').values({ id, status: 'triggered', service_id: 'PSVC', environment: '{}', assignees: '[]', workflow_id: `incident-${id}` }).execute();
    // The first alert alone is over 1 MiB; the next 49 are 140 KB each (8 MB together, under the REST client's 8 MiB page).
    const alerts = [
      { id: 'AHUGE', type: 'alert', body: { details: { blob: 'h'.repeat(1_100_000) } } },
      ...Array.from({ length: 49 }, (_, i) => ({ id: `A${i}`, type: 'alert', summary: `alert ${i}`, body: { details: { host: `h${i}`, blob: 'x'.repeat(140_000) } } })),
    ];
    pd.seedAlerts(id, alerts);
    const pagerduty = createPagerDutyClient({ baseUrl: pd.url, token: TOKEN, fromEmail: 'selfheal@example.com' });
    const steps = createIncidentSteps({ db: db.db, logger: createLogger({ level: 'silent' }), extractors: {}, pagerduty });
    assert.deepEqual(await steps.enrichIncident({ incidentId: id }), { alerts: 7 }, 'the alerts kept, the marker not counted');

    const row = await sql<{ bytes: number; alerts: { id?: string; type?: string; omitted?: number; omittedBytes?: number }[] }>`
      select octet_length(alerts::text) as bytes, alerts from incidents where id = ${id}`.execute(db.db);
    const stored = row.rows[0]!;
    assert.ok(stored.bytes <= MAX_STORED_ALERTS_BYTES + 1024, `stored ${stored.bytes} bytes of alerts`);
    // The oversized first is left out, then the 140 KB ones while they fit in 1 MiB (7), then the rest.
    assert.deepEqual(
      stored.alerts.slice(0, -1).map((a) => a.id),
      ['A0', 'A1', 'A2', 'A3', 'A4', 'A5', 'A6'],
    );
    const marker = stored.alerts.at(-1)!;
    assert.equal(marker.type, OMITTED_ALERTS_TYPE);
    assert.equal(marker.omitted, 43);
    assert.ok(marker.omittedBytes! > 42 * 140_000 + 1_100_000, String(marker.omittedBytes));

    // Rules see the alerts kept, never the marker.
    const ctx = buildContext({ incident: {}, alerts: stored.alerts });
    assert.equal(ctx.alerts.length, 7);
    assert.equal(ctx.alerts.some((a) => a['type'] === OMITTED_ALERTS_TYPE), false);
  });
});
