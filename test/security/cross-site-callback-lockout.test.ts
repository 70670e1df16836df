// Another site could lock a user's address out of the API and of sign-in, through their browser. A refused
// /auth/callback counted as a failed authentication of its source (src/api/routes/auth.ts), even one refused
// before the provider was asked: a `state` that does not match the sign-in cookie. Any web page can make a
// visitor's browser send those, with two top-level GETs (a popup it keeps navigating): /auth/login (sets the
// SameSite=Lax sign-in cookie), then /auth/callback?code=x&state=forged. After SELFHEAL_AUTH_MAX_FAILURES of
// them the visitor's address (or the office NAT / the proxy every user shares) was answered 429 on every
// bearer-token call, the admin token included, and on every sign-in. Now only a refusal after the provider
// was asked counts (test/security/sign-in-limit.test.ts keeps those limited).
import assert from 'node:assert/strict';
import type { TestDatabase } from '../helpers/db.js';
import { signInStarted, ssoAppOnNewDatabase, startDiscoveryOnlyProvider, type DiscoveryOnlyProvider } from '../helpers/oidc-provider.js';

const ADMIN = 'review-lockout-admin-token-0123456789';

describe('security: callbacks refused before the provider is asked do not count against their source', function () {
  this.timeout(60_000);
  // The limiter belongs to the app's database handle (src/api/auth.ts): a database per case, a count per case.
  const dbs: TestDatabase[] = [];
  let provider: DiscoveryOnlyProvider;
  let tokenRequests = 0;

  before(async function () {
    provider = await startDiscoveryOnlyProvider((req, res) => {
      if (req.url === '/token') tokenRequests++;
      res.writeHead(404).end();
    });
  });
  after(async () => {
    await provider?.close();
    for (const db of dbs) await db.close();
  });

  // the default limit: 10 failures a minute
  const freshApp = () => ssoAppOnNewDatabase(dbs, { SELFHEAL_ADMIN_TOKEN: ADMIN, SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com', OIDC_ISSUER_URL: provider.issuer });

  const navigation = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' };

  /** The operator at the same address (same browser, CLI, or everyone behind the same NAT/proxy) is not blocked. */
  async function notBlocked(app: Awaited<ReturnType<typeof freshApp>>) {
    const api = await app.request('/api/rules', { headers: { authorization: `Bearer ${ADMIN}` } });
    assert.equal(api.status, 200, `the admin token from that address is refused: ${api.status} ${(await api.text()).slice(0, 200)}`);
    assert.equal((await app.request('/auth/login', { headers: navigation })).status, 302, 'sign-in is not blocked');
  }

  it('twelve cross-site navigation pairs (/auth/login, then /auth/callback with a forged state) do not block the admin token', async function () {
    tokenRequests = 0;
    const app = await freshApp();
    for (let i = 0; i < 12; i++) {
      // The attacker's popup, pointed at /auth/login: the browser stores the sign-in cookie from the 302.
      const login = await app.request('/auth/login', { headers: navigation });
      assert.equal(login.status, 302);
      const { cookie } = signInStarted(login);
      // ... then at a callback with a state the attacker made up (it cannot read the real one).
      const cb = await app.request('/auth/callback?code=anything&state=forged-by-another-site', { headers: { ...navigation, cookie } });
      assert.equal(cb.status, 400, `callback ${i}`);
      assert.match(await cb.text(), /unexpected &quot;state&quot;/);
    }
    assert.equal(tokenRequests, 0, 'none of these callbacks asked the provider');
    await notBlocked(app);
  });

  it("nor do callbacks without the sign-in cookie, or carrying the provider's error", async function () {
    tokenRequests = 0;
    const app = await freshApp();
    for (let i = 0; i < 12; i++) {
      const orphan = await app.request('/auth/callback?code=anything&state=anything', { headers: navigation });
      assert.equal(orphan.status, 400, `callback without the cookie ${i}`);
      assert.match(await orphan.text(), /not started in this browser/);
      const login = await app.request('/auth/login', { headers: navigation });
      const { state, cookie } = signInStarted(login);
      const denied = await app.request(`/auth/callback?error=access_denied&state=${encodeURIComponent(state)}`, { headers: { ...navigation, cookie } });
      assert.equal(denied.status, 403, `callback with the provider's error ${i}`);
      assert.match(await denied.text(), /access_denied/);
    }
    assert.equal(tokenRequests, 0, 'none of these callbacks asked the provider');
    await notBlocked(app);
  });
});
