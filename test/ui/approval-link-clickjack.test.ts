import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Browser } from 'playwright-core';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { mintApprovalLinks } from '../../src/services/approvals.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertTestSession } from '../helpers/sessions.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { testTemporal } from '../helpers/temporal.js';
import { serveLater } from '../helpers/oidc-provider.js';
import { launchChromium } from '../helpers/browser.js';

// Double-click-jacking on an approval link's confirmation page (docs/security.md, "Stolen clicks"). The
// attacker holds an approve link (the rule's author receives the links in the rule's own Slack channel and
// mailbox; anyone it was forwarded to has it too); the victim is an approver signed in to the dashboard who
// visits the attacker's page on another site. That page opens a popup, points its own tab at the link, and
// the popup closes on the first press of a "double-click here" placed over the page's button: the second
// press landed on Approve, recorded under the approver's name. The button now comes alive only once the
// page has been visible and focused for 500 ms. Real Chromium, the real app, two sites (localhost, 127.0.0.1).
describe('approval link page: a stolen double click decides nothing', function () {
  this.timeout(120_000);
  const ISSUER = 'https://login.example.com/realms/sre';
  let db: TestDatabase;
  let browser: Browser;
  let server: Awaited<ReturnType<typeof serveLater>>;
  let attacker: http.Server;

  after(async () => {
    await browser?.close();
    await server?.close();
    attacker?.close();
    await db?.close();
  });

  it("the approver's stolen second click approves nothing; the approver's own click, once the page is in front, does", async function () {
    db = await createTestDatabase();
    const temporal = await testTemporal();
    server = await serveLater();
    const config = loadConfig({
      NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: temporal.address,
      SELFHEAL_PUBLIC_URL: server.url, OIDC_ISSUER_URL: ISSUER, OIDC_CLIENT_ID: 'selfheal', OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'sre=write',
    });
    const app = createApp({ config, db: db.db, temporal: temporal.client, logger: createLogger({ level: 'silent' }) }, allRoutes);
    let setCookie = '';
    // /__signed-in sets the session cookie exactly as /auth/callback does (stand-in for the provider round trip).
    server.serve((req) => (new URL(req.url).pathname === '/__signed-in' ? new Response('ok', { headers: { 'set-cookie': `${setCookie}; Path=/; Secure; HttpOnly; SameSite=Lax` } }) : app.fetch(req)));

    // A waiting gated action of a rule version written by alice (the attacker).
    const ruleId = `rule-${randomUUID().slice(0, 8)}`;
    const incidentId = `PINC${randomUUID().slice(0, 6)}`;
    const actionRunId = `${incidentId}:${ruleId}:fix:E1`;
    await db.db.insertInto('incidents').values({ id: incidentId, status: 'triggered', assignees: '[]', environment: '{}', workflow_id: `incident-${incidentId}` }).execute();
    await db.db.insertInto('rules').values({ id: ruleId, name: ruleId, version: 1, definition: '{}' }).execute();
    await db.db.insertInto('rule_versions').values({ rule_id: ruleId, version: 1, definition: '{}', change: 'create', actor: 'user:alice@example.com' }).execute();
    await db.db.insertInto('action_runs').values({ id: actionRunId, idempotency_key: actionRunId, incident_id: incidentId, rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'fix', action_type: 'script.ssh', status: 'awaiting_approval' }).execute();
    // The notice in alice's rule's Slack channel carries this link: alice has it.
    const links = await mintApprovalLinks(db.db, { actionRunId, publicUrl: server.url, expiresAt: new Date(Date.now() + 600_000) });

    // Bob, an approver, is signed in to the dashboard (single sign-on session cookie).
    const bob = await insertTestSession(db.db, { issuer: ISSUER, actor: 'user:bob@example.com', scopes: ['write'], groups: ['sre'] });

    // Alice's page on another site (127.0.0.1 vs localhost). Step 1: "click to continue" opens a popup and
    // points its own tab at the approve link. Step 2, in the popup: "double-click here" placed where the
    // confirmation page's button is; the popup closes itself on mousedown.
    let target = { x: 0, y: 0 };
    attacker = http.createServer((req, res) => {
      res.setHeader('content-type', 'text/html');
      if (req.url === '/popup') {
        res.end(`<!doctype html><body style="margin:0"><div id="bait" style="position:absolute;left:${target.x - 60}px;top:${target.y - 20}px;width:120px;height:40px;background:gold">double-click here</div>
<script>document.getElementById('bait').addEventListener('mousedown', () => { opener.focus(); window.close(); });</script></body>`);
        return;
      }
      res.end(`<!doctype html><body><button id="go">Click to continue</button>
<script>document.getElementById('go').onclick = () => { window.open('/popup', 'p', 'width=1280,height=900'); location.href = ${JSON.stringify(links.approve)}; };</script></body>`);
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    const evil = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}`;

    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    setCookie = bob.cookie;
    const signin = await context.newPage();
    await signin.goto(`${server.url}/__signed-in`);
    assert.equal((await context.cookies(server.url)).length, 1, 'the session cookie is set');
    await signin.close();

    // Where the button sits on the (static, script-free) confirmation page: the attacker learns it by opening
    // any link of theirs; here we measure it once in a scratch tab.
    const scratch = await context.newPage();
    await scratch.goto(links.reject); // GET decides nothing
    const box = (await scratch.locator('button[type=submit]').boundingBox())!;
    target = { x: Math.round(box.x + box.width / 2), y: Math.round(box.y + box.height / 2) };
    await scratch.close();

    const victim = await context.newPage();
    await victim.goto(evil);
    const popupP = context.waitForEvent('page');
    await victim.click('#go');
    const popup = await popupP;
    await victim.waitForURL((u) => u.href.startsWith(`${server.url}/approvals/link`));
    await victim.locator('button[type=submit]').waitFor();
    await popup.locator('#bait').waitFor();
    // The double click: the first press closes the popup, the second lands on the tab behind it as a double
    // click's second press does, within a fraction of a second (not after waiting for the popup's close
    // event: on a loaded host that wait outlasted the page's 500 ms and the click was then a deliberate one).
    await popup.mouse.move(target.x, target.y);
    const posted = victim.waitForResponse((r) => r.request().method() === 'POST', { timeout: 5000 }).catch(() => undefined);
    const pressed = Date.now();
    await popup.mouse.down().catch(() => {});
    await victim.mouse.click(target.x, target.y);
    const gap = Date.now() - pressed;
    const res = await posted;
    await victim.waitForLoadState();

    const row = await db.db.selectFrom('action_runs').select('approval').where('id', '=', actionRunId).executeTakeFirstOrThrow();
    // Never the Response itself into assert: node:assert/strict prints a diff of a failed comparison, and
    // the inspection of a Playwright object graph took the whole machine's memory (CI was OOM-killed).
    assert.ok(res === undefined, `the stolen click, ${gap} ms after the first press, posted the form (${res?.status()})`);
    assert.equal((row.approval as { actor?: string } | null)?.actor, undefined, `approved by a stolen click: ${JSON.stringify(row.approval)}`);

    // The approver's own click, the page in front for longer than the wait: decided, under their name.
    await victim.bringToFront();
    await victim.locator('button[type=submit]:enabled').waitFor({ timeout: 5000 });
    await victim.locator('button[type=submit]').click();
    await victim.waitForLoadState();
    const decided = await db.db.selectFrom('action_runs').select('approval').where('id', '=', actionRunId).executeTakeFirstOrThrow();
    assert.equal((decided.approval as { actor?: string } | null)?.actor, 'user:bob@example.com', JSON.stringify(decided.approval));
  });
});
