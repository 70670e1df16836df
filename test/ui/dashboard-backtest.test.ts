import assert from 'node:assert/strict';
import { assertKeptToItself, screenshot } from '../helpers/browser.js';
import { dashboardSuite } from '../helpers/dashboard-suite.js';
import { buildHistory, eventsOf, storeHistory, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';

const TOKEN = 'ui-backtest-admin-token-0123456789';
const HOUR = 3_600_000;

// The rule editor's Backtest tab in a real headless Chromium, under the page's strict CSP, against the real
// API over a seeded history: the summary, the uPlot timeline drawn on its canvas, the changed incidents
// linking to their pages, paging, and a backtest attached to the version.
describe('dashboard: the rule editor’s Backtest tab in headless Chromium', function () {
  let history: SeededIncident[];
  let ruleId: string;

  const triggers = (text: string) =>
    eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && String(e.body.event.data.title).includes(text) && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1');

  const suite = dashboardSuite({
    token: TOKEN,
    extractors: TITLE_EXTRACTORS,
    async seed({ db, server }) {
      const now = Date.now();
      history = buildHistory({ incidents: 300, from: new Date(now - 25 * 24 * HOUR), hours: 24 * 24, storm: { at: new Date(Math.floor((now - 3 * 24 * HOUR) / HOUR) * HOUR), incidents: 50 }, prefix: 'U' });
      await storeHistory(db.db, history);
      const created = await fetch(`${server.url}/api/rules`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ui-disk-full', services: ['PSTORAGE1'], dryRun: true, conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'clean', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }] }),
      });
      assert.equal(created.status, 201);
      ruleId = ((await created.json()) as { id: string }).id;
    },
  });

  it('backtests the rule as edited: the summary, the diff with the current version, and the timeline drawn by uPlot', async function () {
    const { page, server } = suite;
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
    await screenshot(page, 'dashboard-backtest');
  });

  it('lists the changed incidents, pages through them, and links each to its incident page', async function () {
    const { page } = suite;
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
    const { page, server, db } = suite;
    await page.goto(`${server.url}/ui#/rules/${ruleId}`);
    await page.getByTestId('backtest-attach').click();
    await page.locator('[data-testid=backtest-attached-table] td', { hasText: 'v1' }).waitFor();
    const row = await page.locator('[data-testid=backtest-attached-table] tr').nth(1).innerText();
    assert.match(row, new RegExp(`v1\\s+admin-token\\s+.+\\s+${triggers('Disk full').length}\\s+`));
    const stored = await db.db.selectFrom('rule_backtests').select(['version']).where('rule_id', '=', ruleId).execute();
    assert.deepEqual(stored, [{ version: 1 }]);
  });

  it('a backtest the API refuses shows the reason', async function () {
    const { page, server } = suite;
    await page.goto(`${server.url}/ui#/rules/new`);
    await page.getByTestId('rule-editor').waitFor();
    await page.getByTestId('rule-editor').fill('{"name": "x", "actions": []}');
    await page.getByTestId('backtest-run').click();
    assert.match(await page.getByTestId('backtest-error').innerText(), /^400 Bad Request: the request is not valid\n\s+rule\.actions: /);
  });

  it('broke no CSP rule and loaded nothing from elsewhere', async function () {
    await assertKeptToItself(suite.watched);
  });
});
