import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { listRuleBacktestPage } from '../../src/db/repositories/backtests.js';
import { MAX_LISTED_SUMMARY_BYTES } from '../../src/domain/backtest/index.js';
import { LIST_PAGE_BYTES } from '../../src/services/list-pages.js';
import type { TestDatabase } from '../helpers/db.js';
import { ruleApp, type RuleApp } from '../helpers/rule-app.js';

// A summary stored before the bounds of a backtest summary is whatever it was, and a page of
// GET /api/rules/{id}/backtests takes one row at least: one such row of tens of MB (a group per distinct
// environment, a value of megabytes) was read whole into the API and answered whole. Planted here directly
// in Postgres, as no summary written today could be.
const ADMIN = 'backtests-legacy-admin-token-0123456789';
const MB = 1024 * 1024;

describe('GET /api/rules/{id}/backtests: a legacy oversized summary is not read whole', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let app: RuleApp['app'];
  let ruleId = '';
  let legacy = { id: '', bytes: 0 };
  let keyed = '';

  before(async function () {
    ({ db, app, ruleId } = await ruleApp(ADMIN, 'legacy-backtests'));
    // Within the read bound, with a group key of 1 MB: read, and answered with the key cut.
    const keyedRow = await sql<{ id: string }>`
      insert into rule_backtests (rule_id, version, actor, window_from, window_to, summary)
      values (${ruleId}, 1, 'legacy', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z',
        jsonb_build_object('candidate', jsonb_build_object('matched', 2, 'byService', jsonb_build_array(jsonb_build_object('key', 'P' || repeat('k', 1024 * 1024), 'name', 'svc', 'matched', 2, 'fired', 2, 'suppressed', 0)))))
      returning id::text`.execute(db.db);
    keyed = keyedRow.rows[0]!.id;
    // The newest, about 37 MB, built by Postgres: 5,000 environments of 1 KB, a value of 16 MB in the lane
    // and one of 16 MB beside it (both kept as they are by boundStoredSummary), and suppressedBy of 100 KB.
    const { rows } = await sql<{ id: string; summary_bytes: number }>`
      insert into rule_backtests (rule_id, version, actor, window_from, window_to, summary)
      values (${ruleId}, 1, 'legacy', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', jsonb_build_object(
        'window', jsonb_build_object('from', '2026-11-01T00:00:00.000Z', 'to', '2026-11-02T00:00:00.000Z', 'warmupFrom', '2026-11-01T00:00:00.000Z'),
        'events', jsonb_build_object('read', 5000, 'reported', 4900, 'stale', 0),
        'candidate', jsonb_build_object(
          'matched', 4321,
          'firings', 4000,
          'decisions', jsonb_build_object('run', 4000, 'dry_run', 0, 'skipped', 321, 'notify_only', 0),
          'peakPerHour', jsonb_build_object('hour', '2026-11-01T10:00:00.000Z', 'firings', 40, 'actions', 80),
          'suppressedBy', (select jsonb_object_agg('p' || i, repeat('s', 10)) from generate_series(1, 4000) i),
          'byEnvironment', (select jsonb_agg(jsonb_build_object('key', 'env-' || i || '-' || repeat('x', 1000), 'matched', 1, 'fired', 1, 'suppressed', 0)) from generate_series(1, 5000) i),
          'note', repeat('n', 16 * 1024 * 1024)),
        'hostile', repeat('h', 16 * 1024 * 1024)))
      returning id::text, summary_bytes`.execute(db.db);
    legacy = { id: rows[0]!.id, bytes: rows[0]!.summary_bytes };
    assert.ok(legacy.bytes > 36 * MB, `${legacy.bytes} bytes`);
  });
  after(async () => db?.close());

  it('leaves Postgres as its recap: the repository reads no more than a few KB of it', async function () {
    const { rows } = await listRuleBacktestPage(db.db, ruleId, { limit: 200, maxBytes: LIST_PAGE_BYTES });
    const read = rows.find((r) => r.id === legacy.id)!;
    assert.ok(JSON.stringify(read).length < 16 * 1024, `${JSON.stringify(read).length} characters read`);
    assert.equal(read.summary, null);
    assert.ok(Array.isArray(read.recap));
    // Counted at its size as stored (Postgres unpacks all of it to take the recap), it fills its page: the
    // next backtest is on the next one.
    assert.deepEqual(rows.map((r) => r.id), [legacy.id]);
    const next = await listRuleBacktestPage(db.db, ruleId, { before: legacy.id, limit: 200, maxBytes: LIST_PAGE_BYTES });
    assert.deepEqual([next.rows.map((r) => r.id), next.last], [[keyed], null]);
  });

  it('a page makes Postgres unpack one summary over 4 MiB at most: several of them are listed a page each, nextCursor reaching them all', async function () {
    const res = await app.request('/api/rules', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'legacy-backtests-several', actions: [{ type: 'pagerduty.note', content: 'hi' }] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const several = ((await res.json()) as { id: string }).id;
    // Four legacy summaries of 5 MB, a small one between the second and the third: all of them on one page
    // before, as a recap was counted at its own bound (137 KB), so a page could unpack 61 of them.
    const planted: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { rows } = await sql<{ id: string }>`
        insert into rule_backtests (rule_id, version, actor, window_from, window_to, summary)
        values (${several}, 1, 'legacy', '2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z',
          jsonb_build_object('candidate', jsonb_build_object('matched', ${i}::int), 'note', repeat('n', ${i === 2 ? 10 : 5 * MB}::int)))
        returning id::text`.execute(db.db);
      planted.unshift(rows[0]!.id);
    }
    const seen: string[] = [];
    const truncatedPerPage: number[] = [];
    let cursor: string | null = null;
    do {
      const page = await app.request(`/api/rules/${several}/backtests${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`, { headers: { authorization: `Bearer ${ADMIN}` } });
      assert.equal(page.status, 200);
      const body = (await page.json()) as { items: { id: string; summary: { truncated?: unknown } }[]; nextCursor: string | null };
      seen.push(...body.items.map((b) => b.id));
      truncatedPerPage.push(body.items.filter((b) => b.summary.truncated !== undefined).length);
      cursor = body.nextCursor;
      assert.ok(truncatedPerPage.length <= 10, 'pages do not end');
    } while (cursor);
    assert.ok(truncatedPerPage.every((n) => n <= 1), `recaps per page: ${truncatedPerPage.join(', ')}`);
    // One at most as two of them pass a page's bytes.
    assert.ok(LIST_PAGE_BYTES <= 2 * MAX_LISTED_SUMMARY_BYTES);
    assert.deepEqual(seen, planted);
    assert.equal(truncatedPerPage.reduce((a, b) => a + b, 0), 4);
  });

  it('answers the recap (window, events, counts) marked truncated, and the API heap stays within a few MB', async function () {
    const warm = await app.request(`/api/rules/${ruleId}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(warm.status, 200);
    const used = () => {
      const m = process.memoryUsage();
      return m.heapUsed + m.external;
    };
    const baseline = used();
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, used());
    }, 1);
    let text: string;
    let status: number;
    try {
      const res = await app.request(`/api/rules/${ruleId}/backtests`, { headers: { authorization: `Bearer ${ADMIN}` } });
      status = res.status;
      text = await res.text();
      peak = Math.max(peak, used());
    } finally {
      clearInterval(sampler);
    }
    assert.equal(status, 200, text.slice(0, 300));
    assert.ok(peak - baseline < 24 * MB, `the heap grew by ${((peak - baseline) / MB).toFixed(1)} MB`);
    assert.ok(Buffer.byteLength(text) < 64 * 1024, `an answer of ${Buffer.byteLength(text)} bytes`);
    type Page = { items: { id: string; summary: Record<string, unknown> & { candidate: Record<string, unknown> } }[]; nextCursor: string | null };
    const body = JSON.parse(text) as Page;
    const s = body.items.find((b) => b.id === legacy.id)!.summary;
    assert.deepEqual(s.truncated, { bytes: legacy.bytes, maxBytes: MAX_LISTED_SUMMARY_BYTES });
    assert.deepEqual(s.events, { read: 5000, reported: 4900, stale: 0 });
    assert.equal((s.window as { from: string }).from, '2026-11-01T00:00:00.000Z');
    assert.deepEqual([s.candidate.matched, s.candidate.firings, s.candidate.decisions, s.candidate.peakPerHour], [4321, 4000, { run: 4000, dry_run: 0, skipped: 321, notify_only: 0 }, { hour: '2026-11-01T10:00:00.000Z', firings: 40, actions: 80 }]);
    // Lists and values over the recap's bound are left out.
    assert.deepEqual(['hostile' in s, 'byEnvironment' in s.candidate, 'note' in s.candidate, 'suppressedBy' in s.candidate], [false, false, false, false]);
    // The summary within the read bound is read (on the next page), its 1 MB group key answered cut.
    const next = await app.request(`/api/rules/${ruleId}/backtests?cursor=${encodeURIComponent(body.nextCursor!)}`, { headers: { authorization: `Bearer ${ADMIN}` } });
    const k = ((await next.json()) as Page).items.find((b) => b.id === keyed)!.summary.candidate as { byService: { key: string }[] };
    assert.ok(Buffer.byteLength(k.byService[0]!.key) <= 1024 && /…\(truncated #[0-9a-f]{32}\)$/.test(k.byService[0]!.key), k.byService[0]!.key.slice(-60));
  });
});
