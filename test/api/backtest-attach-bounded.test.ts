import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { MAX_LISTED_SUMMARY_BYTES, MAX_STORED_SUMMARY_BYTES } from '../../src/domain/backtest/index.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';

// POST /api/rules/{id}/backtest stores the summary within MAX_STORED_SUMMARY_BYTES (1 MiB of JSON): a
// window whose incidents name 150 services of kilobytes each (a name of control characters, each written
// as six in JSON) made a summary of 1.2 MB, stored as it was; every backtest attached over a long window
// added one. Over the bound, lists are left out and `truncated` says which, every count exact.

const ADMIN = 'backtest-bounded-admin-token-0123456789';
const HOUR = 3_600_000;

describe('POST /api/rules/{id}/backtest: the summary stored is bounded in bytes', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let from: Date;
  let to: Date;
  type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let call: Call;

  before(async function () {
    db = await createTestDatabase();
    from = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR);
    to = new Date(from.getTime() + 2 * 24 * HOUR);
    // 150 incidents, each on its own service whose id and name are 1,100 control characters (and its number).
    const incidents: SeededIncident[] = Array.from({ length: 150 }, (_, i) => {
      const inc = seededIncident({ id: `BND${String(i).padStart(4, '0')}`, host: `h${i}`, environment: 'prod-eu', at: new Date(from.getTime() + i * 60_000) });
      const service = `${'\u0001'.repeat(1100)}${i}`;
      inc.serviceId = service;
      inc.serviceName = service;
      (inc.events[0]!.body.event.data as { service: Record<string, unknown> }).service = { id: service, summary: service, type: 'service_reference' };
      return inc;
    });
    await storeHistory(db.db, incidents);
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    call = async (method, path, body) => {
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    };
  });
  after(async () => db?.close());

  it('a summary over 1 MiB is stored without its incident and group lists, marked truncated (bytes, maxBytes, dropped), its counts exact; the list answers it so', async function () {
    const created = await call('POST', '/api/rules', {
      name: 'disk-everywhere',
      services: ['*'],
      conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'disk' }],
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const attached = await call('POST', `/api/rules/${id}/backtest`, { from: from.toISOString(), to: to.toISOString() });
    assert.equal(attached.status, 201, JSON.stringify(attached.body).slice(0, 500));
    const s = attached.body.summary;
    assert.equal(s.truncated.maxBytes, MAX_STORED_SUMMARY_BYTES);
    assert.ok(s.truncated.bytes > MAX_STORED_SUMMARY_BYTES, String(s.truncated.bytes));
    assert.deepEqual(s.truncated.dropped, ['incidents', 'groups']);
    // Counts exact: 150 matches, on 150 services, of 150 incidents newly matched (nothing was recorded).
    assert.deepEqual([s.candidate.matched, s.candidate.byService, s.candidate.byServiceOmitted, s.candidate.byEnvironment, s.candidate.byEnvironmentOmitted], [150, [], 150, [], 1]);
    assert.deepEqual([s.vsRecorded.counts.newly_matched, s.vsRecorded.incidents.newly_matched, s.vsRecorded.incidentsOmitted.newly_matched], [150, [], 150]);
    assert.equal(s.candidate.perHour.length, 3);
    // As Postgres keeps it: at most twice the JSON written (a space after each , and :), within the read bound.
    const row = await db.db.selectFrom('rule_backtests').select('summary_bytes').where('rule_id', '=', id).executeTakeFirstOrThrow();
    assert.ok(row.summary_bytes <= 2 * MAX_STORED_SUMMARY_BYTES && row.summary_bytes <= MAX_LISTED_SUMMARY_BYTES, String(row.summary_bytes));
    const listed = await call('GET', `/api/rules/${id}/backtests`);
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body.items[0].summary.truncated, s.truncated);
    assert.equal(listed.body.items[0].summary.candidate.byServiceOmitted, 150);
  });
});
