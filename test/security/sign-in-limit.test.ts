// A refused sign-in callback costs a request to the identity provider's token endpoint, and anyone can
// start a sign-in: before the fix, two GETs (/auth/login for the cookie and state, /auth/callback with a
// made-up code) made us ask the provider once, without end, spending the client's quota there. Callbacks
// refused after the provider was asked now count as failed authentications of their source; past the limit
// the callback is a 429 page and the provider is not asked (those refused before it was asked do not count:
// test/security/cross-site-callback-lockout.test.ts).
import assert from 'node:assert/strict';
import type { TestDatabase } from '../helpers/db.js';
import { signInStarted, ssoAppOnNewDatabase, startDiscoveryOnlyProvider, type DiscoveryOnlyProvider } from '../helpers/oidc-provider.js';

const ADMIN = 'sign-in-limit-admin-token-0123456789';

describe('security: refused sign-in callbacks are limited per source', function () {
  this.timeout(60_000);
  // The limiter belongs to the app's database handle (src/api/auth.ts): a database per case, a count per case.
  const dbs: TestDatabase[] = [];
  let provider: DiscoveryOnlyProvider;
  /** What the provider's token endpoint answers, and how often it was asked. */
  let tokenAnswer: 'invalid_grant' | 'hang up' = 'invalid_grant';
  let tokenRequests = 0;

  before(async function () {
    provider = await startDiscoveryOnlyProvider((req, res) => {
      if (req.url === '/token' && req.method === 'POST') {
        tokenRequests++;
        if (tokenAnswer === 'hang up') return void req.socket.destroy();
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'invalid_grant', error_description: 'unknown code' }));
        return;
      }
      res.writeHead(404).end();
    });
  });
  after(async () => {
    await provider?.close();
    for (const db of dbs) await db.close();
  });

  const freshApp = () => ssoAppOnNewDatabase(dbs, { SELFHEAL_ADMIN_TOKEN: ADMIN, SELFHEAL_PUBLIC_URL: 'http://127.0.0.1:8080', OIDC_ISSUER_URL: provider.issuer, SELFHEAL_AUTH_MAX_FAILURES: '3' });

  /** A sign-in started as anyone can (GET /auth/login), returned with a made-up code. */
  async function madeUpCallback(app: Awaited<ReturnType<typeof freshApp>>): Promise<Response> {
    const login = await app.request('/auth/login');
    assert.equal(login.status, 302, await login.clone().text());
    const { state, cookie } = signInStarted(login);
    return app.request(`/auth/callback?code=made-up&state=${encodeURIComponent(state)}`, { headers: { cookie } });
  }

  it('after SELFHEAL_AUTH_MAX_FAILURES refused callbacks the next is a 429 page with Retry-After, and the provider is not asked', async function () {
    tokenAnswer = 'invalid_grant';
    tokenRequests = 0;
    const app = await freshApp();
    for (let i = 1; i <= 3; i++) {
      const res = await madeUpCallback(app);
      assert.equal(res.status, 400, `callback ${i}`);
      assert.match(await res.text(), /refused to complete the sign-in \(&quot;invalid_grant&quot;\)|refused to complete the sign-in \("invalid_grant"\)/);
    }
    assert.equal(tokenRequests, 3);
    for (let i = 0; i < 5; i++) {
      const res = await madeUpCallback(app);
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get('retry-after')) >= 1, `Retry-After: ${res.headers.get('retry-after')}`);
      const page = await res.text();
      assert.match(page, /Too many failed sign-ins/);
      assert.match(page, /Try again in \d+ s/);
    }
    assert.equal(tokenRequests, 3, 'a blocked source made us ask the provider');
    // The same count as bearer tokens: the address is blocked on /api too, a valid token included.
    const api = await app.request('/api/rules', { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(api.status, 429);
  });

  it('a provider that cannot be reached is nobody\'s failed attempt: it does not count', async function () {
    tokenAnswer = 'hang up';
    tokenRequests = 0;
    const app = await freshApp();
    for (let i = 0; i < 5; i++) assert.equal((await madeUpCallback(app)).status, 502);
    assert.equal(tokenRequests, 5);
    tokenAnswer = 'invalid_grant';
    assert.equal((await madeUpCallback(app)).status, 400, 'not blocked by the outage');
    assert.equal(tokenRequests, 6);
  });
});
