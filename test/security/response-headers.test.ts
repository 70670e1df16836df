// Every answer of the API says how it may be read: never sniffed into a page (X-Content-Type-Options), and
// one that is not one of our pages (JSON, problem+json whose 404 repeats the path asked for, the metrics
// text) may load, run or frame nothing. The dashboard's pages keep their own, stricter-for-them policy.
// What is read with credentials (/api, /approvals, /auth) is kept by no cache (a shared proxy would hand one
// user's incident or audit JSON to the next; a browser would keep it on disk past the sign-out); and with an
// https public URL, browsers are told to keep to https.
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';

describe('security: response headers on every answer', function () {
  let db: TestDatabase;
  let api: AdminApi;
  before(async function () {
    db = await createTestDatabase();
    api = adminApi(db, (await testTemporal()).client, 'response-headers');
  });
  after(async () => db?.close());

  it('JSON, problems, health, metrics and the webhook: nosniff and a policy that allows nothing', async function () {
    for (const [method, path, status] of [
      ['GET', '/api/incidents', 200],
      ['GET', '/api/<script>alert(1)</script>', 404],
      ['GET', '/healthz', 200],
      ['GET', '/metrics', 200],
      ['POST', '/webhooks/pagerduty', 0],
      ['GET', '/openapi.json', 200],
    ] as const) {
      const res = await api(method, path, method === 'POST' ? '{' : undefined);
      // The webhook refuses this body (how depends on its configuration): any refusal carries the headers.
      if (status === 0) assert.ok(res.status >= 400, `${method} ${path}: ${res.status}`);
      else assert.equal(res.status, status, `${method} ${path}: ${await res.clone().text()}`);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${method} ${path}`);
      assert.equal(res.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", `${method} ${path}`);
    }
  });

  it("the dashboard's page keeps its own policy, also when revalidated (a 304 updates the cached headers)", async function () {
    const res = await api('GET', '/ui');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    assert.match(res.headers.get('content-security-policy') ?? '', /script-src 'self'/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    const etag = res.headers.get('etag');
    assert.ok(etag, 'the page has an ETag');
    const again = await api('GET', '/ui', undefined, { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.notEqual(again.headers.get('content-security-policy'), "default-src 'none'; frame-ancestors 'none'", 'a 304 carries no policy that would replace the page\'s own');
  });

  it('what is read with credentials is no cache\'s to keep: no-store on /api, /approvals and /auth answers, problems included', async function () {
    for (const [method, path, headers, status] of [
      ['GET', '/api/incidents', {}, 200],
      ['GET', '/api/incidents/PNOSUCHINCIDENT', {}, 404],
      ['GET', '/api/audit', {}, 200],
      ['GET', '/api/rules', { authorization: 'Bearer not-a-token' }, 401],
      ['GET', '/api/<script>alert(1)</script>', {}, 404],
      ['GET', '/approvals/link', {}, 0],
      ['GET', '/approvals/nothing-here', {}, 404],
      ['GET', '/auth/login', {}, 404],
      ['GET', '/ui/config.json', {}, 200],
    ] as const) {
      const res = await api(method, path, undefined, headers);
      if (status === 0) assert.ok(res.status >= 200, `${method} ${path}: ${res.status}`);
      else assert.equal(res.status, status, `${method} ${path}: ${await res.clone().text()}`);
      assert.equal(res.headers.get('cache-control'), 'no-store', `${method} ${path} (${res.status})`);
      assert.equal(res.headers.get('strict-transport-security'), null, 'no HSTS without an https public URL');
    }
  });

  it("the dashboard's page and assets keep their own caching (revalidated page, content-hashed assets kept for good)", async function () {
    const page = await api('GET', '/ui');
    assert.equal(page.headers.get('cache-control'), 'no-cache');
    const script = /src="(\/ui\/assets\/[^"]+\.js)"/.exec(await page.text())?.[1];
    assert.ok(script, 'the page names its script');
    const asset = await api('GET', script);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    const again = await api('GET', script, undefined, { 'if-none-match': asset.headers.get('etag')! });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal((await api('GET', '/healthz')).headers.get('cache-control'), null, 'health checks say nothing about caching');
  });

  it('with an https SELFHEAL_PUBLIC_URL every answer carries Strict-Transport-Security for a year, without preload', async function () {
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com' });
    const app = createApp({ config, db: db.db, temporal: (await testTemporal()).client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    for (const path of ['/api/incidents', '/api/nothing', '/healthz', '/ui', '/auth/config']) {
      const res = await app.request(path, { headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(res.headers.get('strict-transport-security'), 'max-age=31536000', `${path} (${res.status})`);
    }
  });
});
