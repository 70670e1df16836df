import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { createLogger } from '../../src/logger.js';
import { mintApprovalLinks } from '../../src/services/approvals.js';
import { launchChromium, signInWithToken } from '../helpers/browser.js';
import { startOidcProvider, serveLater, type OidcProvider } from '../helpers/oidc-provider.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, startStack, type Stack } from '../helpers/stack.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const CLIENT_ID = 'selfheal-dashboard';
const CLIENT_SECRET = 'ui-sso-client-secret-0123456789';
const SESSION_COOKIE = '__Host-selfheal-session';

// Single sign-on end to end in a real headless Chromium: the dashboard (http://localhost:<port>, real API,
// Temporal and Postgres) signs in at a real OpenID Connect provider (oidc-provider on http://127.0.0.1,
// another site), through the provider's own login and consent pages, and back.
describe('dashboard single sign-on (OIDC) in headless Chromium', function () {
  let stack: Stack;
  let pd: PagerDutyPeer;
  let op: OidcProvider;
  let base: string;
  let closeServer: () => Promise<void>;
  let attacker: http.Server;
  let attackerPort: number;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const violations: string[] = [];
  const foreign: string[] = [];
  let incidentId: string;
  const svc = newServiceId();

  /** A context like a fresh browser profile: requests off loopback (the provider's web font) are refused and recorded. */
  async function newContext(): Promise<{ context: BrowserContext; page: Page }> {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await ctx.route(/^https?:\/\/(?!localhost[:/]|127\.0\.0\.1[:/])/, (route) => route.abort());
    const p = await ctx.newPage();
    p.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy|Refused/i.test(m.text()) && p.url().startsWith(base)) violations.push(m.text());
    });
    p.on('request', (r) => {
      const from = r.frame().url();
      // Only the provider's own pages ask for something off loopback (a web font); ours never do.
      if (!/^https?:\/\/(localhost|127\.0\.0\.1)[:/]/.test(r.url()) && !from.startsWith(op.issuer)) foreign.push(`${r.url()} from ${from}`);
    });
    return { context: ctx, page: p };
  }

  /**
   * Clicks "Sign in with …" and goes through the provider's pages as `login`. The provider shows its login
   * page only to a browser it has no session for: one that signed in there before (in this context) and did
   * not sign out there is sent straight back, signed in as that user. That fails here at once, rather than
   * waiting out the timeout for a login page that never comes: sign in another time with a fresh context
   * (`newContext`).
   */
  async function signInAtProvider(p: Page, login: string): Promise<void> {
    await p.goto(`${base}/ui`);
    await p.getByTestId('sso-sign-in').click();
    const atLogin = p.waitForURL((u) => u.href.startsWith(`${op.issuer}/interaction/`)).then(() => 'login' as const);
    const back = p.waitForURL((u) => u.href.startsWith(`${base}/auth/callback`) || u.href.startsWith(`${base}/ui#`)).then(() => 'back' as const);
    atLogin.catch(() => {});
    back.catch(() => {});
    if ((await Promise.race([atLogin, back])) === 'back') {
      throw new Error(`the provider did not ask ${login} to log in: this browser context is signed in there already (${p.url()}); use a fresh one (newContext)`);
    }
    await loginAtProvider(p, login);
  }

  /** On the provider's login page: logs in, and gives consent when the provider asks (first sign-in of a user). */
  async function loginAtProvider(p: Page, login: string): Promise<void> {
    await p.waitForURL((u) => u.href.startsWith(`${op.issuer}/interaction/`));
    await p.fill('input[name=login]', login);
    await p.fill('input[name=password]', 'correct horse');
    await p.click('button[type=submit]');
    const back = p.waitForURL((u) => u.href.startsWith(base), { timeout: 30_000 }).then(() => 'back' as const);
    const consent = p.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached', timeout: 30_000 }).then(() => 'consent' as const);
    back.catch(() => {});
    consent.catch(() => {});
    if ((await Promise.race([back, consent])) === 'consent') await p.click('button[type=submit]');
    await back;
  }

  before(async function () {
    await mkdir(ARTIFACTS, { recursive: true });
    const server = await serveLater();
    base = server.url;
    closeServer = server.close;
    op = await startOidcProvider({
      users: {
        alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre-admins'] },
        carol: { email: 'carol@example.com', name: 'Carol Marketing', groups: ['marketing'] },
      },
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      redirectUri: `${base}/auth/callback`,
      postLogoutRedirectUri: `${base}/ui`,
    });
    pd = await startPagerDutyPeer({ token: 'pd-sso-token' });
    stack = await startStack({
      env: {
        PAGERDUTY_API_URL: pd.url,
        PAGERDUTY_API_TOKEN: 'pd-sso-token',
        PAGERDUTY_FROM_EMAIL: 'selfheal@example.com',
        OIDC_ISSUER_URL: op.issuer,
        OIDC_CLIENT_ID: CLIENT_ID,
        OIDC_CLIENT_SECRET: CLIENT_SECRET,
        SELFHEAL_PUBLIC_URL: base,
        OIDC_SCOPES: 'openid email profile groups',
        OIDC_ROLE_MAP: 'sre-admins=admin,sre=write,viewers=read',
        OIDC_PROVIDER_NAME: 'Example SSO',
      },
    });
    server.serve((req) => stack.app.fetch(req));

    // An incident whose rule waits for an approval, through the real webhook and worker.
    const rule = await stack.api('/api/rules', {
      method: 'POST',
      body: JSON.stringify({
        name: 'sso-gated',
        services: [svc],
        actions: [{ id: 'gated-note', type: 'pagerduty.note', content: 'approved in the dashboard for {{ incident.id }}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
      }),
    });
    assert.equal(rule.status, 201, await rule.clone().text());
    incidentId = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { title: 'Disk full on sso-web-1', service: { id: svc, type: 'service_reference', summary: 'web' } } }));
    assert.equal(res.status, 202);
    await eventually(
      () => stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', incidentId).where('status', '=', 'awaiting_approval').executeTakeFirst(),
      30_000,
      'the gated action to wait for approval',
    );

    // Another origin on the same site (localhost, another port): SameSite=Lax lets its requests carry the
    // session cookie, so only the CSRF defences stand between it and a write.
    attacker = http.createServer((req, res) => {
      const target = `${base}/api/environments`;
      const body =
        req.url === '/form'
          ? // A text/plain form whose body is JSON: {"name":"evil-form","labels":{},"pad":"="}
            `<form id="f" method="POST" action="${target}" enctype="text/plain"><input name='{"name":"evil-form","labels":{},"pad":"' value='"}'></form><script>document.getElementById('f').submit()</script>`
          : `<script>fetch(${JSON.stringify(target)}, { method: 'POST', mode: 'no-cors', credentials: 'include', headers: { 'content-type': 'text/plain' }, body: JSON.stringify({ name: 'evil-fetch', labels: {} }) }).then(() => { document.title = 'sent'; }, () => { document.title = 'failed'; });</script>`;
      res.setHeader('content-type', 'text/html');
      res.end(`<!doctype html><title>cute cats</title>${body}`);
    });
    await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
    attackerPort = (attacker.address() as AddressInfo).port;

    browser = await launchChromium();
    ({ context, page } = await newContext());
  });

  after(async function () {
    await browser?.close();
    await new Promise<void>((resolve) => (attacker ? attacker.close(() => resolve()) : resolve()));
    await closeServer?.();
    await stack?.stop();
    await op?.close();
    await pd?.close();
  });

  const shot = (p: Page, name: string) => p.screenshot({ path: `${ARTIFACTS}sso-${name}.png`, fullPage: true });

  it('signs in with the provider: its login and consent pages, then the dashboard shows the user and the incidents', async function () {
    await page.goto(`${base}/ui`);
    await page.getByTestId('sso-sign-in').waitFor();
    assert.equal(await page.getByTestId('sso-sign-in').innerText(), 'Sign in with Example SSO');
    assert.equal(await page.locator('#token').count(), 1, 'token sign-in stays beside it (break-glass)');
    await shot(page, 'sign-in');

    await signInAtProvider(page, 'alice');
    await page.waitForURL(`${base}/ui#/incidents`);
    await page.locator(`[data-testid=incident-row][data-id="${incidentId}"]`).waitFor();
    assert.equal(await page.getByTestId('user').innerText(), 'Alice Admin');
    assert.equal(await page.locator('#logout').isVisible(), true);
    await shot(page, 'signed-in');

    const cookies = await context.cookies(base);
    const session = cookies.find((c) => c.name === SESSION_COOKIE);
    assert.ok(session, `the browser kept the session cookie: ${cookies.map((c) => c.name).join(', ')}`);
    assert.equal(session.httpOnly, true);
    assert.equal(session.secure, true, 'Secure: Chromium keeps it on http://localhost');
    assert.equal(session.sameSite, 'Lax');
    assert.equal(session.path, '/');
    assert.equal(session.domain, 'localhost');
    assert.ok(!cookies.some((c) => c.name === '__Host-selfheal-signin'), 'the sign-in cookie is gone');
    assert.doesNotMatch(await page.evaluate<string>('document.cookie'), /selfheal/, 'page scripts cannot read the session cookie');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('selfheal-token')), null, 'no bearer token in the page');
    assert.equal(await page.evaluate(() => localStorage.length), 0);
  });

  it('approving by clicking sends the CSRF token with the cookie; the approval and the audit log name the user', async function () {
    await page.locator(`[data-testid=incident-row][data-id="${incidentId}"]`).click();
    await page.getByTestId('approve').click();
    // The approval asks to be confirmed (src/dashboard/client/confirm.ts: the confirm button comes alive after 500 ms).
    await page.getByTestId('confirm-ok').click();
    await page.locator('[data-testid=action-status]', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    const run = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).executeTakeFirstOrThrow();
    assert.deepEqual({ decision: (run.approval as { decision: string }).decision, actor: (run.approval as { actor: string }).actor }, { decision: 'approve', actor: 'user:alice@example.com' });
    const audit = await stack.db.db.selectFrom('audit_log').select('actor').where('action', '=', 'approval.approve').where('entity_id', '=', run.id).executeTakeFirstOrThrow();
    assert.equal(audit.actor, 'user:alice@example.com');
    assert.ok(pd.notes(incidentId).some((n) => n.content.includes(`approved in the dashboard for ${incidentId}`)), 'the approved action reached PagerDuty');
    await shot(page, 'approved');
  });

  it("an approval link's page and its button, in the browser: the form posts with Origin: null (no-referrer page) and approves", async function () {
    const id = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { data: { title: 'Disk full on sso-web-2', service: { id: svc, type: 'service_reference', summary: 'web' } } }));
    assert.equal(res.status, 202);
    const waiting = await eventually(
      () => stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', id).where('status', '=', 'awaiting_approval').executeTakeFirst(),
      30_000,
      'the second gated action to wait',
    );
    const links = await mintApprovalLinks(stack.db.db, { actionRunId: waiting.id, publicUrl: base, expiresAt: new Date(Date.now() + 600_000) });
    // In a tab of its own, as a link opened from Slack or an e-mail, signed in by the same cookie.
    const tab = await context.newPage();
    await tab.goto(links.approve);
    await tab.locator('button[type=submit]', { hasText: 'Approve' }).waitFor();
    await shot(tab, 'approval-link');
    // Before, Chromium sent `Origin: null` from this page and the API answered 403: no link ever approved.
    const [answer] = await Promise.all([tab.waitForResponse((r) => r.url() === `${base}/approvals/link` && r.request().method() === 'POST'), tab.locator('button[type=submit]').click()]);
    assert.equal((await answer.request().allHeaders()).origin, 'null', 'the browser sent an opaque origin');
    assert.equal(answer.status(), 200, await answer.text());
    await tab.getByText(`user:alice@example.com approved ${waiting.id}`).waitFor();
    await tab.close();
    const run = await stack.db.db.selectFrom('action_runs').select('approval').where('id', '=', waiting.id).executeTakeFirstOrThrow();
    assert.deepEqual([(run.approval as { actor: string }).actor, (run.approval as { via: string }).via], ['user:alice@example.com', 'link']);
  });

  it('another origin of the same site cannot write with the session: its form post is refused 403 and its no-cors fetch changes nothing', async function () {
    const evil = await context.newPage();
    await evil.goto(`http://localhost:${attackerPort}/form`);
    await evil.waitForURL(`${base}/api/environments`);
    const answer = JSON.parse(await evil.locator('body').innerText()) as { status: number; detail: string };
    assert.equal(answer.status, 403, 'the cookie went along (else 401) and was refused');
    assert.match(answer.detail, /same-site request may not use the dashboard session/);

    await evil.goto(`http://localhost:${attackerPort}/fetch`);
    await eventually(async () => ['sent', 'failed'].includes(await evil.title()), 10_000, 'the attacker page to send its request');
    await evil.close();
    const created = await stack.db.db.selectFrom('environments').select('name').where('name', 'in', ['evil-form', 'evil-fetch']).execute();
    assert.deepEqual(created, [], 'no forged write went through');
    assert.equal(await stack.db.db.selectFrom('audit_log').select('id').where('entity_id', 'in', ['evil-form', 'evil-fetch']).executeTakeFirst(), undefined);
  });

  it('the session survives a reload; signing out revokes it, signs out at the provider, and the old cookie gets 401', async function () {
    await page.reload();
    await page.getByTestId('user').waitFor();
    assert.equal(await page.getByTestId('user').innerText(), 'Alice Admin');
    const old = (await context.cookies(base)).find((c) => c.name === SESSION_COOKIE)!.value;

    await page.click('#logout');
    await page.waitForURL((u) => u.href.startsWith(`${op.issuer}/session/end`));
    await shot(page, 'provider-logout');
    await page.getByTestId('op-logout').click();
    await page.waitForURL(`${base}/ui`);
    await page.getByTestId('sso-sign-in').waitFor();
    assert.equal(await page.locator('#nav').isHidden(), true);
    assert.ok(op.logouts >= 1, 'the provider ended its session');
    assert.ok(!(await context.cookies(base)).some((c) => c.name === SESSION_COOKIE), 'the browser dropped the cookie');

    const replay = await fetch(`${base}/api/incidents`, { headers: { cookie: `${SESSION_COOKIE}=${old}` } });
    assert.equal(replay.status, 401, 'the old cookie is revoked on the server');

    // Signed out at the provider too: signing in again asks for the login again.
    await page.getByTestId('sso-sign-in').click();
    await page.locator('input[name=login]').waitFor();
  });

  it('a session that expires sends the page back to the sign-in page at its next call', async function () {
    await loginAtProvider(page, 'alice');
    await page.waitForURL(`${base}/ui#/incidents`);
    await page.getByTestId('user').waitFor();
    // This sign-in's session only: the other tests' sessions are theirs.
    const mine = await stack.db.db.selectFrom('auth_sessions').select('id').where('revoked_at', 'is', null).orderBy('created_at', 'desc').limit(1).executeTakeFirstOrThrow();
    await stack.db.db.updateTable('auth_sessions').set({ expires_at: new Date(Date.now() - 1000) }).where('id', '=', mine.id).execute();
    // The next call is the click, or the incidents page's own refresh (every 2 s while work is pending) when it
    // comes first: then the page is on the sign-in already and the link hidden, which the click would wait on
    // for ever (the fresh-clone CI of 6032279 timed out there). Either call must send the page to the sign-in.
    const rules = page.locator('nav a[data-nav=rules]');
    if (await rules.isVisible()) await rules.click({ timeout: 5_000 }).catch(() => undefined);
    await page.getByTestId('sso-sign-in').waitFor();
    assert.equal(await page.locator('#nav').isHidden(), true);
  });

  it("an incident page left open does not keep the session alive: its auto-refresh is sent as background, and at the idle timeout the page shows the sign-in", async function () {
    // A browser of its own: the shared one is signed in at the provider, which would skip its login page.
    const { context: other, page: p } = await newContext();
    try {
      await signInAtProvider(p, 'alice');
      await p.waitForURL(`${base}/ui#/incidents`);
      const loads: { background: string | undefined; status: number; at: number }[] = [];
      p.on('response', (r) => {
        if (new URL(r.url()).pathname === `/api/incidents/${incidentId}`) loads.push({ background: r.request().headers()['x-selfheal-background'], status: r.status(), at: Date.now() });
      });
      await p.locator(`[data-testid=incident-row][data-id="${incidentId}"]`).click();
      await p.getByTestId('incident-title').waitFor();
      // A 5-second idle timeout, as SESSION_IDLE_TIMEOUT_SECONDS=5 stores it with a session made then (the
      // column is the session's own): the page refreshes every 2 s, so without the background mark each
      // refresh would record a use (at most every 0.5 s) and the session would never end.
      const IDLE_MS = 5000;
      const secret = (await other.cookies(base)).find((c) => c.name === SESSION_COOKIE)!.value;
      await stack.db.db
        .updateTable('auth_sessions')
        .set({ idle_timeout_seconds: IDLE_MS / 1000, last_seen_at: sql<Date>`now()` })
        .where('secret_hash', '=', createHash('sha256').update(secret).digest('hex'))
        .execute();
      const lastUse = Date.now();
      // Nobody touches the page: its refreshes go on until one is refused, and the page signs out.
      await p.getByTestId('sso-sign-in').waitFor({ timeout: IDLE_MS + 15_000 });
      await shot(p, 'idle-signed-out');
      assert.equal(await p.locator('#nav').isHidden(), true);
      assert.equal(await p.getByTestId('user').isHidden(), true);
      assert.equal(await p.getByTestId('incident-title').count(), 0, 'the incident is no longer shown');

      const [opened, ...refreshes] = loads;
      assert.deepEqual({ background: opened?.background, status: opened?.status }, { background: undefined, status: 200 }, 'opening the incident (a click) is the person\'s request');
      assert.ok(refreshes.length >= 3, `the page refreshed in the background: ${JSON.stringify(loads)}`);
      assert.ok(refreshes.every((r) => r.background === '1'), `every refresh carried X-Selfheal-Background: 1: ${JSON.stringify(loads)}`);
      assert.deepEqual(refreshes.map((r) => r.status), [...refreshes.slice(0, -1).map(() => 200), 401], 'served until the idle timeout, then refused');
      assert.ok(refreshes.at(-1)!.at - lastUse >= IDLE_MS - 200, `refused once idle for the timeout (${refreshes.at(-1)!.at - lastUse} ms)`);
      // The sign-in page is the way back, as after any 401.
      assert.equal(await p.getByTestId('sso-sign-in').getAttribute('href'), '/auth/login');
    } finally {
      await other.close();
    }
  });

  it('a user in no mapped group sees why they are refused, and gets no session', async function () {
    const { context: other, page: p } = await newContext();
    try {
      await signInAtProvider(p, 'carol');
      await p.getByTestId('sign-in-refused').waitFor();
      assert.equal(await p.getByTestId('sign-in-refused').innerText(), 'No access to Self-healing');
      assert.match(await p.getByTestId('sign-in-detail').innerText(), /carol@example\.com.*marketing.*OIDC_ROLE_MAP/s);
      assert.ok(!(await other.cookies(base)).some((c) => c.name === SESSION_COOKIE));
      await shot(p, 'refused');
    } finally {
      await other.close();
    }
  });

  it('a sign-in whose ID token carries another nonce is refused in the browser too', async function () {
    const { context: other, page: p } = await newContext();
    try {
      // Start the sign-in with the browser's own cookies (context.request shares them), then change the
      // nonce in the authorization request before the browser goes to the provider.
      const start = await other.request.get(`${base}/auth/login`, { maxRedirects: 0 });
      assert.equal(start.status(), 302);
      assert.ok((await other.cookies(base)).some((c) => c.name === '__Host-selfheal-signin'), 'the sign-in cookie is in the browser');
      const authorize = new URL(start.headers()['location']!);
      authorize.searchParams.set('nonce', 'nonce-chosen-by-an-attacker');
      await p.goto(authorize.href);
      await loginAtProvider(p, 'alice');
      await p.getByTestId('sign-in-refused').waitFor();
      assert.match(await p.getByTestId('sign-in-detail').innerText(), /nonce/);
      assert.ok(!(await other.cookies(base)).some((c) => c.name === SESSION_COOKIE));
    } finally {
      await other.close();
    }
  });

  it('the pasted-token sign-in still works beside single sign-on', async function () {
    const { context: other, page: p } = await newContext();
    try {
      await signInWithToken(p, base, ADMIN_TOKEN);
      assert.equal(await p.getByTestId('user').innerText(), 'API token');
    } finally {
      await other.close();
    }
  });

  it('with DASHBOARD_TOKEN_SIGN_IN=false the sign-in page offers only the provider', async function () {
    const server = await serveLater();
    const app = createApp({ config: { ...stack.config, sso: { ...stack.config.sso, tokenSignIn: false } }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    server.serve((req) => app.fetch(req));
    const { context: other, page: p } = await newContext();
    try {
      await p.goto(`${server.url}/ui`);
      await p.getByTestId('sso-sign-in').waitFor();
      assert.equal(await p.locator('#token').count(), 0, 'no token field');
      await shot(p, 'sso-only');
    } finally {
      await other.close();
      await server.close();
    }
  });

  it('the dashboard loaded nothing from elsewhere and broke no CSP rule', function () {
    assert.deepEqual(foreign, []);
    assert.deepEqual(violations, []);
  });
});
