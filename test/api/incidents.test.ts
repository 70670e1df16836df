import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

describe('incidents API: filters and pagination', function () {
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  const get = (path: string) => app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  before(async function () {
    db = await createTestDatabase();
    const temporal = await testTemporal();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address, TEMPORAL_UI_URL: 'https://temporal.example.com' });
    app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const rows = Array.from({ length: 7 }, (_, i) => ({
      id: `PINC${i}`,
      title: `incident ${i}`,
      status: i % 3 === 0 ? 'resolved' : 'triggered',
      service_id: i < 4 ? 'PSVCA' : 'PSVCB',
      environment: JSON.stringify(i % 2 === 0 ? { environment: 'prod', host: `h${i}`, sources: { host: 'x' } } : { environment: 'stage' }),
      assignees: '[]',
      workflow_id: `incident-PINC${i}`,
      created_at: new Date(Date.UTC(2026, 0, 1 + i)),
    }));
    await db.db.insertInto('incidents').values(rows).execute();
  });

  const ids = async (path: string) => {
    const res = await get(path);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as { items: { id: string; temporalUrl: string; environment: Record<string, unknown> }[]; nextCursor: string | null };
  };

  it('lists newest first and filters by status, service, environment and time', async function () {
    assert.deepEqual((await ids('/api/incidents')).items.map((i) => i.id), ['PINC6', 'PINC5', 'PINC4', 'PINC3', 'PINC2', 'PINC1', 'PINC0']);
    assert.deepEqual((await ids('/api/incidents?status=resolved')).items.map((i) => i.id), ['PINC6', 'PINC3', 'PINC0']);
    assert.deepEqual((await ids('/api/incidents?service=PSVCA&status=triggered')).items.map((i) => i.id), ['PINC2', 'PINC1']);
    assert.deepEqual((await ids('/api/incidents?environment=stage')).items.map((i) => i.id), ['PINC5', 'PINC3', 'PINC1']);
    assert.deepEqual((await ids('/api/incidents?since=2026-01-03T00:00:00Z&until=2026-01-05T00:00:00Z')).items.map((i) => i.id), ['PINC3', 'PINC2']);
    const one = (await ids('/api/incidents?service=PSVCB')).items[0]!;
    assert.equal(one.temporalUrl, 'https://temporal.example.com/namespaces/default/workflows/incident-PINC6');
    assert.equal(one.environment.sources, undefined, 'extractor bookkeeping stays out of the list');
  });

  it('pages with an opaque cursor until the end', async function () {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof ids>> = await ids(`/api/incidents?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    assert.equal(pages, 3);
    assert.deepEqual(seen, ['PINC6', 'PINC5', 'PINC4', 'PINC3', 'PINC2', 'PINC1', 'PINC0']);
  });

  it('pages through incidents created within one millisecond without skipping any (a storm, one transaction)', async function () {
    // Postgres keeps microseconds; a cursor cut to JavaScript's milliseconds skipped PMS1 and PMS2.
    const at = ['2026-02-01 00:00:00.123900+00', '2026-02-01 00:00:00.123500+00', '2026-02-01 00:00:00.123100+00', '2026-02-01 00:00:00.100000+00'];
    await db.db
      .insertInto('incidents')
      .values(at.map((t, i) => ({ id: `PMS${i}`, status: 'triggered', workflow_id: `incident-PMS${i}`, service_id: 'PSVCMS', assignees: '[]', environment: '{}', created_at: sql<Date>`${t}::timestamptz` })))
      .execute();
    const seen: string[] = [];
    let cursor: string | null = null;
    for (let pages = 0; pages < 10; pages++) {
      const page: Awaited<ReturnType<typeof ids>> = await ids(`/api/incidents?service=PSVCMS&limit=1${cursor ? `&cursor=${cursor}` : ''}`);
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      if (!cursor) break;
    }
    assert.deepEqual(seen, ['PMS0', 'PMS1', 'PMS2', 'PMS3']);
    // A cursor of an earlier release (an ISO instant) still pages; a forged one that is no timestamp is a 400.
    const old = Buffer.from('2026-01-06T00:00:00.000Z|PINC5').toString('base64url');
    assert.deepEqual((await ids(`/api/incidents?limit=2&cursor=${old}`)).items.map((i) => i.id), ['PINC4', 'PINC3']);
    // The zones and fractions Postgres writes and takes still page: the same instant, spelled in +05:30 and +0530.
    for (const at of ['2026-01-06 05:30:00.000000+05:30', '2026-01-06 05:30:00+0530', '2024-02-29 00:00:00.5+00']) {
      const res = await get(`/api/incidents?limit=2&cursor=${Buffer.from(`${at}|PINC5`).toString('base64url')}`);
      assert.equal(res.status, 200, at);
    }
    // Times Postgres refuses that Date.parse takes (a day past its month's end, a zone past ±15:59) were a 500.
    const refused = ['2026-02-30 10:00:00+00', '2026-04-31T10:00:00Z', '2026-01-01 10:00:00+23:59', '2026-01-01T10:00:00+16:00', '2026-01-01 24:00:00+00', '2026-01-01 10:60:00+00'];
    for (const forged of ['2026-01-06 00:00:00+00; drop table incidents|PINC5', 'yesterday|PINC5', '2026-01-06T00:00:00Z|PINC5|x', '1969-12-31T00:00:00Z|PINC5', ...refused.map((at) => `${at}|PINC5`)]) {
      const res = await get(`/api/incidents?cursor=${Buffer.from(forged).toString('base64url')}`);
      assert.equal(res.status, 400, forged);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
    }
  });

  it('answers 400 naming the bad parameter, 404 for an unknown incident, 401 without a token', async function () {
    const bad = await get('/api/incidents?status=sleeping&limit=0');
    assert.equal(bad.status, 400);
    const problem = (await bad.json()) as { errors: { path: string }[] };
    assert.deepEqual(problem.errors.map((e) => e.path).sort(), ['limit', 'status']);
    assert.equal((await get('/api/incidents?cursor=not-a-cursor')).status, 400);
    const missing = await get('/api/incidents/PNOPE');
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
    assert.equal((await app.request('/api/incidents')).status, 401);
  });

  // An incident open for weeks, its notes and status updates each an event and each event matched by
  // rules, made its detail an answer without bound: every row of three lists in one JSON body.
  it('an incident with more history than the detail holds answers the newest 500 of each list, oldest first, counting what it left out; a waiting approval is never left out', async function () {
    const id = 'PBIG1';
    await db.db.insertInto('incidents').values({ id, title: 'long', status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${id}` }).execute();
    const ev = (n: number) => `EV${String(n).padStart(4, '0')}`;
    const ar = (n: number) => `AR${String(n).padStart(4, '0')}`;
    await sql`insert into incident_events (event_id, incident_id, event_type, resource_type, occurred_at, payload)
      select 'EV' || lpad(n::text, 4, '0'), ${id}, 'incident.annotated', 'incident', timestamptz '2026-01-01Z' + n * interval '1 minute', '{}'::jsonb
      from generate_series(1, 620) n`.execute(db.db);
    await sql`insert into rule_matches (incident_id, event_id, rule_id, rule_version, rule_name, explanation, decision)
      select ${id}, 'EV' || lpad(n::text, 4, '0'), 'r1', 1, 'rule one', '{}'::jsonb, 'skipped' from generate_series(1, 610) n`.execute(db.db);
    await sql`insert into action_runs (id, idempotency_key, incident_id, action_index, action_id, action_type, status, created_at)
      select 'AR' || lpad(n::text, 4, '0'), 'big-' || n, ${id}, 0, 'a', 'notify.webhook', case when n = 3 then 'awaiting_approval' else 'succeeded' end,
        timestamptz '2026-01-01Z' + n * interval '1 minute'
      from generate_series(1, 605) n`.execute(db.db);

    const res = await get(`/api/incidents/${id}`);
    assert.equal(res.status, 200);
    const d = (await res.json()) as { events: { eventId: string }[]; matches: { eventId: string }[]; actionRuns: { id: string; status: string }[]; omitted: Record<string, number> };
    assert.deepEqual(d.omitted, { events: 120, matches: 110, actionRuns: 105 });
    assert.deepEqual(d.events.map((e) => e.eventId), Array.from({ length: 500 }, (_, i) => ev(121 + i)), 'the newest 500 events, oldest first');
    assert.deepEqual(d.matches.map((m) => m.eventId), Array.from({ length: 500 }, (_, i) => ev(111 + i)), 'the newest 500 matches, oldest first');
    assert.deepEqual(d.actionRuns.map((r) => r.id), [ar(3), ...Array.from({ length: 499 }, (_, i) => ar(107 + i))], 'the waiting approval, then the newest 499');
    assert.equal(d.actionRuns[0]!.status, 'awaiting_approval');

    // Within the bound nothing is left out, and the lists are whole.
    const small = (await (await get('/api/incidents/PINC1')).json()) as { omitted: Record<string, number> };
    assert.deepEqual(small.omitted, { events: 0, matches: 0, actionRuns: 0 });
  });

  it('the list leaves out description and alerts; the incident shows its alerts as stored, the marker of those left out as alertsOmitted', async function () {
    const alerts = [{ id: 'A1', type: 'alert', body: { details: { host: 'h1' } } }, { type: 'selfhealing_alerts_omitted', omitted: 3, omittedBytes: 900000 }];
    await db.db.updateTable('incidents').set({ description: 'long text', alerts: JSON.stringify(alerts) }).where('id', '=', 'PINC2').execute();
    const listed = (await (await get('/api/incidents?service=PSVCA&status=triggered')).json()) as { items: Record<string, unknown>[] };
    assert.equal(listed.items.find((i) => i['id'] === 'PINC2')?.['title'], 'incident 2');
    for (const item of listed.items) assert.deepEqual([item['alerts'], item['description']], [undefined, undefined]);
    const one = (await (await get('/api/incidents/PINC2')).json()) as { description: string; alerts: unknown[]; alertsOmitted: unknown };
    assert.equal(one.description, 'long text');
    assert.deepEqual(one.alerts, [alerts[0]]);
    assert.deepEqual(one.alertsOmitted, { count: 3, bytes: 900000 });
    assert.equal(((await (await get('/api/incidents/PINC1')).json()) as { alertsOmitted: unknown }).alertsOmitted, null);
  });
});
