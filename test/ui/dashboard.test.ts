import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Browser, Locator, Page } from 'playwright-core';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { jobScheduleId } from '../../src/temporal/names.js';
import { launchChromium, signInWithToken, watchedPage, type WatchedPage } from '../helpers/browser.js';
import { startPagerDutyPeer, type PagerDutyPeer } from '../helpers/pagerduty-peer.js';
import { newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ADMIN_TOKEN, eventually, issueToken, startStack, type Stack } from '../helpers/stack.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));

// The dashboard in a real headless Chromium against a real API server, real Temporal and real Postgres.
describe('dashboard (/ui) in headless Chromium', function () {
  const PD_TOKEN = 'pd-ui-token';
  let stack: Stack;
  let pd: PagerDutyPeer;
  let server: ApiServer;
  let browser: Browser;
  let page: Page;
  let watched: WatchedPage;
  let incidentId: string;
  let ruleId: string;
  const svc = newServiceId();

  before(async function () {
    await mkdir(ARTIFACTS, { recursive: true });
    pd = await startPagerDutyPeer({ token: PD_TOKEN });
    stack = await startStack({ env: { PAGERDUTY_API_URL: pd.url, PAGERDUTY_API_TOKEN: PD_TOKEN, PAGERDUTY_FROM_EMAIL: 'selfheal@example.com' } });
    server = await startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });

    // Real data through the real API: a rule with an approval-gated action, an environment, a job, an incident.
    // The rule is written by another person than the one approving in the browser (the author of a rule
    // version may not approve its gated actions).
    const author = await issueToken(stack, 'ui-rule-author', ['write']);
    const rule = await stack.api('/api/rules', {
      method: 'POST',
      headers: { authorization: `Bearer ${author}` },
      body: JSON.stringify({
        name: 'ui-disk-full',
        services: [svc],
        conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }] },
        actions: [{ id: 'gated-note', type: 'pagerduty.note', content: 'approved by an SRE for {{ incident.id }}', approval: { required: true, timeoutMinutes: 30, onTimeout: 'reject' } }],
      }),
    });
    assert.equal(rule.status, 201, await rule.clone().text());
    ruleId = ((await rule.json()) as { id: string }).id;
    const env = await stack.api('/api/environments', { method: 'POST', body: JSON.stringify({ name: 'ui-prod-eu', description: 'prod, eu-west-1', labels: { tier: 'prod' } }) });
    assert.equal(env.status, 201, await env.clone().text());
    const job = await stack.api('/api/jobs', {
      method: 'POST',
      body: JSON.stringify({ id: 'ui-root-expiry', name: 'ui root password expiry', schedule: { interval: '6h' }, targets: { environments: ['ui-prod-eu'] }, script: 'probe.sh', agentPickupTimeoutSeconds: 1 }),
    });
    assert.equal(job.status, 201, await job.clone().text());

    incidentId = newIncidentId();
    const res = await stack.deliver(sampleFor('v3-incident.triggered-01.json', incidentId, { data: { urgency: 'high', title: 'Disk full on web-7', service: { id: svc, type: 'service_reference', summary: 'web' } } }));
    assert.equal(res.status, 202);
    await eventually(
      () => stack.db.db.selectFrom('action_runs').select('id').where('incident_id', '=', incidentId).where('status', '=', 'awaiting_approval').executeTakeFirst(),
      30_000,
      'the gated action to wait for approval',
    );

    browser = await launchChromium();
    watched = await watchedPage(browser, server.url, { width: 1280, height: 900 });
    page = watched.page;
  });

  after(async function () {
    await browser?.close();
    await server?.close();
    await stack?.stop();
    await pd?.close();
  });

  const shot = (name: string) => page.screenshot({ path: `${ARTIFACTS}dashboard-${name}.png`, fullPage: true });

  /** The statuses of the incident's action runs, as the API tells them. */
  const actionStatuses = async () => {
    const res = await stack.api(`/api/incidents/${encodeURIComponent(incidentId)}`);
    assert.equal(res.status, 200);
    return ((await res.json()) as { actionRuns: { status: string }[] }).actionRuns.map((r) => r.status);
  };
  /** The middle of an element, where a click lands. */
  const middle = async (el: Locator) => {
    const box = await el.boundingBox();
    assert.ok(box, 'the element is shown');
    return { x: box.x + box.width / 2, y: box.y + box.height / 2, box };
  };
  /** Confirms the open confirmation dialog as a person would: waits for its button to come alive, clicks it. */
  const confirmDialog = async (p: Page = page) => {
    await p.getByTestId('confirm-ok').click(); // Playwright waits until the button is enabled
    await p.getByTestId('confirm-dialog').waitFor({ state: 'detached' });
  };

  it('serves the page with a strict CSP and asks for a token, which it keeps in sessionStorage', async function () {
    const res = await fetch(`${server.url}/ui`);
    assert.equal(res.status, 200);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);

    await page.goto(`${server.url}/ui`);
    await page.locator('#token').waitFor();
    await page.fill('#token', 'wrong-token-0123456789');
    await page.click('#login button[type=submit]');
    await page.getByTestId('login-error').filter({ hasText: 'not accepted' }).waitFor();
    await page.fill('#token', ADMIN_TOKEN);
    await page.click('#login button[type=submit]');
    await page.getByTestId('incidents').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('selfheal-token')), ADMIN_TOKEN);
    assert.equal(await page.evaluate(() => localStorage.length), 0, 'nothing in localStorage');
  });

  it('serves its script and stylesheet as content-hashed assets under the same CSP, cached for good and revalidated by ETag', async function () {
    const pageRes = await fetch(`${server.url}/ui`);
    const csp = pageRes.headers.get('content-security-policy');
    assert.equal(pageRes.headers.get('cache-control'), 'no-cache', 'the page is revalidated, so it always names the current assets');
    const pageTag = pageRes.headers.get('etag');
    assert.ok(pageTag, 'the page has an ETag');
    assert.equal((await fetch(`${server.url}/ui`, { headers: { 'if-none-match': pageTag } })).status, 304);
    const html = await pageRes.text();
    const script = /<script src="([^"]+)" defer><\/script>/.exec(html)?.[1];
    const stylesheet = /<link rel="stylesheet" href="([^"]+)">/.exec(html)?.[1];
    assert.doesNotMatch(html.replace(/<script src="[^"]+" defer><\/script>/, ''), /<script|<style|style=/, 'no inline script or style');
    for (const [url, type] of [
      [script, 'text/javascript'],
      [stylesheet, 'text/css'],
    ] as const) {
      assert.match(url ?? '', /^\/ui\/assets\/app\.[A-Z0-9]{8}\.(js|css)$/);
      const res = await fetch(`${server.url}${url}`);
      assert.equal(res.status, 200, url);
      assert.ok((await res.arrayBuffer()).byteLength > 1000, `${url} has content`);
      assert.equal(res.headers.get('content-type'), `${type}; charset=utf-8`);
      assert.equal(res.headers.get('content-security-policy'), csp);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
      assert.equal(res.headers.get('cache-control'), 'public, max-age=31536000, immutable');
      const tag = res.headers.get('etag');
      assert.match(tag ?? '', /^"[\w-]+"$/);
      assert.equal((await fetch(`${server.url}${url}`, { headers: { 'if-none-match': tag! } })).status, 304, `${url} revalidates`);
    }
    const missing = await fetch(`${server.url}/ui/assets/app.AAAAAAAA.js`);
    assert.equal(missing.status, 404);
    assert.equal(missing.headers.get('content-type'), 'application/problem+json');
  });

  it('lists incidents and shows the incident timeline: events, environment, match explanation, action awaiting approval', async function () {
    const row = page.locator(`[data-testid=incident-row][data-id="${incidentId}"]`);
    await row.waitFor();
    assert.match(await row.innerText(), /Disk full on web-7/);
    await shot('incidents');
    await row.click();
    await page.getByTestId('timeline').waitFor();
    assert.match(await page.getByTestId('incident-title').innerText(), /Disk full on web-7/);
    assert.equal(await page.getByTestId('temporal-link').getAttribute('href'), `http://localhost:8233/namespaces/default/workflows/incident-${incidentId}`);
    const timeline = await page.getByTestId('timeline').innerText();
    assert.match(timeline, /PagerDuty incident\.triggered/);
    assert.match(timeline, /ui-disk-full/);
    assert.ok((await page.getByTestId('explanation').first().textContent())?.includes('urgency'), 'the explanation says why the rule matched');
    assert.equal(await page.getByTestId('action-status').first().innerText(), 'awaiting_approval');
    await page.getByTestId('approve').waitFor();
    await shot('incident-awaiting-approval');
  });

  // Double-click-jacking: a page the approver opened opens a popup, points its own first tab at this
  // incident, and closes the popup on the mousedown of a "double-click here", so the second click lands on
  // Approve. A click on Approve only opens a confirmation, whose button is elsewhere and comes alive only
  // after the page has been in front for 500 ms.
  it('a double click on Approve approves nothing: the second click lands beside the confirmation, which Escape closes', async function () {
    const approve = page.getByTestId('approve');
    const at = await middle(approve);
    await page.mouse.dblclick(at.x, at.y);
    await page.waitForTimeout(1500);
    assert.deepEqual(await actionStatuses(), ['awaiting_approval'], 'the action still waits for approval');
    assert.equal(await page.getByTestId('approval-sent').count(), 0);
    const dialog = page.getByTestId('confirm-dialog');
    assert.equal(await dialog.isVisible(), true, 'the click asked instead');
    assert.match(await page.getByTestId('confirm-question').innerText(), /^Approve action gated-note \(pagerduty\.note\) of rule ui-disk-full on incident #\d+\?$/);
    const ok = (await middle(page.getByTestId('confirm-ok'))).box;
    const overlap = ok.x < at.box.x + at.box.width && at.box.x < ok.x + ok.width && ok.y < at.box.y + at.box.height && at.box.y < ok.y + ok.height;
    assert.equal(overlap, false, 'the confirm button is not where Approve was');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
    await page.waitForTimeout(500);
    assert.deepEqual(await actionStatuses(), ['awaiting_approval'], 'Escape decided nothing');
  });

  it('a click on the confirm button within 500 ms of the page coming to front (a popup closed over it) approves nothing', async function () {
    // Its own tab with real focus (Playwright otherwise tells every page it has focus), and a second tab
    // of the same window as the attacker's popup.
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const victim = await context.newPage();
      await signInWithToken(victim, server.url, ADMIN_TOKEN);
      await victim.goto(`${server.url}/ui#/incidents/${encodeURIComponent(incidentId)}`);
      const cdp = await context.newCDPSession(victim); // after the navigations, which would reset it
      await cdp.send('Emulation.setFocusEmulationEnabled', { enabled: false });
      await victim.bringToFront();
      await victim.getByTestId('approve').click();
      const ok = victim.getByTestId('confirm-ok');
      await eventually(() => ok.isEnabled(), 5_000, 'the confirm button to come alive while the page is in front');
      const at = await middle(ok);

      const popup = await context.newPage();
      await popup.bringToFront();
      await eventually(async () => !(await victim.evaluate<boolean>('document.hasFocus()')), 5_000, 'the popup to take the focus');
      await victim.waitForTimeout(1000); // longer than the delay: only coming back to front counts
      const front = Date.now();
      await victim.bringToFront();
      await victim.mouse.click(at.x, at.y);
      const elapsed = Date.now() - front;
      assert.ok(elapsed < 500, `the click came ${elapsed} ms after the page came to front`);
      await victim.waitForTimeout(1500);
      assert.deepEqual(await actionStatuses(), ['awaiting_approval'], 'the action still waits for approval');
      assert.equal(await victim.getByTestId('approval-sent').count(), 0);
      await popup.close();
      await victim.getByTestId('confirm-cancel').click();
      await victim.getByTestId('confirm-dialog').waitFor({ state: 'detached' });
      assert.deepEqual(await actionStatuses(), ['awaiting_approval'], 'Cancel decided nothing');
    } finally {
      await context.close();
    }
  });

  it('approving by clicking runs the gated action, and the page shows it succeeded', async function () {
    await page.getByTestId('approve').click();
    assert.match(await page.getByTestId('confirm-question').innerText(), /^Approve action gated-note \(pagerduty\.note\) of rule ui-disk-full on incident #\d+\?$/);
    await shot('confirm-approve');
    await confirmDialog();
    await page.locator('[data-testid=action-status]', { hasText: 'succeeded' }).waitFor({ timeout: 30_000 });
    const run = await stack.db.db.selectFrom('action_runs').selectAll().where('incident_id', '=', incidentId).executeTakeFirstOrThrow();
    assert.equal(run.status, 'succeeded');
    assert.equal((run.approval as { actor: string; decision: string }).decision, 'approve');
    assert.ok(pd.notes(incidentId).some((n) => n.content.includes(`approved by an SRE for ${incidentId}`)), 'the note reached PagerDuty');
    await shot('incident-approved');
  });

  it('rules: list, editor in JSON and YAML, and the dry-run tester', async function () {
    await page.click('nav a[data-nav=rules]');
    assert.equal(await page.getByTestId('rule-row').filter({ hasText: 'ui-disk-full' }).getByTestId('rule-team').innerText(), 'default');
    await page.getByTestId('rule-row').filter({ hasText: 'ui-disk-full' }).click();
    await page.getByTestId('rule-editor').waitFor();
    assert.match(await page.getByTestId('rule-editor').inputValue(), /"name": "ui-disk-full"/);
    await page.getByTestId('rule-format').selectOption('yaml');
    await eventually(async () => /^name: ui-disk-full$/m.test(await page.getByTestId('rule-editor').inputValue()), 10_000, 'YAML in the editor');

    const payload = sampleFor('v3-incident.triggered-01.json', 'PTEST01', { data: { urgency: 'high', service: { id: svc, type: 'service_reference', summary: 'web' } } });
    await page.getByTestId('test-payload').fill(JSON.stringify(payload));
    await page.getByTestId('rule-test').click();
    await page.getByTestId('test-verdict').waitFor();
    assert.equal(await page.getByTestId('test-verdict').innerText(), 'MATCHES');
    await shot('rule-editor');

    // Edit in YAML and save: a new version.
    const yaml = (await page.getByTestId('rule-editor').inputValue()).replace(/^name: ui-disk-full$/m, 'name: ui-disk-full-v2');
    await page.getByTestId('rule-editor').fill(yaml);
    await page.getByTestId('rule-save').click();
    await page.locator('h2', { hasText: 'ui-disk-full-v2 (v2)' }).waitFor({ timeout: 10_000 }).catch(async (err: Error) => {
      throw new Error(`${err.message}; editor says: ${await page.getByTestId('rule-status').textContent()}`);
    });
    const stored = await stack.db.db.selectFrom('rules').select(['version', 'name']).where('id', '=', ruleId).executeTakeFirstOrThrow();
    assert.deepEqual(stored, { version: 2, name: 'ui-disk-full-v2' });

    // Validate: a script argument that begins with a value gets a hint (a run would refuse it if the value
    // started with "-"); validating saves nothing.
    const statusText = async () => (await page.getByTestId('rule-status').textContent()) ?? '';
    await page.getByTestId('rule-validate').click();
    await eventually(async () => (await statusText()) === 'Valid.', 10_000, 'Valid. without hints');
    const doc = JSON.parse(await page.getByTestId('rule-editor').inputValue()) as { actions: unknown[] };
    doc.actions.push({ type: 'script.agent', script: 'disk-cleanup.sh', args: ['{{ environment.host }}'] });
    await page.getByTestId('rule-editor').fill(JSON.stringify(doc, null, 2));
    await page.getByTestId('rule-validate').click();
    await eventually(async () => /^Valid, with a warning: actions\.1\.args\.0: "\{\{ environment\.host \}\}" begins with a value/.test(await statusText()), 10_000, `the hint, not: ${await statusText()}`);
    assert.equal((await stack.db.db.selectFrom('rules').select('version').where('id', '=', ruleId).executeTakeFirstOrThrow()).version, 2, 'nothing saved');
    // Saved anyway, the rule is stored and the save says the same.
    await page.getByTestId('rule-save').click();
    await eventually(
      async () => /^Saved ui-disk-full-v2 v3, with a warning: actions\.1\.args\.0: "\{\{ environment\.host \}\}" begins with a value/.test((await page.locator('#flash').textContent()) ?? ''),
      10_000,
      `the save's hint, not: ${await page.locator('#flash').textContent()}`,
    );
    assert.equal((await stack.db.db.selectFrom('rules').select('version').where('id', '=', ruleId).executeTakeFirstOrThrow()).version, 3, 'saved');
  });

  it('jobs: next runs, run now, run history with per-target results and Temporal links', async function () {
    await page.click('nav a[data-nav=jobs]');
    const row = page.getByTestId('job-row').filter({ hasText: 'ui root password expiry' });
    await row.waitFor();
    assert.notEqual((await row.getByTestId('job-next').innerText()).trim(), '', 'next run shown');
    assert.match(await row.innerText(), /every 6h/);
    assert.equal(await row.getByTestId('job-team').innerText(), 'default', 'the team column names the owning team');
    await row.click();
    await page.getByTestId('next-runs').waitFor();
    await page.getByTestId('job-trigger').click();
    assert.equal(await page.getByTestId('confirm-question').innerText(), 'Run job ui root password expiry now?');
    await confirmDialog();
    // No agent polls ui-prod-eu: the target fails after the 1 s pickup timeout, and the run is recorded.
    await eventually(
      async () => {
        await page.reload();
        await page.getByTestId('job-state').waitFor();
        return (await page.getByTestId('job-target').count()) > 0;
      },
      60_000,
      'a job run with a target result',
    );
    assert.match(await page.getByTestId('job-target').first().innerText(), /ui-prod-eu/);
    assert.match((await page.getByTestId('run-temporal-link').first().getAttribute('href')) ?? '', /^http:\/\/localhost:8233\/namespaces\/default\/workflows\//);
    assert.equal(await page.getByTestId('schedule-link').getAttribute('href'), 'http://localhost:8233/namespaces/default/schedules/job-ui-root-expiry');
    await shot('job');
    await page.getByTestId('job-pause').click();
    await confirmDialog();
    await page.getByTestId('job-resume').waitFor();
    assert.equal(await page.getByTestId('job-state').innerText(), 'paused');
    assert.equal(await page.getByTestId('no-next-runs').innerText(), 'none: paused');

    // A schedule gone from Temporal is said to be gone, in the list and on the job's page.
    await stack.temporal.client.schedule.getHandle(jobScheduleId('ui-root-expiry')).delete();
    await page.reload();
    await page.getByTestId('no-next-runs').waitFor();
    assert.equal(await page.getByTestId('job-state').innerText(), 'no schedule');
    assert.match(await page.getByTestId('no-next-runs').innerText(), /Temporal has no schedule for this job/);
    await page.click('nav a[data-nav=jobs]');
    await row.waitFor();
    assert.equal(await row.getByTestId('job-list-state').innerText(), 'no schedule');
  });

  it('environments: agent online/offline', async function () {
    await page.click('nav a[data-nav=environments]');
    const row = page.locator('[data-testid=environment-row][data-name=ui-prod-eu]');
    await row.waitFor();
    assert.equal(await row.getByTestId('agent-state').innerText(), 'offline');
    assert.equal(await row.getByTestId('environment-team').innerText(), 'default', 'the team column names the owning team');
    await shot('environments');
  });

  it('rules: a list longer than a page shows its first page and a More button that appends the next', async function () {
    // Disabled, so that they match none of the incidents of the tests after this one.
    for (let i = 0; i < 100; i++) {
      const res = await stack.api('/api/rules', { method: 'POST', body: JSON.stringify({ name: `ui-page-${String(i).padStart(3, '0')}`, enabled: false, actions: [{ type: 'pagerduty.note', content: 'x' }] }) });
      assert.equal(res.status, 201, await res.text());
    }
    const total = ((await (await stack.api('/api/rules?limit=500')).json()) as { items: unknown[] }).items.length;
    assert.ok(total > 100);
    await page.click('nav a[data-nav=incidents]');
    await page.click('nav a[data-nav=rules]');
    await page.getByTestId('rules-more').waitFor();
    assert.equal(await page.getByTestId('rule-row').count(), 100);
    await page.getByTestId('rules-more').click();
    await eventually(async () => (await page.getByTestId('rule-row').count()) === total, 10_000, 'every rule after More');
    assert.equal(await page.getByTestId('rules-more').count(), 0, 'no More on the last page');
  });

  it('shows hostile PagerDuty data as text: markup in a title stays text, a javascript: link is not rendered', async function () {
    const hostileId = newIncidentId();
    const hostileTitle = '<img src=x onerror="window.__pwned=1">Evil <b>title</b>';
    const res = await stack.deliver(
      sampleFor('v3-incident.triggered-01.json', hostileId, {
        data: { title: hostileTitle, html_url: 'javascript:window.__pwned=1', service: { id: newServiceId(), type: 'service_reference', summary: 'other' } },
      }),
    );
    assert.equal(res.status, 202);
    await eventually(() => stack.db.db.selectFrom('incidents').select('id').where('id', '=', hostileId).executeTakeFirst(), 30_000, 'the hostile incident to be recorded');

    await page.click('nav a[data-nav=incidents]');
    const row = page.locator(`[data-testid=incident-row][data-id="${hostileId}"]`);
    await row.waitFor();
    assert.ok((await row.innerText()).includes(hostileTitle), 'the list shows the title as typed');
    await row.click();
    await page.getByTestId('timeline').waitFor();
    assert.ok((await page.getByTestId('incident-title').innerText()).includes(hostileTitle), 'the page shows the title as typed');
    assert.equal(await page.locator('main img, main b').count(), 0, 'no markup from data became elements');
    assert.equal(await page.getByTestId('pd-link').count(), 0, 'no javascript: link');
    assert.equal(await page.locator('a[href^="javascript:" i]').count(), 0);
    assert.equal(await page.evaluate(() => (globalThis as { __pwned?: number }).__pwned), undefined);
  });

  it('a guard pause shows a banner on the incident list; Resume is refused to a write token and lifts it for an admin', async function () {
    await stack.db.db
      .insertInto('automation_pauses')
      .values({ scope: 'fleet', guard: 'fleet.maxTargets', reason: 'guard fleet.maxTargets: 10 distinct targets remediated by any rule in the last 1h (max 10)', incident_id: incidentId })
      .execute();
    const writer = await issueToken(stack, 'ui-writer', ['write']);
    await page.evaluate((t) => sessionStorage.setItem('selfheal-token', t), writer);
    // Another route first: the incident list renders afresh (with the token just set).
    await page.goto(`${server.url}/ui#/rules`);
    await page.goto(`${server.url}/ui#/incidents`);
    const banner = page.getByTestId('automation-paused');
    await banner.waitFor();
    assert.match(await banner.textContent() ?? '', /Automation paused fleet-wide since .* \(guard fleet\.maxTargets\): guard fleet\.maxTargets: 10 distinct targets/);
    await shot('automation-paused');
    await page.getByTestId('automation-resume').click();
    assert.equal(await page.getByTestId('confirm-question').innerText(), 'Resume automation fleet-wide?');
    await confirmDialog();
    await page.locator('#flash.bad').filter({ hasText: /admin/i }).waitFor();
    assert.equal((await stack.db.db.selectFrom('automation_pauses').select('id').where('resumed_at', 'is', null).execute()).length, 1, 'still paused');

    await page.evaluate((t) => sessionStorage.setItem('selfheal-token', t), ADMIN_TOKEN);
    await page.goto(`${server.url}/ui#/incidents?status=triggered`);
    await page.getByTestId('automation-resume').click();
    await confirmDialog();
    await banner.waitFor({ state: 'detached' });
    const pause = await stack.db.db.selectFrom('automation_pauses').selectAll().executeTakeFirstOrThrow();
    assert.equal(pause.resumed_by, 'admin-token');
    assert.ok(pause.resumed_at);
  });

  it('a token the API stops accepting signs the tab out to the sign-in page', async function () {
    await page.evaluate(() => sessionStorage.setItem('selfheal-token', 'revoked-token-0123456789'));
    await page.click('nav a[data-nav=rules]');
    await page.locator('#token').waitFor();
    assert.equal(await page.evaluate(() => sessionStorage.getItem('selfheal-token')), null, 'the refused token is forgotten');
    assert.equal(await page.locator('#nav').isHidden(), true, 'no navigation while signed out');
    await shot('sign-in');
  });

  it('loaded nothing from elsewhere and broke no CSP rule', async function () {
    assert.deepEqual(watched.foreign, []);
    assert.deepEqual(watched.consoleViolations, []);
    assert.deepEqual(await watched.cspViolations(), []);
  });
});
