import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { insertRuleBacktest, measureRuleBacktests } from '../../src/db/repositories/backtests.js';
import { LIST_PAGE_BYTES } from '../../src/services/list-pages.js';
import type { TestDatabase } from '../helpers/db.js';
import { ruleApp, type RuleApp } from '../helpers/rule-app.js';

// GET /api/rules/{id}/backtests read 200 whole summaries, whatever their size (a summary's groups grew
// with every distinct extracted value): now paged by `limit`, `cursor` and LIST_PAGE_BYTES like the other lists.
const ADMIN = 'backtests-list-admin-token-0123456789';

describe('GET /api/rules/{id}/backtests: paged by bytes', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: RuleApp['app'];
  let ruleId = '';
  const ids: string[] = [];
  const get = async (path: string) => {
    const res = await app.request(path, { headers: { authorization: `Bearer ${ADMIN}` } });
    const text = await res.text();
    return { status: res.status, bytes: Buffer.byteLength(text), body: JSON.parse(text) as { items: { id: string }[]; nextCursor: string | null; errors?: { path: string }[] } };
  };

  before(async function () {
    ({ db, app, ruleId } = await ruleApp(ADMIN, 'big-backtests'));
    // Five hostile summaries of 3 MB each (a group per distinct environment): 15 MB together.
    const groups = Array.from({ length: 3000 }, (_, i) => ({ key: `env-${i}-${'x'.repeat(960)}`, matched: 1, fired: 1, suppressed: 0 }));
    for (let i = 0; i < 5; i++) {
      const saved = await insertRuleBacktest(db.db, { ruleId, version: 1, actor: 'admin', from: new Date('2026-11-01T00:00:00Z'), to: new Date('2026-11-02T00:00:00Z'), summary: { candidate: { byEnvironment: groups } } });
      ids.unshift(String(saved.id));
    }
  });
  after(async () => db?.close());

  it('a page holds at most 8 MiB of summaries (one at least); following nextCursor lists every backtest once, newest first', async function () {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = await get(`/api/rules/${ruleId}/backtests${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.equal(page.status, 200, JSON.stringify(page.body).slice(0, 300));
      assert.ok(page.bytes <= LIST_PAGE_BYTES + 64 * 1024, `a page of ${page.bytes} bytes`);
      assert.ok(page.body.items.length >= 1);
      seen.push(...page.body.items.map((b) => b.id));
      cursor = page.body.nextCursor;
      pages++;
      assert.ok(pages < 10, 'pages do not end');
    } while (cursor);
    assert.deepEqual(seen, ids);
    assert.equal(pages, 3);
    const one = await get(`/api/rules/${ruleId}/backtests?limit=1`);
    assert.deepEqual([one.body.items.map((b) => b.id), typeof one.body.nextCursor], [[ids[0]], 'string']);
  });

  it('a cursor this listing did not give is a 400 naming cursor', async function () {
    for (const cursor of ['nope', Buffer.from(JSON.stringify(['abc'])).toString('base64url')]) {
      const res = await get(`/api/rules/${ruleId}/backtests?cursor=${cursor}`);
      assert.equal(res.status, 400, cursor);
      assert.equal(res.body.errors?.[0]?.path, 'cursor');
    }
  });

  it('a summary stored before the bounds (500 environments and services, an entry per hour of a year) is answered within them: 100 of each, 400 counted out, perHour in 12-hour buckets', async function () {
    const from = new Date('2025-11-01T00:00:00Z');
    const to = new Date('2026-11-02T00:00:00Z');
    const groups = (kind: string) => Array.from({ length: 500 }, (_, i) => ({ key: `${kind}-${String(i).padStart(3, '0')}`, matched: 1000 - i, fired: 1, suppressed: 0 }));
    const perHour = Array.from({ length: (to.getTime() - from.getTime()) / 3_600_000 }, (_, i) => ({ hour: new Date(from.getTime() + i * 3_600_000).toISOString(), firings: 1 + (i % 3), actions: 2 }));
    const candidate = { matched: 9, peakPerHour: perHour[2], perHour, byService: groups('P'), byEnvironment: groups('env') };
    const saved = await insertRuleBacktest(db.db, { ruleId, version: 2, actor: 'admin', from, to, summary: { window: { from: from.toISOString(), to: to.toISOString() }, candidate } });
    const page = await get(`/api/rules/${ruleId}/backtests?limit=1`);
    assert.equal(page.status, 200);
    const b = page.body.items[0] as unknown as { id: string; summary: { candidate: Record<string, unknown> & { byEnvironment: { key: string }[]; byService: { key: string }[]; perHour: { hour: string; firings: number; actions: number }[] } } };
    assert.equal(b.id, String(saved.id));
    const c = b.summary.candidate;
    assert.deepEqual([c.byEnvironment.length, c.byEnvironmentOmitted, c.byService.length, c.byServiceOmitted], [100, 400, 100, 400]);
    assert.deepEqual([c.byEnvironment[0]!.key, c.byEnvironment[99]!.key], ['env-000', 'env-099']);
    assert.equal(c.perHourBucketHours, 12);
    assert.equal(c.perHour.length, 732);
    assert.deepEqual(c.perHour.slice(0, 2), [{ hour: '2025-11-01T00:00:00.000Z', firings: 24, actions: 24 }, { hour: '2025-11-01T12:00:00.000Z', firings: 24, actions: 24 }]);
    const sum = (hs: { firings: number; actions: number }[]) => hs.reduce((a, h) => [a[0]! + h.firings, a[1]! + h.actions], [0, 0]);
    assert.deepEqual(sum(c.perHour), sum(perHour));
    assert.deepEqual(c.peakPerHour, perHour[2]);
    assert.ok(page.bytes < 100_000, `${page.bytes} bytes`);
  });

  it('measures a page from summary_bytes, kept by Postgres: a role that may not read summary measures it', async function () {
    const role = `bt_measure_${process.pid}`;
    await sql.raw(`drop role if exists ${role}`).execute(db.db);
    await sql.raw(`create role ${role}`).execute(db.db);
    try {
      await sql.raw(`grant select (id, rule_id, version, actor, window_from, window_to, created_at, summary_bytes) on rule_backtests to ${role}`).execute(db.db);
      const sizes = await db.db.transaction().execute(async (trx) => {
        await sql.raw(`set local role ${role}`).execute(trx);
        return measureRuleBacktests(trx, ruleId, { limit: 200 });
      });
      const stored = await db.db.selectFrom('rule_backtests').select(['id', sql<number>`octet_length(summary::text)`.as('bytes')]).where('rule_id', '=', ruleId).orderBy('id', 'desc').execute();
      assert.deepEqual(sizes.map((s) => [String(s.id), Number(s.bytes)]), stored.map((s) => [String(s.id), Number(s.bytes)]));
    } finally {
      await sql.raw(`drop owned by ${role}`).execute(db.db);
      await sql.raw(`drop role ${role}`).execute(db.db);
    }
  });
});
