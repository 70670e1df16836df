import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { listEnvironmentPage } from '../../src/db/repositories/environments.js';
import { listJobPage } from '../../src/db/repositories/jobs.js';
import { listRulePage } from '../../src/db/repositories/rules.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { stubScheduleClient } from '../helpers/schedule-stub.js';

// GET /api/rules, /api/jobs and /api/environments are paged by `limit`, `cursor`/`nextCursor` and bytes
// (docs/security.md "Answers"). A cursor is only a position: the rows after it are still those of the teams
// the caller may read, on every page, with the filters of the request; one this API did not give is a 400
// naming `cursor`. The byte cap of a rule page is proven end to end in test/cli/export-large-rules.test.ts.

const ADMIN = 'list-pages-admin-token-0123456789abcd';
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- JSON answers, read by the assertions
type Doc = Record<string, any>;

describe('API lists paged by cursor and bytes: rules, jobs, environments', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;
  let pay = '';
  let shop = '';

  const call = async (token: string, method: string, path: string, body?: unknown) => {
    const headers: Record<string, string> = { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const res = await app.request(path, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : {}) as Doc };
  };
  const ok = async (token: string, method: string, path: string, body?: unknown) => {
    const res = await call(token, method, path, body);
    assert.ok(res.status < 300, `${method} ${path}: ${res.status} ${JSON.stringify(res.body)}`);
    return res.body;
  };
  /** Every page of `path` with `limit`, following nextCursor: the items, and how many pages. */
  const pages = async (token: string, path: string, limit: number) => {
    const items: Doc[] = [];
    let cursor: string | null = null;
    let n = 0;
    do {
      const sep = path.includes('?') ? '&' : '?';
      const page = await ok(token, 'GET', `${path}${sep}limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      assert.ok(page.items.length <= limit);
      items.push(...(page.items as Doc[]));
      cursor = page.nextCursor as string | null;
      n++;
      assert.ok(n < 100, 'pages do not end');
    } while (cursor);
    return { items, pages: n };
  };
  const rule = (name: string, team: string, extra: Doc = {}) => ({ name, team, actions: [{ type: 'pagerduty.note', content: 'hi' }], ...extra });

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
    app = createApp({ config, db: db.db, temporal: stubScheduleClient().temporal, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const name of ['pay', 'shop']) await ok(ADMIN, 'POST', '/api/teams', { name });
    pay = (await ok(ADMIN, 'POST', '/api/tokens', { name: 'pay-viewer', teams: ['pay:viewer'] })).token as string;
    shop = (await ok(ADMIN, 'POST', '/api/tokens', { name: 'shop-viewer', teams: ['shop:viewer'] })).token as string;
    // Interleaved by name: a page of one team's rules never holds the other's, whatever the cursor.
    for (const [i, letter] of ['a', 'b', 'c', 'd', 'e', 'f', 'g'].entries()) {
      await ok(ADMIN, 'POST', '/api/rules', rule(`${letter}-pay`, 'pay', i % 2 ? { enabled: false } : {}));
      await ok(ADMIN, 'POST', '/api/rules', rule(`${letter}-shop`, 'shop'));
      await ok(ADMIN, 'POST', '/api/environments', { name: `${letter}-pay-env`, team: 'pay' });
      await ok(ADMIN, 'POST', '/api/environments', { name: `${letter}-shop-env`, team: 'shop' });
      await ok(ADMIN, 'POST', '/api/jobs', { id: `${letter}-pay-job`, name: `${letter} pay job`, team: 'pay', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
      await ok(ADMIN, 'POST', '/api/jobs', { id: `${letter}-shop-job`, name: `${letter} shop job`, team: 'shop', schedule: { interval: '1h' }, targets: { all: true }, script: 'probe.sh' });
    }
  });
  after(async () => db?.close());

  it('pages each list a row at a time: every row once, in order, then nextCursor null; the default page holds them all', async () => {
    for (const [path, key] of [
      ['/api/rules', 'name'],
      ['/api/environments', 'name'],
      ['/api/jobs', 'id'],
    ] as const) {
      const all = await ok(ADMIN, 'GET', path);
      assert.equal(all.items.length, 14, path);
      assert.equal(all.nextCursor, null, path);
      const paged = await pages(ADMIN, path, 1);
      assert.equal(paged.pages, 14, path);
      assert.deepEqual(
        paged.items.map((x) => x[key]),
        (all.items as Doc[]).map((x) => x[key]),
        path,
      );
      assert.deepEqual(
        paged.items.map((x) => x[key]),
        [...paged.items.map((x) => x[key] as string)].sort(),
        `${path} is ordered by ${key}`,
      );
      const three = await pages(ADMIN, path, 3);
      assert.equal(three.pages, 5, path);
      assert.equal(three.items.length, 14, path);
    }
  });

  it("a team's reader pages through its own team's rows only, and the filters apply on every page", async () => {
    for (const [token, team] of [
      [pay, 'pay'],
      [shop, 'shop'],
    ] as const) {
      for (const path of ['/api/rules', '/api/environments', '/api/jobs']) {
        const { items } = await pages(token, path, 2);
        assert.equal(items.length, 7, `${team} ${path}`);
        assert.ok(
          items.every((x) => x.team === team),
          `${team} ${path}`,
        );
      }
    }
    const disabled = await pages(pay, '/api/rules?enabled=false', 1);
    assert.deepEqual(
      disabled.items.map((r) => r.name),
      ['b-pay', 'd-pay', 'f-pay'],
    );
  });

  it("a cursor made from another team's row reaches none of that team's rows and tells nothing of them", async () => {
    // Shop's cursor after b-shop, replayed by pay's reader: pay's rows after that position, nothing of shop's.
    const first = await ok(shop, 'GET', '/api/rules?limit=2');
    assert.deepEqual(
      (first.items as Doc[]).map((r) => r.name),
      ['a-shop', 'b-shop'],
    );
    const replayed = await ok(pay, 'GET', `/api/rules?limit=100&cursor=${first.nextCursor as string}`);
    assert.deepEqual(
      (replayed.items as Doc[]).map((r) => r.name),
      ['c-pay', 'd-pay', 'e-pay', 'f-pay', 'g-pay'],
    );
    assert.equal(replayed.nextCursor, null);
    // A position named after a rule id of shop (made up by pay): the same answer as any other position there.
    const shopRule = (first.items as Doc[])[1]!;
    const forged = Buffer.from(JSON.stringify([shopRule.name, shopRule.id])).toString('base64url');
    const made = Buffer.from(JSON.stringify([shopRule.name, '00000000-0000-4000-8000-000000000000'])).toString('base64url');
    assert.deepEqual((await ok(pay, 'GET', `/api/rules?cursor=${forged}`)).items, (await ok(pay, 'GET', `/api/rules?cursor=${made}`)).items);
    for (const path of ['/api/environments', '/api/jobs']) {
      const shopFirst = await ok(shop, 'GET', `${path}?limit=1`);
      const payAfter = await ok(pay, 'GET', `${path}?cursor=${shopFirst.nextCursor as string}`);
      // After a-shop-…: b-pay-… to g-pay-…, pay's own rows only.
      assert.equal(payAfter.items.length, 6, path);
      assert.ok((payAfter.items as Doc[]).every((x) => x.team === 'pay' && !String(x.id ?? x.name).startsWith('a-')), path);
    }
  });

  it('a cursor this API did not give is a 400 naming cursor, never a 500', async () => {
    const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
    const forged = [
      'not a cursor!',
      '%00',
      'x'.repeat(1001),
      b64('{"name":"a"}'),
      b64('not json'),
      b64([]),
      b64(['a', 'b', 'c']),
      b64([1, 2]),
      b64(['', '']),
      b64(['a\u0000', 'x']),
      b64(['\ud800', 'x']),
      b64(['a'.repeat(301), 'x']),
    ];
    for (const path of ['/api/rules', '/api/environments', '/api/jobs']) {
      for (const cursor of [...forged, ...(path === '/api/rules' ? [b64(['a-pay'])] : [b64(['a', 'b'])])]) {
        const res = await call(ADMIN, 'GET', `${path}?cursor=${encodeURIComponent(cursor)}`);
        assert.equal(res.status, 400, `${path} ${cursor.slice(0, 40)}: ${res.status} ${JSON.stringify(res.body)}`);
        assert.ok(
          (res.body.errors as { path: string }[]).some((e) => e.path === 'cursor'),
          `${path}: ${JSON.stringify(res.body)}`,
        );
      }
      for (const limit of ['0', '501', 'x']) {
        const res = await call(ADMIN, 'GET', `${path}?limit=${limit}`);
        assert.equal(res.status, 400, `${path} limit=${limit}`);
        assert.equal(res.body.errors[0].path, 'limit');
      }
    }
  });

  it('a page ends where its rows pass the bytes (one row at least), measured by the columns Postgres keeps', async () => {
    const measured = await sql<{ rules: boolean; jobs: boolean; envs: boolean }>`
      select (select bool_and(definition_bytes = octet_length(definition::text)) from rules) as rules,
             (select bool_and(definition_bytes = octet_length(definition::text)) from jobs) as jobs,
             (select bool_and(row_bytes = coalesce(octet_length(description), 0) + octet_length(labels::text) + coalesce(octet_length(ssh::text), 0) + octet_length(maintenance_windows::text)) from environments) as envs`.execute(db.db);
    assert.deepEqual(measured.rows[0], { rules: true, jobs: true, envs: true });
    const one = await db.db.selectFrom('rules').select('definition_bytes').orderBy('name').executeTakeFirstOrThrow();
    const rules = await listRulePage(db.db, {}, { limit: 100, maxBytes: one.definition_bytes * 2 + 1 });
    assert.equal(rules.rows.length, 2);
    assert.deepEqual(rules.last, { name: rules.rows[1]!.name, id: rules.rows[1]!.id });
    const tiny = await listRulePage(db.db, {}, { limit: 100, maxBytes: 1 });
    assert.equal(tiny.rows.length, 1, 'one row at least');
    const jobs = await listJobPage(db.db, undefined, { limit: 100, maxBytes: 1 });
    assert.deepEqual(
      [jobs.rows.length, jobs.last],
      [1, 'a-pay-job'],
    );
    const envs = await listEnvironmentPage(db.db, ['shop'], { limit: 100, maxBytes: 1, after: 'a-shop-env' });
    assert.deepEqual(
      [envs.rows.map((e) => e.name), envs.last],
      [['b-shop-env'], 'b-shop-env'],
    );
    const rest = await listEnvironmentPage(db.db, ['shop'], { limit: 100, maxBytes: 8 * 1024 * 1024, after: 'b-shop-env' });
    assert.equal(rest.rows.length, 5);
    assert.equal(rest.last, null);
  });
});
