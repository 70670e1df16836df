import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Client } from '@temporalio/client';
import type { Browser, Page } from 'playwright-core';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { launchChromium, signInWithToken, watchedPage, type WatchedPage } from '../helpers/browser.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { buildHistory, eventsOf, storeHistory, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';

const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/', import.meta.url));
const TOKEN = 'ui-backtest-admin-token-0123456789';
const HOUR = 3_600_000;

// The rule editor's Backtest tab in a real headless Chromium, under the page's strict CSP, against the real
// API over a seeded history: the summary, the uPlot timeline drawn on its canvas, the changed incidents
// linking to their pages, paging, and a backtest attached to the version.
describe('dashboard: the rule editor’s Backtest tab in headless Chromium', function () {
  let db: TestDatabase;
  let server: ApiServer;
  let browser: Browser;
  let page: Page;
  let history: SeededIncident[];
  let ruleId: string;
  let watched: WatchedPage;

  const triggers = (text: string) =>
    eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && String(e.body.event.data.title).includes(text) && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1');

  before(async function () {
    await mkdir(ARTIFACTS, { recursive: true });
    db = await createTestDatabase();
    const now = Date.now();
    history = buildHistory({ incidents: 300, from: new Date(now - 25 * 24 * HOUR), hours: 24 * 24, storm: { at: new Date(Math.floor((now - 3 * 24 * HOUR) / HOUR) * HOUR), incidents: 50 }, prefix: 'U' });
    await storeHistory(db.db, history);
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    server = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS });
    const created = await fetch(`${server.url}/api/rules`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'ui-disk-full', services: ['PSTORAGE1'], dryRun: true, conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'clean', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }] }),
    });
    assert.equal(created.status, 201);
    ruleId = ((await created.json()) as { id: string }).id;

    browser = await launchChromium();
    watched = await watchedPage(browser, server.url, { width: 1280, height: 1000 });
    page = watched.page;
    await signInWithToken(page, server.url, TOKEN);
  });

  after(async function () {
    await browser?.close();
    await server?.close();
    await db?.close();
  });

  it('backtests the rule as edited: the summary, the diff with the current version, and the timeline drawn by uPlot', async function () {
    await page.goto(`${server.url}/ui#/rules/${ruleId}`);
    await page.getByTestId('rule-editor').waitFor();
    const edited = JSON.parse(await page.getByTestId('rule-editor').inputValue()) as Record<string, unknown>;
    edited.conditions = { field: 'incident.title', op: 'contains', value: 'Disk' };
    edited.policies = { ...(edited.policies as object), cooldownSeconds: 86_400 };
    await page.getByTestId('rule-editor').fill(JSON.stringify(edited, null, 2));
    await page.getByTestId('backtest-as-live').check();
    await page.getByTestId('backtest-run').click();
    await page.getByTestId('backtest-candidate').waitFor();

    assert.equal(await page.getByTestId('backtest-candidate-matched').innerText(), `${triggers('Disk').length} of ${triggers('').length} events evaluated`);
    assert.equal(await page.getByTestId('backtest-baseline-matched').innerText(), `${triggers('Disk full').length} of ${triggers('').length} events evaluated`);
    const vsCurrent = await page.getByTestId('backtest-vs-current').innerText();
    assert.match(vsCurrent, new RegExp(`^vs the current version: ${triggers('Disk usage').length} newly matched, 0 no longer matched, \\d+ newly suppressed, 0 no longer suppressed$`));
    // The current version, simulated as if live, fires the whole storm in its peak hour.
    assert.match(await page.getByTestId('backtest-baseline-peak').innerText(), /^(\d+)\/h at /);
    const peak = Number(/^(\d+)/.exec(await page.getByTestId('backtest-baseline-peak').innerText())![1]);
    assert.ok(peak >= 50, `peak ${peak}`);

    // uPlot drew the two series on its canvas: pixels of the edited rule's blue are there.
    const canvas = page.locator('[data-testid=backtest-chart] canvas');
    await canvas.waitFor();
    const drawn = (await page.evaluate(`(() => {
      const c = document.querySelector('[data-testid=backtest-chart] canvas');
      const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
      const near = (i, r, g, b) => data[i + 3] > 200 && Math.abs(data[i] - r) < 30 && Math.abs(data[i + 1] - g) < 30 && Math.abs(data[i + 2] - b) < 30;
      let blue = 0;
      let red = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (near(i, 0x21, 0x60, 0xa8)) blue += 1;
        if (near(i, 0xc2, 0x3b, 0x3b)) red += 1;
      }
      return { width: c.width, height: c.height, blue, red };
    })()`)) as { width: number; height: number; blue: number; red: number };
    assert.ok(drawn.width > 300 && drawn.height > 100, JSON.stringify(drawn));
    assert.ok(drawn.blue > 50 && drawn.red > 20, `series pixels: ${JSON.stringify(drawn)}`);
    const legend = await page.locator('[data-testid=backtest-chart] .u-legend').innerText();
    assert.match(legend, /as edited/i);
    assert.match(legend, /current version/i);
    await page.screenshot({ path: `${ARTIFACTS}dashboard-backtest.png`, fullPage: true });
  });

  it('lists the changed incidents, pages through them, and links each to its incident page', async function () {
    const rows = page.getByTestId('backtest-item');
    assert.equal(await rows.count(), 25);
    const changes = await page.getByTestId('backtest-change').allInnerTexts();
    assert.ok(changes.every((c) => ['newly matched', 'newly suppressed'].includes(c)), changes.join(', '));
    await page.getByTestId('backtest-more').click();
    await rows.nth(25).waitFor();
    const link = page.getByTestId('backtest-incident').first();
    const id = await link.innerText();
    assert.equal(await link.getAttribute('href'), `#/incidents/${id}`);
    await link.click();
    await page.getByTestId('incident-title').waitFor();
    assert.ok((await page.getByTestId('incident-title').innerText()).endsWith(history.find((i) => i.id === id)!.title));
  });

  it('attaches a backtest to the stored version and lists it', async function () {
    await page.goto(`${server.url}/ui#/rules/${ruleId}`);
    await page.getByTestId('backtest-attach').click();
    await page.locator('[data-testid=backtest-attached-table] td', { hasText: 'v1' }).waitFor();
    const row = await page.locator('[data-testid=backtest-attached-table] tr').nth(1).innerText();
    assert.match(row, new RegExp(`v1\\s+admin-token\\s+.+\\s+${triggers('Disk full').length}\\s+`));
    const stored = await db.db.selectFrom('rule_backtests').select(['version']).where('rule_id', '=', ruleId).execute();
    assert.deepEqual(stored, [{ version: 1 }]);
  });

  it('a backtest the API refuses shows the reason', async function () {
    await page.goto(`${server.url}/ui#/rules/new`);
    await page.getByTestId('rule-editor').waitFor();
    await page.getByTestId('rule-editor').fill('{"name": "x", "actions": []}');
    await page.getByTestId('backtest-run').click();
    assert.match(await page.getByTestId('backtest-error').innerText(), /^400 Bad Request: the request is not valid\n\s+rule\.actions: /);
  });

  it('broke no CSP rule and loaded nothing from elsewhere', async function () {
    assert.deepEqual(await watched.cspViolations(), []);
    assert.deepEqual(watched.consoleViolations, []);
    assert.deepEqual(watched.foreign, []);
  });
});
