// Signing out of the dashboard on a shared machine, then the browser's Back button, in a real headless
// Chromium with its back/forward cache on, as every Chromium a person runs has it (Playwright turns it off
// by default: `--disable-back-forward-cache`). Signing out with single sign-on leaves the page for the
// provider's logout page; Back then brought the dashboard's document back from that cache as it was left,
// the rules and the signed-in user on it, without asking the server anything.
import assert from 'node:assert/strict';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../helpers/browser.js';
import { startSsoServer, type SsoServer } from '../helpers/oidc-provider.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

const RULE = 'payroll-db-failover-secret-plan';

describe('dashboard sign-out in headless Chromium (back/forward cache on): Back, and the other tabs', function () {
  let sso: SsoServer;
  let browser: Browser;

  before(async function () {
    sso = await startSsoServer({
      users: { alice: { email: 'alice@example.com', name: 'Alice Admin', groups: ['sre-admins'] } },
      clientId: 'selfheal-dashboard',
      clientSecret: 'ui-back-client-secret-0123456789',
      env: { SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, OIDC_ROLE_MAP: 'sre-admins=admin', OIDC_PROVIDER_NAME: 'Example SSO' },
    });
    const rule = await fetch(`${sso.base}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: RULE, services: ['PBACK01'], actions: [{ id: 'note', type: 'pagerduty.note', content: 'hello' }] }),
    });
    assert.equal(rule.status, 201, await rule.text());
    browser = await launchChromium({ ignoreDefaultArgs: ['--disable-back-forward-cache'] });
  });

  after(async function () {
    await browser?.close();
    await sso?.close();
  });

  async function signIn(page: Page): Promise<void> {
    await page.goto(`${sso.base}/ui`);
    await page.getByTestId('sso-sign-in').click();
    await page.waitForURL((u) => u.href.startsWith(`${sso.op.issuer}/interaction/`));
    await page.fill('input[name=login]', 'alice');
    await page.fill('input[name=password]', 'correct horse');
    await page.click('button[type=submit]');
    const back = page.waitForURL((u) => u.href.startsWith(sso.base), { timeout: 30_000 }).then(() => 'back' as const);
    const consent = page.locator('input[name=prompt][value=consent]').waitFor({ state: 'attached', timeout: 30_000 }).then(() => 'consent' as const);
    back.catch(() => {});
    consent.catch(() => {});
    if ((await Promise.race([back, consent])) === 'consent') await page.click('button[type=submit]');
    await back;
    await page.getByTestId('user').waitFor();
  }

  it('Back after signing out shows the sign-in page, not the rules and the user the page showed before', async function () {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${sso.base}/ui#/rules`);
    await page.locator('[data-testid=rule-row]', { hasText: RULE }).waitFor();
    assert.equal(await page.getByTestId('user').innerText(), 'Alice Admin');

    // A mark on this document: found again after Back only if the browser kept the document (the cache).
    await page.evaluate('window.keptDocument = true');
    await page.click('#logout');
    await page.waitForURL((u) => u.href.startsWith(`${sso.op.issuer}/session/end`), { waitUntil: 'commit' });
    await page.getByTestId('op-logout').waitFor(); // the provider's page, shown
    // The next person at the machine presses Back. A document from the back/forward cache fires no load
    // event, so the navigation is awaited until it commits.
    await page.goBack({ waitUntil: 'commit' });
    await page.waitForURL((u) => u.href.startsWith(`${sso.base}/ui`), { waitUntil: 'commit' });
    // Whichever comes first: the sign-in page, or the rules of the session that was signed out.
    await page.locator('[data-testid=sso-sign-in], [data-testid=rule-row]').first().waitFor();
    assert.equal(await page.evaluate('window.keptDocument'), true, 'Back brought the same document back from the back/forward cache');
    assert.equal(await page.locator('[data-testid=rule-row]').count(), 0, `no rule is shown after signing out, but the page shows: ${(await page.locator('body').innerText()).slice(0, 300)}`);
    assert.doesNotMatch(await page.locator('body').innerText(), new RegExp(`${RULE}|Alice Admin`), 'nothing the session read is left on the page');
    await page.getByTestId('sso-sign-in').waitFor();
    assert.equal(await page.locator('#nav').isHidden(), true);
    await context.close();
  });

  it('signing out in one tab shows the sign-in page in the other tabs of the browser, not what the ended session read', async function () {
    const context = await browser.newContext();
    const page = await context.newPage();
    await signIn(page);
    await page.goto(`${sso.base}/ui#/rules`);
    await page.locator('[data-testid=rule-row]', { hasText: RULE }).waitFor();
    // A second tab of the same browser: the same cookie, so the same session.
    const other = await context.newPage();
    await other.goto(`${sso.base}/ui#/rules`);
    await other.locator('[data-testid=rule-row]', { hasText: RULE }).waitFor();
    assert.equal(await other.getByTestId('user').innerText(), 'Alice Admin');

    await page.click('#logout');
    await page.waitForURL((u) => u.href.startsWith(`${sso.op.issuer}/session/end`), { waitUntil: 'commit' });
    // The rules page does not poll: nothing but the sign-out itself can tell the other tab.
    await other.getByTestId('sso-sign-in').waitFor();
    assert.equal(await other.locator('[data-testid=rule-row]').count(), 0);
    assert.doesNotMatch(await other.locator('body').innerText(), new RegExp(`${RULE}|Alice Admin`), 'nothing the session read is left in the other tab');
    assert.equal(await other.locator('#nav').isHidden(), true);
    await context.close();
  });
});
