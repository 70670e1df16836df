// The incident list is newest first, by (created_at, id), maybe for one environment: with many incidents,
// Postgres serves a page from an index in that order and stops at the page's end. Before the
// 2026-12-16 migration the default page read and sorted the whole table (about 70 ms of Postgres at 300,000
// incidents), a cost any read token could repeat. Asserted on the plan Postgres chooses, not on a timing.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { listIncidentsQuery, type IncidentFilter } from '../../src/db/repositories/incidents.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';

describe('the incident list is read from an index, in order', function () {
  let db: TestDatabase;
  before(async function () {
    db = await createTestDatabase();
    // 50,000 incidents over a year, in 20 environments, and planner statistics for them.
    await sql`insert into incidents (id, status, service_id, title, environment, assignees, workflow_id, created_at)
      select 'P' || n, case when n % 3 = 0 then 'resolved' else 'triggered' end, 'PSVC' || (n % 7), 'incident ' || n,
             jsonb_build_object('environment', 'env-' || (n % 20)), '[]', 'incident-P' || n, now() - (n || ' minutes')::interval * 10
      from generate_series(1, 50000) n`.execute(db.db);
    await sql`analyze incidents`.execute(db.db);
  });
  after(async () => {
    await db?.close();
  });

  const plan = async (f: IncidentFilter) => {
    const rows = await listIncidentsQuery(db.db, f).explain();
    return rows.map((r) => String(Object.values(r)[0])).join('\n');
  };

  for (const [what, f] of [
    ['the default first page', { limit: 51 }],
    ['a page after a cursor', { limit: 51, cursor: { createdAt: new Date(Date.now() - 30 * 86_400_000).toISOString(), id: 'P100' } }],
    ['one environment', { limit: 51, environment: 'env-7' }],
  ] as [string, IncidentFilter][]) {
    it(`${what}: an index scan in order, no sort of the table`, async function () {
      const p = await plan(f);
      assert.match(p, /Index Scan using incidents_(environment_)?created_idx/, p);
      assert.doesNotMatch(p, /Seq Scan|Sort/, p);
    });
  }
});
