// The approval link's POST reads its form before anyone is authenticated: the form carries the CSRF token the
// session check needs. It had the default 1 MiB body limit, so anyone who could reach the API had it parse a
// megabyte of url-encoded fields (some 130,000 of them: 0.7 to 1.3 s of the event loop on the test machine),
// and then answer a 400 of 1.5 MB listing every field it did not know, for nothing: no credential, no request
// budget, no failed authentication counted. The confirmation form holds three short fields (action, token, csrf) and the
// JSON request two: the route now takes 16 KiB at most, and a larger body is the 413 of every body limit,
// answered from its Content-Length before a byte is read.
import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

describe('security: the approval link form is bounded before it is parsed', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let app: ReturnType<typeof createApp>;

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({
      NODE_ENV: 'test',
      SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
      OIDC_ISSUER_URL: 'https://login.example.com/realms/sre',
      OIDC_CLIENT_ID: 'selfheal',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'sre=write',
    });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
  });
  after(async () => db?.close());

  const postForm = async (body: string) =>
    app.request('/approvals/link', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) }, body });

  it('an anonymous megabyte of form fields is refused 413 from its length, without holding the event loop', async function () {
    // Just under the default 1 MiB: some 130,000 fields of no name the form knows.
    const fields: string[] = [];
    let size = 0;
    for (let i = 0; size < 1024 * 1024 - 64; i++) {
      const field = `f${i}=`;
      fields.push(field);
      size += field.length + 1;
    }
    const body = fields.join('&');
    assert.ok(body.length < 1024 * 1024, `${body.length} bytes`);
    // The longest the event loop went without a turn while the request was answered.
    let last = performance.now();
    let heldMs = 0;
    const ticker = setInterval(() => {
      const now = performance.now();
      heldMs = Math.max(heldMs, now - last);
      last = now;
    }, 1);
    let res: Response;
    let text: string;
    try {
      res = await postForm(body);
      text = await res.text();
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      clearInterval(ticker);
    }
    assert.equal(res.status, 413, `${res.status} ${text.slice(0, 200)}… (${text.length} characters; the event loop was held ${Math.round(heldMs)} ms)`);
    assert.equal(res.headers.get('content-type'), 'application/problem+json');
    assert.equal((JSON.parse(text) as { limit: number }).limit, 16 * 1024);
    assert.ok(heldMs < 400, `the event loop was held ${Math.round(heldMs)} ms`);
  });

  it('the confirmation form itself is still read: without a session it is the 401 of a sign-in, not a 413', async function () {
    const token = 'A'.repeat(43);
    const body = new URLSearchParams({ action: `PINC1:${'r'.repeat(36)}:fix:${'E'.repeat(500)}`, token, csrf: 'c'.repeat(43) }).toString();
    const res = await postForm(body);
    assert.equal(res.status, 401, await res.clone().text());
  });
});
