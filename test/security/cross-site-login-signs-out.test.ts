// A page of another site could sign a dashboard user out by starting a sign-in for them. POST /auth/logout
// is CSRF-checked so that another site cannot sign a user out (test/security/sso.test.ts), but GET
// /auth/login took a cross-site top-level navigation, and a completed callback revokes the session the
// browser held (src/api/session.ts startSession). With the usual corporate SSO (a live provider session,
// consent given once) the provider answers the authorize request at once, so a page doing
// `window.open('https://selfheal/auth/login')` had the browser's live session revoked and replaced: every
// open dashboard tab kept the old CSRF token and its writes (an approval being confirmed) were refused until
// a reload. Now such a navigation, while a session is live, goes to /ui without starting a sign-in.
import assert from 'node:assert/strict';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { serveLater, startOidcProvider, type OidcProvider, type OidcUser } from '../helpers/oidc-provider.js';
import { testTemporal } from '../helpers/temporal.js';

const CLIENT_ID = 'selfheal-dashboard';
const CLIENT_SECRET = 'sso-client-secret-0123456789abcdef';
const USERS: Record<string, OidcUser> = { alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre-admins'] } };

class Jar {
  private readonly byHost = new Map<string, Map<string, string>>();
  store(url: string, res: Response): void {
    const host = new URL(url).hostname;
    const jar = this.byHost.get(host) ?? new Map<string, string>();
    this.byHost.set(host, jar);
    for (const line of res.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const at = pair!.indexOf('=');
      const name = pair!.slice(0, at).trim();
      const value = pair!.slice(at + 1).trim();
      if (value === '' || /max-age=0\b/i.test(line) || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
  }
  header(url: string): string {
    return [...(this.byHost.get(new URL(url).hostname) ?? new Map<string, string>())].map(([k, v]) => `${k}=${v}`).join('; ');
  }
  get(host: string, name: string): string | undefined {
    return this.byHost.get(host)?.get(name);
  }
}

async function send(jar: Jar, url: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, res);
  return res;
}
const form = (fields: Record<string, string>) => ({ method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });

describe('security: a navigation from another site to /auth/login does not replace the session the browser holds', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let op: OidcProvider;
  let base: string;
  let host: string;
  let closeServer: () => Promise<void>;

  before(async function () {
    db = await createTestDatabase();
    const server = await serveLater();
    base = server.url;
    host = new URL(base).hostname;
    closeServer = server.close;
    op = await startOidcProvider({ users: USERS, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: `${base}/auth/callback`, postLogoutRedirectUri: `${base}/ui` });
    const config = loadConfig({
      NODE_ENV: 'test',
      DATABASE_URL: db.url,
      TEMPORAL_ADDRESS: '127.0.0.1:1',
      SELFHEAL_ADMIN_TOKEN: 'review-admin-token-0123456789abcdef',
      OIDC_ISSUER_URL: op.issuer,
      OIDC_CLIENT_ID: CLIENT_ID,
      OIDC_CLIENT_SECRET: CLIENT_SECRET,
      SELFHEAL_PUBLIC_URL: base,
      OIDC_SCOPES: 'openid email profile groups',
      OIDC_ROLE_MAP: 'sre-admins=admin',
    });
    const app = createApp({ config, db: db.db, temporal: (await testTemporal()).client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    server.serve((req) => app.fetch(req));
  });
  after(async function () {
    await closeServer?.();
    await op?.close();
    await db?.close();
  });

  /** Follows a sign-in from the answer of /auth/login through the provider (login and consent if asked) and requests the callback. */
  async function finish(jar: Jar, start: Response, headers: Record<string, string> = {}): Promise<Response | undefined> {
    if (start.status !== 302) return undefined; // the sign-in was not started: nothing to finish
    let next = new URL(start.headers.get('location')!, base).href;
    if (!next.startsWith(op.issuer)) return undefined;
    for (let hop = 0; hop < 20; hop++) {
      if (next.startsWith(`${base}/auth/callback`)) return send(jar, next, { headers });
      let res = await send(jar, next);
      if (res.status === 200) {
        const page = await res.text();
        const action = new URL(/<form[^>]*action="([^"]+)"/.exec(page)?.[1] ?? '', next).href;
        if (page.includes('name="login"')) res = await send(jar, action, form({ prompt: 'login', login: 'alice', password: 'any' }));
        else if (page.includes('value="consent"')) res = await send(jar, action, form({ prompt: 'consent' }));
        else throw new Error(`unexpected provider page: ${page.slice(0, 300)}`);
      }
      assert.ok(res.status >= 300 && res.status < 400, `expected a redirect from ${next}, got ${res.status}`);
      next = new URL(res.headers.get('location')!, next).href;
    }
    throw new Error('too many redirects');
  }

  const crossSite = { 'sec-fetch-site': 'cross-site', 'sec-fetch-mode': 'navigate' };

  /** Whether the session of this cookie still works, and with this CSRF token, as in a dashboard tab left open. */
  async function stillLive(cookie: string, csrf: string): Promise<void> {
    const probe = new Jar();
    probe.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${cookie}; Path=/` } }));
    const read = await send(probe, `${base}/api/incidents`);
    assert.equal(read.status, 200, `the session Alice held was ended by a page of another site (GET /api/incidents with it: ${read.status} ${(await read.text()).slice(0, 160)})`);
    const who = (await (await send(probe, `${base}/auth/session`)).json()) as { csrfToken?: string };
    assert.equal(who.csrfToken, csrf, "the open tab's CSRF token still belongs to the live session");
  }

  it('the session signed in before keeps working after another site sends the browser to /auth/login', async function () {
    const jar = new Jar();
    // Alice signs in from the dashboard (same-origin link), and keeps the dashboard open.
    const own = await finish(jar, await send(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': 'same-origin' } }));
    assert.equal(own?.status, 303);
    const cookie = jar.get(host, '__Host-selfheal-session')!;
    assert.ok(cookie);
    const csrf = ((await (await send(jar, `${base}/auth/session`)).json()) as { csrfToken: string }).csrfToken;

    // An attacker's page (another site, or another origin of this site) opens /auth/login in the same
    // browser: a top-level navigation, so the SameSite=Lax cookies go with it. Alice's provider session
    // would answer without asking anything.
    for (const site of ['cross-site', 'same-site']) {
      const forced = await send(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': site, 'sec-fetch-mode': 'navigate' } });
      assert.equal(forced.status, 303, `${site}: ${forced.status}`);
      assert.equal(forced.headers.get('location'), '/ui', `${site}: to the dashboard, not the provider`);
      assert.equal(jar.get(host, '__Host-selfheal-signin'), undefined, `${site}: no sign-in started`);
      assert.equal(await finish(jar, forced, crossSite), undefined);
    }
    await stillLive(cookie, csrf);
  });

  it('a same-origin click on "sign in" still signs in again (replacing the session), and without a live session any navigation starts a sign-in', async function () {
    const jar = new Jar();
    assert.equal((await finish(jar, await send(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': 'same-origin' } })))?.status, 303);
    const first = jar.get(host, '__Host-selfheal-session')!;

    // The user's own choice: the dashboard's link, or the address typed (`none`).
    for (const site of ['same-origin', 'none']) {
      const before = jar.get(host, '__Host-selfheal-session')!;
      const again = await finish(jar, await send(jar, `${base}/auth/login`, { headers: { 'sec-fetch-site': site } }));
      assert.equal(again?.status, 303, `${site}: signed in again`);
      assert.notEqual(jar.get(host, '__Host-selfheal-session'), before, `${site}: a new session`);
    }
    const old = new Jar();
    old.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${first}; Path=/` } }));
    assert.equal((await send(old, `${base}/api/incidents`)).status, 401, 'the replaced session is revoked, as before');

    // No session (a fresh browser), or one that was signed out: another site's navigation starts a sign-in.
    const fresh = new Jar();
    const start = await send(fresh, `${base}/auth/login`, { headers: crossSite });
    assert.equal(start.status, 302, 'no live session: to the provider');
    assert.equal((await finish(fresh, start, crossSite))?.status, 303);
    const csrf = ((await (await send(fresh, `${base}/auth/session`)).json()) as { csrfToken: string }).csrfToken;
    assert.equal((await send(fresh, `${base}/auth/logout`, { method: 'POST', headers: { 'sec-fetch-site': 'same-origin', origin: base, 'x-csrf-token': csrf } })).status, 200);
    assert.equal((await send(fresh, `${base}/auth/login`, { headers: crossSite })).status, 302, 'signed out: to the provider');
    fresh.store(base, new Response(null, { headers: { 'set-cookie': `__Host-selfheal-session=${first}; Path=/` } }));
    assert.equal((await send(fresh, `${base}/auth/login`, { headers: crossSite })).status, 302, 'a revoked session cookie: to the provider');
  });
});
