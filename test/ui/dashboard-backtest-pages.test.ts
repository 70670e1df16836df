import assert from 'node:assert/strict';
import { insertRuleBacktest } from '../../src/db/repositories/backtests.js';
import { assertKeptToItself } from '../helpers/browser.js';
import { dashboardSuite } from '../helpers/dashboard-suite.js';
import { seededIncident, storeHistory, TITLE_EXTRACTORS } from '../helpers/history.js';

const TOKEN = 'ui-backtest-pages-admin-token-0123456789';
const HOUR = 3_600_000;

// The Backtest tab shows every list the API bounds as bounded, in a real headless Chromium against the real
// API: the attached backtests are paged by nextCursor (a More button), a summary's environments left out
// (byEnvironmentOmitted) are said ("and 50 more environments"), and a long window's timeline is drawn in the
// API's buckets. Before, the tab read the first page of attached backtests and nothing more (200 of 250),
// listed 100 environments as if they were all, and titled 3-hour buckets "per hour". A summary stored
// without some of its lists (over MAX_STORED_SUMMARY_BYTES) is marked so in its row.
describe('dashboard: the Backtest tab pages what the API pages and says what a summary left out', function () {
  let ruleId = '';
  const suite = dashboardSuite({
    token: TOKEN,
    extractors: TITLE_EXTRACTORS,
    async seed({ db, server }) {
      // 150 "Disk full" incidents on storage, each in an environment of its own, one every 12 hours from 80 days ago.
      const now = Date.now();
      const incidents = Array.from({ length: 150 }, (_, i) =>
        seededIncident({ id: `BTP${String(i).padStart(4, '0')}`, host: `h-${i}`, environment: `env-${String(i).padStart(3, '0')}`, at: new Date(now - (80 * 24 - i * 12) * HOUR) }),
      );
      await storeHistory(db.db, incidents);
      const created = await fetch(`${server.url}/api/rules`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'ui-pages-disk-full', services: ['PSTORAGE1'], dryRun: true, conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'n', type: 'pagerduty.note', content: 'on {{ environment.name }}' }] }),
      });
      assert.equal(created.status, 201, await created.clone().text());
      ruleId = ((await created.json()) as { id: string }).id;
      // 250 attached backtests, oldest first (version n for the nth); the newest was stored before summaries
      // kept only 100 environments: all 150 of its groups are in the table.
      const groups = (n: number) => Array.from({ length: n }, (_, i) => ({ key: `env-${String(i).padStart(3, '0')}`, matched: n - i, fired: 0, suppressed: 0 }));
      for (let v = 1; v <= 250; v++) {
        const candidate = { matched: v, peakPerHour: null, perHour: [], byService: [], byEnvironment: groups(v === 250 ? 150 : 2) };
        // v248: stored over the summary bound, without its incident and group lists (MAX_STORED_SUMMARY_BYTES).
        const truncated = v === 248 ? { truncated: { bytes: 1_835_008, maxBytes: 1_048_576, dropped: ['incidents', 'groups'] } } : {};
        await insertRuleBacktest(db.db, { ruleId, version: v, actor: 'admin', from: new Date(now - 7 * 24 * HOUR), to: new Date(now), summary: { candidate, ...truncated } });
      }
    },
  });

  it('lists the 250 attached backtests a page at a time: More until the oldest (v1), each once', async function () {
    const { page, server } = suite;
    await page.goto(`${server.url}/ui#/rules/${ruleId}`);
    // Rows of the table, whatever their own test ids.
    const rows = page.locator('[data-testid=backtest-attached-table] tr:has(td)');
    await rows.first().waitFor();
    const firstPage = await rows.count();
    const more = page.locator('[data-testid=backtest-attached-table] ~ button', { hasText: 'More' });
    let clicks = 0;
    while ((await more.count()) > 0) {
      const before = await rows.count();
      await more.click();
      await rows.nth(before).waitFor();
      clicks++;
      assert.ok(clicks < 10, 'More never ends');
    }
    const versions = (await page.locator('[data-testid=backtest-attached-table] tr:has(td) td:first-child').allInnerTexts()).map((t) => t.trim());
    assert.deepEqual([versions.length, versions[0], versions.at(-1)], [250, 'v250', 'v1']);
    assert.deepEqual(versions, Array.from({ length: 250 }, (_, i) => `v${250 - i}`));
    assert.deepEqual([firstPage, clicks], [50, 4]);
  });

  it('says how many environments a stored summary left out: 150 environments, 100 listed and 50 more', async function () {
    const { page } = suite;
    const first = page.locator('[data-testid=backtest-attached-table] tr:has(td)').first();
    assert.match((await first.innerText()).trim(), /^v250\s+admin\s+.+\s+250\s+0\s+150 environments$/);
    await first.locator('summary').click();
    const listed = first.getByTestId('backtest-attached-environments');
    const text = await listed.innerText();
    assert.ok(text.startsWith('env-000 150, env-001 149, '), text.slice(0, 80));
    assert.ok(!text.includes('env-100 '), 'the 101st environment is listed');
    assert.equal(await listed.getByTestId('backtest-attached-environments-omitted').innerText(), ', and 50 more environments (a summary keeps the 100 with the most matches)');
    // A summary with nothing left out says nothing of it.
    const second = page.locator('[data-testid=backtest-attached-table] tr:has(td)').nth(1);
    await second.locator('summary').click();
    assert.equal(await second.getByTestId('backtest-attached-environments').innerText(), 'env-000 2, env-001 1');
  });

  it('marks a summary stored without some lists: truncated: no incidents, groups, its size and the bound in the title; the others carry no mark', async function () {
    const { page } = suite;
    const rows = page.locator('[data-testid=backtest-attached-table] tr:has(td)');
    const mark = rows.nth(2).getByTestId('backtest-attached-truncated');
    assert.equal(await mark.count(), 1);
    assert.equal(await mark.innerText(), 'truncated: no incidents, groups');
    assert.equal(await mark.getAttribute('title'), 'The summary was 1.8 MiB, over the bound of 1.0 MiB: its counts are whole, these lists are left out: incidents, groups.');
    assert.equal(await page.getByTestId('backtest-attached-truncated').count(), 1);
  });

  it('a backtest over 90 days matching 150 environments: the card says 50 more, and the timeline is in 3-hour buckets', async function () {
    const { page, server } = suite;
    await page.goto(`${server.url}/ui#/rules/${ruleId}`);
    await page.getByTestId('rule-editor').waitFor();
    await page.getByTestId('backtest-since').selectOption('90d');
    await page.getByTestId('backtest-as-live').check();
    await page.getByTestId('backtest-run').click();
    await page.getByTestId('backtest-candidate').waitFor();
    assert.equal(await page.getByTestId('backtest-candidate-matched').innerText(), '150 of 150 events evaluated');
    // The card's "by environment", whatever its own test ids.
    const environments = await page.locator('[data-testid=backtest-candidate] dt:text-is("by environment") + dd').innerText();
    assert.ok(environments.endsWith(', and 50 more environments (a summary keeps the 100 with the most matches)'), environments.slice(-120));
    assert.equal(environments.split(', env-').length, 100);
    assert.equal(await page.getByTestId('backtest-candidate-environments-omitted').innerText(), ', and 50 more environments (a summary keeps the 100 with the most matches)');
    assert.equal(await page.locator('h4:has(+ [data-testid=backtest-chart])').innerText(), 'Would-be firings per 3 hours');
    const legend = await page.locator('[data-testid=backtest-chart] .u-legend').innerText();
    assert.match(legend, /as edited/i);
  });

  it('broke no CSP rule and loaded nothing from elsewhere', async function () {
    await assertKeptToItself(suite.watched);
  });
});
