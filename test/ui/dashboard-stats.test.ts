import assert from 'node:assert/strict';
import { assertKeptToItself, screenshot } from '../helpers/browser.js';
import { dashboardSuite } from '../helpers/dashboard-suite.js';
import { seedStatsHistory, STATS_RANGE } from '../helpers/stats-history.js';

const TOKEN = 'ui-stats-admin-token-0123456789';

/** Counts of canvas pixels near each colour (r, g, b), read in the page. */
const PIXELS = (selector: string) => `(() => {
  const c = document.querySelector('${selector} canvas');
  const { data } = c.getContext('2d').getImageData(0, 0, c.width, c.height);
  const near = (i, r, g, b) => data[i + 3] > 120 && Math.abs(data[i] - r) < 40 && Math.abs(data[i + 1] - g) < 40 && Math.abs(data[i + 2] - b) < 40;
  let blue = 0, green = 0, grey = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (near(i, 0x21, 0x60, 0xa8)) blue += 1;
    if (near(i, 0x2f, 0x8a, 0x4c)) green += 1;
    if (near(i, 0x8a, 0x94, 0xa6)) grey += 1;
  }
  return { width: c.width, height: c.height, blue, green, grey };
})()`;

// The effectiveness pages in a real headless Chromium, under the page's strict CSP, against the real API over
// the seeded history with known answers: the headline numbers, the per-day series and the time-to-resolve
// histogram drawn by uPlot on their canvases, and the rule table linking to each rule's page.
describe('dashboard: effectiveness pages in headless Chromium', function () {
  let ruleId: string;
  let ids: Record<string, string>;
  const range = `since=${STATS_RANGE.since}&until=${STATS_RANGE.until}`;
  const suite = dashboardSuite({
    token: TOKEN,
    viewport: { width: 1280, height: 1200 },
    async seed({ db }) {
      ({ ruleId, ids } = await seedStatsHistory(db.db));
    },
  });

  it('overall: the numbers, both charts drawn by uPlot, and a line per rule', async function () {
    const { page, server } = suite;
    await page.goto(`${server.url}/ui#/stats?${range}`);
    await page.getByTestId('stats-headline').waitFor();
    assert.equal(await page.getByTestId('stats-title').innerText(), 'Effectiveness of automation');
    assert.equal(await page.getByTestId('stats-runs').innerText(), '4 (3 of 4 finished succeeded: 75%)');
    assert.equal(await page.getByTestId('stats-verified').innerText(), '2 of 3 checked: 67%');
    assert.equal(await page.getByTestId('stats-incidents').innerText(), 'auto-remediated 2, assisted 2, human 4, open 3');
    assert.equal(await page.getByTestId('stats-ttr').innerText(), 'with automation 12m 30s (4), without 45m (4)');
    assert.equal(await page.getByTestId('stats-suppressed').innerText(), 'flapping 2, rate limit 1');
    assert.equal(await page.getByTestId('stats-flapping').innerText(), 'db-7 (2)');

    await page.locator('[data-testid=stats-daily-chart] canvas').waitFor();
    await page.locator('[data-testid=stats-ttr-chart] canvas').waitFor();
    const daily = (await page.evaluate(PIXELS('[data-testid=stats-daily-chart]'))) as { width: number; height: number; blue: number; green: number };
    assert.ok(daily.width > 300 && daily.height > 100, JSON.stringify(daily));
    assert.ok(daily.blue > 20 && daily.green > 10, `runs bars and the verified line: ${JSON.stringify(daily)}`);
    const ttr = (await page.evaluate(PIXELS('[data-testid=stats-ttr-chart]'))) as { blue: number; grey: number };
    assert.ok(ttr.blue > 50 && ttr.grey > 50, `both distributions drawn: ${JSON.stringify(ttr)}`);
    const legend = await page.locator('[data-testid=stats-ttr-chart] .u-legend').innerText();
    assert.match(legend, /with automation/i);
    assert.match(legend, /without/i);

    const rows = page.getByTestId('stats-rule-row');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().innerText(), /^restart-replica\s+4\s+75%\s+67%\s+50%\s+3$/);
    await screenshot(page, 'dashboard-stats');
  });

  it("a rule's page from the table: its own numbers and time to resolve before it went live", async function () {
    const { page, server } = suite;
    await page.getByTestId('stats-rule-row').first().locator('a').click();
    await page.waitForURL(new RegExp(`#/stats/${ruleId}`));
    await page.locator('[data-testid=stats-title]', { hasText: 'restart-replica' }).waitFor();
    const lastThirtyDays = await page.getByTestId('stats-range').innerText();
    // The link keeps no range (the last 30 days, empty here): come back with the seeded one.
    await page.goto(`${server.url}/ui#/stats/${ruleId}?${range}`);
    await page.getByTestId('stats-range').filter({ hasNotText: lastThirtyDays }).waitFor();
    assert.equal(await page.getByTestId('stats-incidents').innerText(), 'auto-remediated 2, assisted 2, human 0, open 0');
    assert.equal(await page.getByTestId('stats-auto-share').innerText(), '50%');
    assert.equal(await page.getByTestId('stats-ttr').innerText(), 'with automation 12m 30s (4), without 1h (3)');
    await page.locator('[data-testid=stats-ttr-chart] canvas').waitFor();
    const ttr = (await page.evaluate(PIXELS('[data-testid=stats-ttr-chart]'))) as { blue: number; grey: number };
    assert.ok(ttr.blue > 50 && ttr.grey > 50, JSON.stringify(ttr));
  });

  it("an incident's page says who fixed it, and why", async function () {
    const { page, server } = suite;
    for (const [name, label] of [['W1', 'auto-remediated'], ['W2', 'assisted'], ['B1', 'human']] as const) {
      await page.goto(`${server.url}/ui#/incidents/${ids[name]}`);
      await page.locator('[data-testid=incident-title]', { hasText: new RegExp(` ${name}$`) }).waitFor();
      assert.equal(await page.getByTestId('incident-label').innerText(), label, name);
    }
    assert.match((await page.getByTestId('incident-label').getAttribute('title')) ?? '', /no remediation action of Self-healing ran/);
    await page.goto(`${server.url}/ui#/incidents/${ids.S1}`);
    await page.locator('[data-testid=incident-title]', { hasText: / S1$/ }).waitFor();
    assert.equal(await page.getByTestId('incident-label').innerText(), 'human so far', 'an open incident');
  });

  it('ran under the strict CSP, fetching nothing from elsewhere', async function () {
    await assertKeptToItself(suite.watched);
  });
});
