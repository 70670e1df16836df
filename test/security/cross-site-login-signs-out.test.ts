// A page of another site could sign a dashboard user out by starting a sign-in for them. POST /auth/logout
// is CSRF-checked so that another site cannot sign a user out (test/security/sso.test.ts), but GET
// /auth/login took a cross-site top-level navigation, and a completed callback revokes the session the
// browser held (src/api/session.ts startSession). With the usual corporate SSO (a live provider session,
// consent given once) the provider answers the authorize request at once, so a page doing
// `window.open('https://selfheal/auth/login')` had the browser's live session revoked and replaced: every
// open dashboard tab kept the old CSRF token and its writes (an approval being confirmed) were refused until
// a reload. Now such a navigation, while a session is live, goes to /ui without starting a sign-in.
import assert from 'node:assert/strict';
import { CookieJar, jarFetch, startSsoServer, throughProvider, type OidcProvider, type OidcUser, type SsoServer } from '../helpers/oidc-provider.js';

const USERS: Record<string, OidcUser> = { alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre-admins'] } };

describe('security: a navigation from another site to /auth/login does not replace the session the browser holds', function () {
  this.timeout(60_000);
  let sso: SsoServer;
  let op: OidcProvider;
  let base: string;
  let host: string;

  before(async function () {
    sso = await startSsoServer({
      users: USERS,
      clientId: 'selfheal-dashboard',
      clientSecret: 'sso-client-secret-0123456789abcdef',
      env: { SELFHEAL_ADMIN_TOKEN: 'review-admin-token-0123456789abcdef', OIDC_ROLE_MAP: 'sre-admins=admin' },
    });
    ({ op, base, host } = sso);
  });
  after(async function () {
    await sso?.close();
  });

  /** Follows a sign-in from the answer of /auth/login through the provider (login and consent if asked) and requests the callback. */
  async function finish(jar: CookieJar, start: Response, headers: Record<string, string> = {}): Promise<Response | undefined> {
    if (start.status !== 302) return undefined; // the sign-in was not started: nothing to finish
    const authorize = new URL(start.headers.get('location')!, base).href;
    if (!authorize.startsWith(op.issuer)) return undefined;
    return jarFetch(jar, await throughProvider(jar, authorize, `${base}/auth/callback`, 'alice'), { headers });
  }

  const crossSite = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' };

  /** Whether the session of this cookie still works, and with this CSRF token, as in a dashboard tab left open. */
  async function stillLive(cookie: string, csrf: string): Promise<void> {
    const probe = new CookieJar();
    probe.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${cookie}; Path=/` } }));
    const read = await jarFetch(probe, `${base}/api/incidents`);
    assert.equal(read.status, 200, `the session Alice held was ended by a page of another site (GET /api/incidents with it: ${read.status} ${(await read.text()).slice(0, 160)})`);
    const who = (await (await jarFetch(probe, `${base}/auth/session`)).json()) as { csrfToken?: string };
    assert.equal(who.csrfToken, csrf, "the open tab's CSRF token still belongs to the live session");
  }

  it('the session signed in before keeps working after another site sends the browser to /auth/login', async function () {
    const jar = new CookieJar();
    // Alice signs in from the dashboard (same-origin link), and keeps the dashboard open.
    const own = await finish(jar, await jarFetch(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': 'same-origin' } }));
    assert.equal(own?.status, 303);
    const cookie = jar.get(host, '__Host-selfheal-session')!;
    assert.ok(cookie);
    const csrf = ((await (await jarFetch(jar, `${base}/auth/session`)).json()) as { csrfToken: string }).csrfToken;

    // An attacker's page (another site, or another origin of this site) opens /auth/login in the same
    // browser: a top-level navigation, so the SameSite=Lax cookies go with it. Alice's provider session
    // would answer without asking anything.
    for (const site of ['cross-site', 'same-site']) {
      const forced = await jarFetch(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'navigate' } });
      assert.equal(forced.status, 303, `${site}: ${forced.status}`);
      assert.equal(forced.headers.get('location'), '/ui', `${site}: to the dashboard, not the provider`);
      assert.equal(jar.get(host, '__Host-selfheal-signin'), undefined, `${site}: no sign-in started`);
      assert.equal(await finish(jar, forced, crossSite), undefined);
    }
    await stillLive(cookie, csrf);
  });

  it('a same-origin click on "sign in" still signs in again (replacing the session), and without a live session any navigation starts a sign-in', async function () {
    const jar = new CookieJar();
    assert.equal((await finish(jar, await jarFetch(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': 'same-origin' } })))?.status, 303);
    const first = jar.get(host, '__Host-selfheal-session')!;

    // The user's own choice: the dashboard's link, or the address typed (`none`).
    for (const site of ['same-origin', 'none']) {
      const before = jar.get(host, '__Host-selfheal-session')!;
      const again = await finish(jar, await jarFetch(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': site } }));
      assert.equal(again?.status, 303, `${site}: signed in again`);
      assert.notEqual(jar.get(host, '__Host-selfheal-session'), before, `${site}: a new session`);
    }
    const old = new CookieJar();
    old.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${first}; Path=/` } }));
    assert.equal((await jarFetch(old, `${base}/api/incidents`)).status, 401, 'the replaced session is revoked, as before');

    // No session (a fresh browser), or one that was signed out: another site's navigation starts a sign-in.
    const fresh = new CookieJar();
    const start = await jarFetch(fresh, `${base}/auth/login`, { headers: crossSite });
    assert.equal(start.status, 302, 'no live session: to the provider');
    assert.equal((await finish(fresh, start, crossSite))?.status, 303);
    const csrf = ((await (await jarFetch(fresh, `${base}/auth/session`)).json()) as { csrfToken: string }).csrfToken;
    assert.equal((await jarFetch(fresh, `${base}/auth/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: base, 'x-csrf-token': csrf } })).status, 200);
    assert.equal((await jarFetch(fresh, `${base}/auth/login`, { headers: crossSite })).status, 302, 'signed out: to the provider');
    fresh.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${first}; Path=/` } }));
    assert.equal((await jarFetch(fresh, `${base}/auth/login`, { headers: crossSite })).status, 302, 'a revoked session cookie: to the provider');
  });
});
