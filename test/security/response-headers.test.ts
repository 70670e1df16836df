// Every answer of the API says how it may be read: never sniffed into a page (X-Content-Type-Options), and
// one that is not one of our pages (JSON, problem+json whose 404 repeats the path asked for, the metrics
// text) may load, run or frame nothing. The dashboard's pages keep their own, stricter-for-them policy.
import assert from 'node:assert/strict';
import { adminApi, type AdminApi } from '../helpers/admin-api.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
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
});
