// Over ~400 lines on purpose: one attack surface (OIDC sign-in, sessions, CSRF) against one local identity
// provider and one server, started once for all cases; the forged sign-ins reuse the honest flow's helpers.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import { sql } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from '../helpers/db.js';
import { CookieJar, formPost, jarFetch, serveLater, startOidcProvider, startSsoServer, throughProvider, type OidcProvider, type OidcUser, type SsoServer } from '../helpers/oidc-provider.js';
import { eventually } from '../helpers/stack.js';

// Single sign-on at the HTTP level, against a real OpenID Connect provider (oidc-provider) on loopback:
// the provider's own login and consent pages are driven with plain HTTP (form posts, redirects, cookies),
// so each step can be forged the way an attacker would. test/ui/sso.test.ts runs the flow in Chromium.

const ADMIN = 'sso-admin-token-0123456789abcdef';
const CLIENT_ID = 'selfheal-dashboard';
const CLIENT_SECRET = 'sso-client-secret-0123456789abcdef';
const USERS: Record<string, OidcUser> = {
  alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['everyone', 'sre-admins'] },
  bob: { email: 'bob@example.com', name: 'Bob Viewer', groups: ['viewers'] },
  carol: { email: 'carol@example.com', name: 'Carol Marketing', groups: ['marketing', 'everyone'] },
  dave: { email: 'dave@example.com', name: 'Dave Unverified', groups: ['sre'], emailVerified: false },
  erin: { email: 'erin@example.com', name: 'Erin Payments', groups: ['pay-devs', 'everyone'] },
  // Impostors: accounts whose owners set their email to alice's address, which the provider does not vouch
  // for (marked unverified, or no email_verified at all, as Microsoft Entra ID sends).
  mallory: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre'], emailVerified: false },
  oscar: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre'], emailVerified: 'omitted' },
};

describe('single sign-on (OIDC) over HTTP: sessions, CSRF, forged sign-ins', function () {
  let sso: SsoServer;
  let db: TestDatabase;
  let op: OidcProvider;
  let base: string;
  let host: string;
  const logLines: string[] = [];
  /** Values that must never appear in a log line. */
  const secrets: string[] = [];

  const env = (extra: Record<string, string> = {}) => sso.config(extra);

  before(async function () {
    const destination = new Writable({
      write(chunk: Buffer, _enc, done) {
        logLines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
        done();
      },
    });
    sso = await startSsoServer({
      users: USERS,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      env: {
        SELFHEAL_ADMIN_TOKEN: ADMIN,
        OIDC_ROLE_MAP: 'sre-admins=admin,sre=write,viewers=read,pay-devs=payments:editor',
        OIDC_PROVIDER_NAME: 'Example SSO',
        // Dozens of forged sign-ins come from this one address on purpose; the limit on refused callbacks
        // has its own test (test/security/sign-in-limit.test.ts).
        SELFHEAL_AUTH_MAX_FAILURES: '1000',
      },
      logger: createLogger({ level: 'trace', destination }),
    });
    ({ db, op, base, host } = sso);
  });

  after(async function () {
    await sso?.close();
  });

  /**
   * Drives the sign-in up to the provider's redirect back: /auth/login → the provider's authorize
   * endpoint (`tamper` may change that URL first) → its login page (form post) → its consent page (form
   * post) → the callback URL, which is returned without being requested.
   */
  async function untilCallback(jar: CookieJar, login: string, tamper: (u: URL) => void = () => {}): Promise<URL> {
    const start = await jarFetch(jar, `${base}/auth/login`);
    assert.equal(start.status, 302, await start.text());
    const authorize = new URL(start.headers.get('location')!);
    assert.equal(authorize.origin, op.issuer);
    tamper(authorize);
    return new URL(await throughProvider(jar, authorize.href, `${base}/auth/callback`, login));
  }

  /** Requests the callback in the jar's browser; returns the answer. Remembers the code as a secret. */
  async function callback(jar: CookieJar, url: URL): Promise<Response> {
    const code = url.searchParams.get('code');
    if (code) secrets.push(code);
    return jarFetch(jar, `${base}${url.pathname}${url.search}`);
  }

  /** A full sign-in: the jar ends up holding the session cookie. */
  async function signIn(login: string, jar = new CookieJar()): Promise<{ jar: CookieJar; cookie: string; csrf: string; res: Response }> {
    const res = await callback(jar, await untilCallback(jar, login));
    assert.equal(res.status, 303, await res.clone().text());
    assert.equal(res.headers.get('location'), '/ui#/incidents');
    const cookie = jar.get(host, '__Host-selfheal-session');
    assert.ok(cookie, 'a session cookie was set');
    const who = await jarFetch(jar, `${base}/auth/session`);
    assert.equal(who.status, 200);
    const csrf = ((await who.json()) as { csrfToken: string }).csrfToken;
    secrets.push(cookie, csrf);
    return { jar, cookie, csrf, res };
  }

  const sessions = () => db.db.selectFrom('auth_sessions').selectAll().execute();
  const sameOrigin = (csrf: string) => ({ 'content-type': 'application/json', origin: base, 'sec-fetch-site': 'same-origin', 'x-csrf-token': csrf });

  it('signs in at the provider: an HttpOnly, Secure, SameSite=Lax __Host- cookie, a session stored only as hashes, roles from groups, audited', async function () {
    const before = (await sessions()).length;
    const { jar, cookie, csrf } = await signIn('alice');

    const line = jar.setLines.get('__Host-selfheal-session')!;
    const attrs = line.split(';').map((a) => a.trim().toLowerCase());
    assert.match(cookie, /^[A-Za-z0-9_-]{43}$/, 'the cookie is a 256-bit random secret');
    for (const a of ['path=/', 'httponly', 'secure', 'samesite=lax', 'max-age=43200']) assert.ok(attrs.includes(a), `Set-Cookie has ${a}: ${line}`);
    assert.ok(!attrs.some((a) => a.startsWith('domain=')), '__Host- cookies carry no Domain');
    assert.equal(jar.get(host, '__Host-selfheal-signin'), undefined, 'the sign-in cookie is cleared after the callback');

    const who = (await (await jarFetch(jar, `${base}/auth/session`)).json()) as Record<string, unknown>;
    assert.equal(who.actor, 'user:alice@example.com');
    assert.deepEqual(who.scopes, ['admin']);
    assert.equal(who.name, 'Alice Admin');
    assert.equal((await jarFetch(jar, `${base}/api/incidents`)).status, 200, 'the session reads the API');
    assert.equal((await jarFetch(jar, `${base}/api/tokens`)).status, 200, 'sre-admins → admin scope');

    const rows = await sessions();
    assert.equal(rows.length, before + 1);
    const row = rows.find((r) => r.secret_hash === createHash('sha256').update(cookie).digest('hex'));
    assert.ok(row, 'the session is stored under the SHA-256 of the cookie');
    assert.deepEqual(row.groups, ['sre-admins'], 'only the mapped groups are kept');
    const { rows: raw } = await db.pool.query('select * from auth_sessions');
    const stored = JSON.stringify(raw);
    const tokens = op.issued.at(-1)!;
    for (const [what, value] of [['session secret', cookie], ['CSRF token', csrf], ['access token', tokens.access_token], ['ID token', tokens.id_token]] as const) {
      assert.ok(value && !stored.includes(value), `the ${what} is not stored in the database`);
    }
    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'session.create').where('entity_id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:alice@example.com');
  });

  it('a write with the session cookie needs the CSRF token from a same-origin page: 403 otherwise, and nothing changes', async function () {
    const { jar, csrf } = await signIn('alice');
    const other = await signIn('alice');
    const body = (name: string) => JSON.stringify({ name, description: 'from the dashboard', labels: {} });
    const attempts: [string, Record<string, string>][] = [
      ['same origin, text/plain, but no CSRF token', { 'content-type': 'text/plain', origin: base }],
      ['no CSRF token, no Origin', { 'content-type': 'application/json' }],
      ['the CSRF token of another session', sameOrigin(other.csrf)],
      ['a page on another port of the same site', { ...sameOrigin(csrf), origin: 'http://localhost:1', 'sec-fetch-site': 'same-site' }],
      ['a cross-site page that learned the token', { ...sameOrigin(csrf), origin: 'https://evil.example', 'sec-fetch-site': 'cross-site' }],
      ['a foreign Origin without Sec-Fetch-Site', { ...sameOrigin(csrf), origin: 'https://evil.example', 'sec-fetch-site': '' }],
    ];
    for (const [i, [what, headers]] of attempts.entries()) {
      const h = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== ''));
      const res = await jarFetch(jar, `${base}/api/environments`, { method: 'POST', headers: h, body: body(`forged-${i}`) });
      assert.equal(res.status, 403, `${what}: ${await res.clone().text()}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
    }
    assert.deepEqual(await db.db.selectFrom('environments').select('name').where('name', 'like', 'forged-%').execute(), [], 'no forged write went through');

    const ok = await jarFetch(jar, `${base}/api/environments`, { method: 'POST', headers: sameOrigin(csrf), body: body('sso-env') });
    assert.equal(ok.status, 201, await ok.text());
    const audit = await db.db.selectFrom('audit_log').select('actor').where('action', '=', 'environment.create').where('entity_id', '=', 'sso-env').executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:alice@example.com', 'the audit log names the signed-in user');

    // Bearer tokens (API, CLI) are not cookie-based: no CSRF token, no Origin, as before.
    const cli = await fetch(`${base}/api/environments`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: body('cli-env') });
    assert.equal(cli.status, 201);
    // With both, the bearer token decides: a bad one is refused even beside a live session cookie.
    const both = await jarFetch(jar, `${base}/api/environments`, { method: 'POST', headers: { ...sameOrigin(csrf), authorization: 'Bearer not-a-real-token-0123456789' }, body: body('both-env') });
    assert.equal(both.status, 401);
  });

  it('roles follow the groups claim: a viewer reads but may not write; a user in no mapped group is refused with a page and gets no session', async function () {
    const bob = await signIn('bob');
    assert.equal((await jarFetch(bob.jar, `${base}/api/incidents`)).status, 200);
    const denied = await jarFetch(bob.jar, `${base}/api/environments`, { method: 'POST', headers: sameOrigin(bob.csrf), body: JSON.stringify({ name: 'bob-env', labels: {} }) });
    assert.equal(denied.status, 403);
    assert.match(((await denied.json()) as { detail: string }).detail, /write/);

    const dave = await signIn('dave');
    const who = (await (await jarFetch(dave.jar, `${base}/auth/session`)).json()) as { actor: string; scopes: string[] };
    assert.equal(who.actor, 'user:dave', 'an email the provider marks unverified is not used as the identity');
    assert.deepEqual(who.scopes, ['write']);

    const count = (await sessions()).length;
    const jar = new CookieJar();
    const res = await callback(jar, await untilCallback(jar, 'carol'));
    assert.equal(res.status, 403);
    assert.match(res.headers.get('content-type') ?? '', /^text\/html/);
    const page = await res.text();
    assert.match(page, /No access to Self-healing/);
    assert.match(page, /carol@example\.com/);
    assert.match(page, /marketing, everyone/);
    assert.match(page, /OIDC_ROLE_MAP/);
    assert.equal(jar.get(host, '__Host-selfheal-session'), undefined, 'no session cookie');
    assert.equal((await sessions()).length, count, 'no session row');
    assert.equal((await jarFetch(jar, `${base}/api/incidents`)).status, 401);
  });

  it("an impostor whose account carries another user's email, unverified or without email_verified, is named by its subject, never as that user", async function () {
    const touched: string[] = [];
    for (const login of ['mallory', 'oscar']) {
      const impostor = await signIn(login);
      const who = (await (await jarFetch(impostor.jar, `${base}/auth/session`)).json()) as { actor: string; subject: string; email: string };
      assert.equal(who.actor, `user:${login}`, `${login}: the subject names the user`);
      assert.equal(who.subject, login);
      assert.equal(who.email, USERS[login]!.email, `${login}: the email is kept for display`);

      const name = `impostor-${login}`;
      const res = await jarFetch(impostor.jar, `${base}/api/environments`, { method: 'POST', headers: sameOrigin(impostor.csrf), body: JSON.stringify({ name, labels: {} }) });
      assert.equal(res.status, 201, await res.clone().text());
      const changed = await db.db.selectFrom('audit_log').select('actor').where('action', '=', 'environment.create').where('entity_id', '=', name).executeTakeFirstOrThrow();
      assert.equal(changed.actor, `user:${login}`, `${login}: the audit log names the impostor's subject`);
      const row = await db.db.selectFrom('auth_sessions').select(['id', 'actor']).where('secret_hash', '=', createHash('sha256').update(impostor.cookie).digest('hex')).executeTakeFirstOrThrow();
      assert.equal(row.actor, `user:${login}`);
      const created = await db.db.selectFrom('audit_log').select('actor').where('action', '=', 'session.create').where('entity_id', '=', row.id).executeTakeFirstOrThrow();
      assert.equal(created.actor, `user:${login}`);
      touched.push(name, row.id);
    }
    const asAlice = await db.db.selectFrom('audit_log').select(['action', 'entity_id']).where('entity_id', 'in', touched).where(sql<boolean>`lower(actor) like '%alice%'`).execute();
    assert.deepEqual(asAlice, [], "nothing the impostors did is recorded under alice's name");
  });

  it('a mapping taken out of OIDC_ROLE_MAP takes effect on live sessions at the next request, not when they end', async function () {
    const alice = await signIn('alice');
    const dave = await signIn('dave');
    // The same database behind an API restarted with sre-admins unmapped and sre made read-only.
    const remapped = createApp({ config: env({ OIDC_ROLE_MAP: 'sre=read,viewers=read,pay-devs=payments:editor' }), db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    const as = (cookie: string, path: string, init: RequestInit = {}) =>
      Promise.resolve(remapped.request(`${base}${path}`, { ...init, headers: { ...(init.headers as Record<string, string> | undefined), cookie: `__Host-selfheal-session=${cookie}` } }));
    const gone = await as(alice.cookie, '/api/incidents');
    assert.equal(gone.status, 401, 'alice was admin only through sre-admins');
    assert.match(((await gone.json()) as { detail: string }).detail, /none of your groups is given a role here any more/);
    // And ended: a replica still on the old map (a rolling deploy) does not honour it, nor would the map restored.
    assert.equal((await jarFetch(alice.jar, `${base}/auth/session`)).status, 401, 'the session was ended, not only refused');
    const ended = await db.db.selectFrom('auth_sessions').select('revoked_at').where('secret_hash', '=', createHash('sha256').update(alice.cookie).digest('hex')).executeTakeFirstOrThrow();
    assert.notEqual(ended.revoked_at, null);
    const who = (await (await as(dave.cookie, '/auth/session')).json()) as { scopes: string[] };
    assert.deepEqual(who.scopes, ['read'], 'dave keeps what sre now gives');
    const write = await as(dave.cookie, '/api/environments', { method: 'POST', headers: sameOrigin(dave.csrf), body: JSON.stringify({ name: 'dave-env', labels: {} }) });
    assert.equal(write.status, 403, 'and may no longer write');
    assert.equal((await jarFetch(dave.jar, `${base}/auth/session`)).status, 200, 'the API with the old map still honours the session');
  });

  it('team roles follow the groups claim too (OIDC_ROLE_MAP group=team:role): an editor of payments changes payments only', async function () {
    const teams = await fetch(`${base}/api/teams`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'payments' }) });
    assert.equal(teams.status, 201, await teams.text());
    const erin = await signIn('erin');
    const who = (await (await jarFetch(erin.jar, `${base}/auth/session`)).json()) as { scopes: string[]; teams: unknown };
    assert.deepEqual(who.scopes, [], 'no global role');
    assert.deepEqual(who.teams, [{ team: 'payments', role: 'editor' }]);
    const create = (name: string, team: string) =>
      jarFetch(erin.jar, `${base}/api/environments`, { method: 'POST', headers: sameOrigin(erin.csrf), body: JSON.stringify({ name, team }) });
    const own = await create('payments-erin', 'payments');
    assert.equal(own.status, 201, await own.clone().text());
    const other = await create('erin-default', 'default');
    assert.equal(other.status, 403);
    assert.match(((await other.json()) as { detail: string }).detail, /team "default"; this needs the editor role/);
    const listed = (await (await jarFetch(erin.jar, `${base}/api/environments`)).json()) as { items: { name: string; team: string }[] };
    assert.ok(listed.items.every((e) => e.team === 'payments') && listed.items.some((e) => e.name === 'payments-erin'), 'the list holds payments objects only');
    const audit = await db.db.selectFrom('audit_log').selectAll().where('action', '=', 'environment.create').where('entity_id', '=', 'payments-erin').executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:erin@example.com');
    assert.equal(audit.team, 'payments');
  });

  it('refuses forged sign-ins: wrong state, another browser, forged or replayed code, swapped nonce, tampered PKCE challenge, wrong issuer', async function () {
    const count = (await sessions()).length;
    const refused = async (what: string, res: Response, status: number, pattern: RegExp, jar: CookieJar) => {
      const page = await res.text();
      assert.equal(res.status, status, `${what}: ${page}`);
      assert.match(page, pattern, `${what}: ${page}`);
      assert.equal(jar.get(host, '__Host-selfheal-session'), undefined, `${what}: no session cookie`);
      assert.equal(jar.get(host, '__Host-selfheal-signin'), undefined, `${what}: the sign-in cookie is cleared, so the attempt cannot be retried`);
    };

    let jar = new CookieJar();
    let url = await untilCallback(jar, 'alice');
    url.searchParams.set('state', 'forged-state');
    await refused('forged state', await callback(jar, url), 400, /did not pass validation \(invalid response encountered: unexpected &quot;state&quot;/, jar);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice');
    const victimBrowser = new CookieJar();
    await refused('callback in a browser that did not start the sign-in', await callback(victimBrowser, url), 400, /not started in this browser/, victimBrowser);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice');
    url.searchParams.set('code', 'forged-code-0123456789');
    await refused('forged code', await callback(jar, url), 400, /refused to complete the sign-in \(&quot;invalid_grant&quot;\)/, jar);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice');
    const signInCookie = jar.get(host, '__Host-selfheal-signin')!;
    assert.equal((await callback(jar, url)).status, 303, 'the genuine callback works once');
    const replay = new CookieJar();
    replay.set(host, '__Host-selfheal-signin', signInCookie);
    await refused('replayed code (even with the sign-in cookie)', await callback(replay, url), 400, /invalid_grant/, replay);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice', (u) => u.searchParams.set('nonce', 'attacker-chosen-nonce'));
    await refused('ID token with another nonce', await callback(jar, url), 400, /did not pass validation \(unexpected JWT claim value encountered: unexpected ID Token &quot;nonce&quot;/, jar);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice', (u) => u.searchParams.set('code_challenge', 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM'));
    await refused('code issued to another PKCE challenge', await callback(jar, url), 400, /invalid_grant/, jar);

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice');
    url.searchParams.set('iss', 'https://evil.example');
    await refused('authorization response from another issuer', await callback(jar, url), 400, /issuer/, jar);

    // An ID token altered on the way (a proxy, a plain-http loopback issuer): bob's token given the admins'
    // group, its signature left as the provider made it. Before, only the claims were checked: the altered
    // token was taken, and the sign-in went through.
    op.tamperIdToken = (idToken) => {
      const [header, payload, signature] = idToken.split('.');
      const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString('utf8')) as Record<string, unknown>;
      return [header, Buffer.from(JSON.stringify({ ...claims, groups: ['sre-admins'] })).toString('base64url'), signature].join('.');
    };
    try {
      jar = new CookieJar();
      url = await untilCallback(jar, 'bob');
      await refused('an ID token whose claims were changed after signing', await callback(jar, url), 400, /did not pass validation \(.*signature/i, jar);
    } finally {
      op.tamperIdToken = undefined;
    }

    jar = new CookieJar();
    url = await untilCallback(jar, 'alice');
    url.searchParams.delete('code');
    url.searchParams.set('error', 'access_denied');
    url.searchParams.set('error_description', 'End-User aborted interaction');
    await refused('the provider said no', await callback(jar, url), 403, /access_denied/, jar);

    assert.equal((await sessions()).length, count + 1, 'only the genuine callback made a session');
  });

  it('signing out revokes the session server-side (the old cookie gets 401) and returns the provider logout URL; another site cannot sign a user out', async function () {
    const { jar, cookie, csrf } = await signIn('alice');
    const forged = await jarFetch(jar, `${base}/auth/logout`, { method: 'POST', headers: { origin: 'http://localhost:1', 'sec-fetch-site': 'same-site' } });
    assert.equal(forged.status, 403);
    assert.equal((await jarFetch(jar, `${base}/api/incidents`)).status, 200, 'a forged sign-out changed nothing');

    const out = await jarFetch(jar, `${base}/auth/logout`, { method: 'POST', headers: sameOrigin(csrf) });
    assert.equal(out.status, 200);
    const { logoutUrl } = (await out.json()) as { logoutUrl: string };
    const logout = new URL(logoutUrl);
    assert.equal(`${logout.origin}${logout.pathname}`, `${op.issuer}/session/end`);
    assert.equal(logout.searchParams.get('post_logout_redirect_uri'), `${base}/ui`);
    assert.equal(logout.searchParams.get('client_id'), CLIENT_ID);
    assert.ok(logout.searchParams.get('id_token_hint'), 'the ID token is the hint (unsealed with the cookie)');
    assert.match(jar.setLines.get('__Host-selfheal-session')!, /Max-Age=0/, 'the cookie is cleared');

    const old = new CookieJar();
    old.set(host, '__Host-selfheal-session', cookie);
    const after = await jarFetch(old, `${base}/api/incidents`);
    assert.equal(after.status, 401);
    assert.match(((await after.json()) as { detail: string }).detail, /expired or was signed out/);
    assert.equal((await jarFetch(old, `${base}/auth/session`)).status, 401);
    const row = await db.db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('secret_hash', '=', createHash('sha256').update(cookie).digest('hex')).executeTakeFirstOrThrow();
    assert.ok(row.revoked_at, 'revoked in the database');
    const audit = await db.db.selectFrom('audit_log').select('actor').where('action', '=', 'session.revoke').where('entity_id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:alice@example.com');

    // The provider accepts the logout URL: its confirmation form ends the provider session.
    const opJar = jar;
    const page = await jarFetch(opJar, logoutUrl);
    assert.equal(page.status, 200);
    const html = await page.text();
    const action = new URL(/<form[^>]*action="([^"]+)"/.exec(html)![1]!, logoutUrl).href;
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)![1]!;
    const done = await jarFetch(opJar, action, formPost({ xsrf, logout: 'yes' }));
    assert.equal(done.status, 303);
    assert.equal(done.headers.get('location'), `${base}/ui`);
    assert.ok(op.logouts >= 1);
  });

  it('signing in again in the same browser revokes the session it held: no live session is left behind the overwritten cookie', async function () {
    // A shared machine, or a cookie copied before: the second sign-in must not leave the first session live.
    const first = await signIn('bob');
    const second = await signIn('bob', first.jar);
    assert.notEqual(second.cookie, first.cookie, 'a new secret at every sign-in');
    assert.equal((await jarFetch(second.jar, `${base}/api/incidents`)).status, 200, 'the new session works');

    const old = new CookieJar();
    old.set(host, '__Host-selfheal-session', first.cookie);
    const replayed = await jarFetch(old, `${base}/api/incidents`);
    assert.equal(replayed.status, 401, 'the replaced session is refused');
    const row = await db.db.selectFrom('auth_sessions').select(['id', 'revoked_at']).where('secret_hash', '=', createHash('sha256').update(first.cookie).digest('hex')).executeTakeFirstOrThrow();
    assert.ok(row.revoked_at, 'revoked in the database');
    const audit = await db.db.selectFrom('audit_log').select('actor').where('action', '=', 'session.revoke').where('entity_id', '=', row.id).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:bob@example.com');
    // One Set-Cookie for the session: the new one (the revoked one is not cleared after it is set).
    assert.equal(second.res.headers.getSetCookie().filter((l) => l.startsWith('__Host-selfheal-session=')).length, 1);
  });

  it('a user keeps at most SESSION_MAX_PER_USER (10) live sessions: the eleventh sign-in, from another browser, revokes the oldest, audited', async function () {
    // A script holding Erin's password signs in again and again, each time in a fresh browser.
    const all: { jar: CookieJar; cookie: string }[] = [];
    for (let i = 0; i < 11; i++) all.push(await signIn('erin'));
    const subject = (await db.db.selectFrom('auth_sessions').select('subject').where('actor', '=', 'user:erin@example.com').executeTakeFirstOrThrow()).subject;
    const live = await db.db.selectFrom('auth_sessions').select('id').where('subject', '=', subject).where('revoked_at', 'is', null).execute();
    assert.equal(live.length, 10, 'ten live sessions');
    const old = new CookieJar();
    old.set(host, '__Host-selfheal-session', all[0]!.cookie);
    assert.equal((await jarFetch(old, `${base}/api/incidents`)).status, 401, 'the oldest is refused');
    for (const kept of [all[1]!, all[10]!]) assert.equal((await jarFetch(kept.jar, `${base}/api/incidents`)).status, 200, 'the ten newest work');
    const oldest = await db.db.selectFrom('auth_sessions').select('id').where('secret_hash', '=', createHash('sha256').update(all[0]!.cookie).digest('hex')).executeTakeFirstOrThrow();
    const audit = await db.db.selectFrom('audit_log').select(['actor', 'after']).where('action', '=', 'session.revoke').where('entity_id', '=', oldest.id).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:erin@example.com');
    assert.deepEqual({ ...(audit.after as object), by: undefined }, { reason: 'limit', limit: 10, by: undefined });
  });

  it('a session ends at its idle timeout and its absolute lifetime (database clock), and a cookie not from this API is refused', async function () {
    const { jar, cookie } = await signIn('alice');
    const hash = createHash('sha256').update(cookie).digest('hex');
    assert.equal((await jarFetch(jar, `${base}/api/incidents`)).status, 200);
    await db.pool.query(`update auth_sessions set last_seen_at = now() - interval '3601 seconds' where secret_hash = $1`, [hash]);
    assert.equal((await jarFetch(jar, `${base}/api/incidents`)).status, 401, 'idle for longer than SESSION_IDLE_TIMEOUT_SECONDS (3600)');

    const second = await signIn('alice');
    const hash2 = createHash('sha256').update(second.cookie).digest('hex');
    assert.equal((await jarFetch(second.jar, `${base}/api/incidents`)).status, 200);
    await db.pool.query(`update auth_sessions set created_at = created_at - interval '43201 seconds', expires_at = expires_at - interval '43201 seconds' where secret_hash = $1`, [hash2]);
    assert.equal((await jarFetch(second.jar, `${base}/api/incidents`)).status, 401, 'older than SESSION_MAX_AGE_SECONDS (43200), although in use');

    // Use keeps a session alive: a request records it (at most once a minute).
    const third = await signIn('alice');
    const hash3 = createHash('sha256').update(third.cookie).digest('hex');
    await db.pool.query(`update auth_sessions set last_seen_at = now() - interval '3000 seconds' where secret_hash = $1`, [hash3]);
    assert.equal((await jarFetch(third.jar, `${base}/api/incidents`)).status, 200);
    const { rows: seen } = await db.pool.query<{ idle: number }>(`select extract(epoch from now() - last_seen_at)::float as idle from auth_sessions where secret_hash = $1`, [hash3]);
    assert.ok(seen[0]!.idle < 60, `last use recorded (${seen[0]!.idle} s ago)`);

    // Rows a day past their end are swept at the next sign-in.
    await db.pool.query(`update auth_sessions set expires_at = now() - interval '2 days' where secret_hash = $1`, [hash]);
    await signIn('alice');
    assert.equal((await db.pool.query('select 1 from auth_sessions where secret_hash = $1', [hash])).rowCount, 0, 'the long-expired row is gone');

    const forged = new CookieJar();
    forged.set(host, '__Host-selfheal-session', 'A'.repeat(43));
    assert.equal((await jarFetch(forged, `${base}/api/incidents`)).status, 401);
    forged.set(host, '__Host-selfheal-session', "'; drop table auth_sessions; --");
    assert.equal((await jarFetch(forged, `${base}/api/incidents`)).status, 401);
  });

  it("the dashboard's background refreshes (X-Selfheal-Background: 1) are served but do not extend the idle timeout; the person's requests do", async function () {
    const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    // A 2-second idle timeout, as SESSION_IDLE_TIMEOUT_SECONDS=2 stores it with a session made then (the
    // column is the session's own): its use is recorded at most every 0.2 s.
    const IDLE_MS = 2000;
    const shortIdle = async (cookie: string) => {
      const hash = createHash('sha256').update(cookie).digest('hex');
      await db.pool.query(`update auth_sessions set idle_timeout_seconds = $2, last_seen_at = now() where secret_hash = $1`, [hash, IDLE_MS / 1000]);
    };
    const background = { 'x-selfheal-background': '1' };

    // A tab left open on a page that polls every 250 ms: served while the person was active within the
    // timeout, then refused once they have not been for longer than it, polls or not.
    const idle = await signIn('alice');
    await shortIdle(idle.cookie);
    const lastUse = Date.now();
    const answers: number[] = [];
    for (;;) {
      const status = (await jarFetch(idle.jar, `${base}/api/incidents?limit=1`, { headers: background })).status;
      answers.push(status);
      if (status !== 200 || Date.now() - lastUse > 5 * IDLE_MS) break;
      await pause(250);
    }
    const elapsed = Date.now() - lastUse;
    assert.equal(answers.at(-1), 401, `background requests every 250 ms for ${elapsed} ms kept the session alive past its ${IDLE_MS} ms idle timeout: ${answers.join(',')}`);
    assert.ok(answers.filter((a) => a === 200).length >= 3, `the background requests were served while the session was live: ${answers.join(',')}`);
    assert.ok(elapsed >= IDLE_MS - 100, `refused only once idle for the timeout (after ${elapsed} ms)`);
    assert.equal((await jarFetch(idle.jar, `${base}/api/incidents?limit=1`)).status, 401, 'the session has ended: a request of the person cannot revive it');
    assert.equal((await jarFetch(idle.jar, `${base}/auth/session`, { headers: background })).status, 401);

    // The person's own requests (no header) at the same pace keep the session alive for longer than the timeout.
    const active = await signIn('alice');
    await shortIdle(active.cookie);
    const until = Date.now() + 1.5 * IDLE_MS + 500;
    let served = 0;
    while (Date.now() < until) {
      assert.equal((await jarFetch(active.jar, `${base}/api/incidents?limit=1`)).status, 200, `the person's request ${served + 1} was refused`);
      served++;
      await pause(250);
    }
    // Their background requests are served as long as the session is live, and the header on a write changes nothing else.
    assert.equal((await jarFetch(active.jar, `${base}/api/incidents?limit=1`, { headers: background })).status, 200);
    const write = await jarFetch(active.jar, `${base}/api/environments`, { method: 'POST', headers: { ...sameOrigin(active.csrf), ...background }, body: JSON.stringify({ name: 'bg-header-env', labels: {} }) });
    assert.equal(write.status, 201, await write.text());
    const forged = await jarFetch(active.jar, `${base}/api/environments`, { method: 'POST', headers: { 'content-type': 'application/json', origin: base, 'sec-fetch-site': 'same-origin', ...background }, body: JSON.stringify({ name: 'bg-header-env-2', labels: {} }) });
    assert.equal(forged.status, 403, 'the header is no way around the CSRF token');
  });

  it('with a short SESSION_MAX_AGE_SECONDS the session really ends; a public client (no secret) and claims in the ID token work too', async function () {
    // A second API and provider: a 3-second session, a public client (PKCE only), and email and groups in the ID token.
    const server = await serveLater();
    const op2 = await startOidcProvider({ users: USERS, clientId: CLIENT_ID, redirectUri: `${server.url}/auth/callback`, postLogoutRedirectUri: `${server.url}/ui`, claimsInIdToken: true });
    try {
      const config = loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', OIDC_ISSUER_URL: op2.issuer, OIDC_CLIENT_ID: CLIENT_ID, SELFHEAL_PUBLIC_URL: server.url, OIDC_SCOPES: 'openid email profile groups', OIDC_ROLE_MAP: '{"viewers": "read"}', SESSION_MAX_AGE_SECONDS: '3', SELFHEAL_AUTH_MAX_FAILURES: '1000' });
      const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
      server.serve((req) => app.fetch(req));
      const jar = new CookieJar();
      const start = await jarFetch(jar, `${server.url}/auth/login`);
      const done = await jarFetch(jar, await throughProvider(jar, start.headers.get('location')!, `${server.url}/auth/callback`, 'bob'));
      assert.equal(done.status, 303, await done.text());
      const idToken = op2.issued.at(-1)!.id_token!;
      const claims = JSON.parse(Buffer.from(idToken.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
      assert.deepEqual(claims.groups, ['viewers'], 'this provider put the groups in the ID token');
      assert.match(jar.setLines.get('__Host-selfheal-session')!, /Max-Age=3\b/);
      const cookie = jar.get(new URL(server.url).hostname, '__Host-selfheal-session')!;
      const row = await db.db.selectFrom('auth_sessions').selectAll().where('secret_hash', '=', createHash('sha256').update(cookie).digest('hex')).executeTakeFirstOrThrow();
      assert.equal(row.expires_at.getTime() - row.created_at.getTime(), 3000);
      assert.equal(row.actor, 'user:bob@example.com');
      assert.deepEqual(row.scopes, ['read']);
      // A session of the other provider (the first API's) is worth nothing here.
      const alice = await signIn('alice');
      const foreign = await fetch(`${server.url}/api/incidents`, { headers: { cookie: `__Host-selfheal-session=${alice.cookie}` } });
      assert.equal(foreign.status, 401, 'a session made with another issuer is refused');
      // The browser would drop the cookie after 3 s; the server refuses it regardless once the time is up.
      await eventually(async () => (await jarFetch(jar, `${server.url}/api/incidents`)).status === 401, 30_000, 'the 3-second session to end');
    } finally {
      await server.close();
      await op2.close();
    }
  });

  it('bounds every call to the provider in time and size: a provider that hangs or answers too much gets a 502 page, and the next sign-in tries again', async function () {
    this.timeout(120_000);
    const peers = await Promise.all(
      ['hang', 'huge'].map(async (kind) => {
        const peer = Object.assign(
          http.createServer((_req, res) => {
            peer.requests++;
            if (kind === 'huge') res.end(JSON.stringify({ issuer: 'x', padding: 'x'.repeat(2_000_000) }));
            // 'hang': never answers
          }),
          { requests: 0 },
        );
        await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
        const app = createApp({ config: env({ OIDC_ISSUER_URL: `http://127.0.0.1:${(peer.address() as AddressInfo).port}` }), db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
        return { peer, login: async () => {
          const res = await app.request(`${base}/auth/login`);
          return { status: res.status, page: await res.text() };
        } };
      }),
    );
    try {
      const [hang, huge] = await Promise.all(peers.map((p) => p.login()));
      assert.equal(hang!.status, 502, hang!.page);
      assert.match(hang!.page, /cannot be reached/);
      assert.match(hang!.page, /aborted|timeout|timed out/i);
      assert.equal(huge!.status, 502, huge!.page);
      assert.match(huge!.page, /over 1000000 bytes/);
      assert.equal((await peers[1]!.login()).status, 502);
      assert.equal(peers[1]!.peer.requests, 2, 'a failed discovery is not cached: the next sign-in asks the provider again');
    } finally {
      for (const { peer } of peers) {
        peer.closeAllConnections();
        peer.close();
      }
    }
  });

  it('without OIDC_ISSUER_URL single sign-on is off: no sign-in route, session cookies ignored; DASHBOARD_TOKEN_SIGN_IN is reported', async function () {
    const { cookie } = await signIn('alice');
    const off = createApp({ config: loadConfig({ NODE_ENV: 'test', DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_ADMIN_TOKEN: ADMIN, SELFHEAL_AUTH_MAX_FAILURES: '1000' }), db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    assert.deepEqual(await (await off.request('/auth/config')).json(), { tokenSignIn: true, sso: null });
    assert.equal((await off.request('/auth/login')).status, 404);
    assert.equal((await off.request('/api/incidents', { headers: { cookie: `__Host-selfheal-session=${cookie}` } })).status, 401, 'a session is worth nothing while SSO is off');

    assert.deepEqual(await (await fetch(`${base}/auth/config`)).json(), { tokenSignIn: true, sso: { providerName: 'Example SSO', loginUrl: '/auth/login' } });
    const ssoOnly = createApp({ config: env({ DASHBOARD_TOKEN_SIGN_IN: 'false' }), db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    assert.equal(((await (await ssoOnly.request('/auth/config')).json()) as { tokenSignIn: boolean }).tokenSignIn, false);
    assert.equal((await ssoOnly.request('/api/incidents', { headers: { authorization: `Bearer ${ADMIN}` } })).status, 200, 'API tokens keep working on the API');
  });

  it('nothing in the logs holds an authorization code, a token, a session secret or a CSRF token', function () {
    const text = logLines.join('\n');
    assert.ok(logLines.some((l) => l.includes('"signed in"')) && logLines.some((l) => l.includes('"sign-in refused"')), 'the logger captured the sign-ins');
    for (const t of op.issued) secrets.push(...[t.access_token, t.id_token].filter((v): v is string => Boolean(v)));
    assert.ok(secrets.length > 20, `checked ${secrets.length} secrets`);
    for (const s of secrets) assert.ok(!text.includes(s), `a log line contains ${s.slice(0, 6)}…`);
    assert.doesNotMatch(text, /eyJ[\w-]{10,}\.eyJ[\w-]{10,}\./, 'no JWT in the logs');
  });
});
