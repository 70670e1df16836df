// Effectiveness pages: which rules earn their keep. `#/stats` shows every rule together and a line per rule;
// `#/stats/<rule id>` one rule. Each has the headline numbers, runs and verified runs per day (a time series)
// and the distribution of time to resolve with and without automation (a histogram), both drawn by uPlot
// (the kept canvas charting library the backtest panel uses; CSSOM only, so the strict CSP holds).
// The range comes from the hash: `?since=…&until=…` (ISO times) or `?days=7|30|90`.
import uPlot from 'uplot';
import { h, table } from '../dom.js';
import type { Route, ViewContext } from '../router.js';
import type { StatsAnswer } from '../../../contracts/stats.js';
import { bucketLabels, dailySeries, duration, percent } from '../stats-data.js';

type Stats = StatsAnswer;

const BLUE = '#2160a8';
const GREEN = '#2f8a4c';
const GREY = '#8a94a6';

function rangeQuery(q: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams();
  const since = q.get('since');
  const until = q.get('until');
  if (since) out.set('since', since);
  if (until) out.set('until', until);
  if (!since) {
    const days = Number(q.get('days') ?? '30');
    const end = until ? Date.parse(until) : Date.now();
    out.set('since', new Date(end - (Number.isFinite(days) && days > 0 ? days : 30) * 86_400_000).toISOString());
  }
  return out;
}

function headline(s: Stats): HTMLElement {
  const row = (label: string, value: string, testid: string) => [h('dt', {}, label), h('dd', { 'data-testid': testid }, value)];
  return h(
    'div',
    { class: 'card', 'data-testid': 'stats-headline' },
    h(
      'dl',
      { class: 'kv' },
      row('runs', `${s.runs} (${s.succeededRuns} of ${s.finishedRuns} finished succeeded: ${percent(s.successRate)})`, 'stats-runs'),
      row('verified', `${s.verification.verified} of ${s.verification.verified + s.verification.unverified} checked: ${percent(s.verifiedRate)}`, 'stats-verified'),
      row('incidents', `auto-remediated ${s.incidents['auto-remediated']}, assisted ${s.incidents.assisted}, human ${s.incidents.human}, open ${s.incidents.open}`, 'stats-incidents'),
      row('auto-remediated share', percent(s.autoRemediatedShare), 'stats-auto-share'),
      row(
        'median time to resolve',
        `with automation ${duration(s.timeToResolve.withAutomation.medianSeconds)} (${s.timeToResolve.withAutomation.count}), without ${duration(s.timeToResolve.withoutAutomation.medianSeconds)} (${s.timeToResolve.withoutAutomation.count})`,
        'stats-ttr',
      ),
      row('suppressed', s.suppressed.map((p) => `${p.policy} ${p.count}`).join(', ') || 'nothing', 'stats-suppressed'),
      row('flapping targets', s.flappingTargets.map((t) => `${t.target} (${t.count})`).join(', ') || 'none', 'stats-flapping'),
    ),
  );
}

function width(container: HTMLElement): number {
  return Math.max(320, container.clientWidth || 800);
}

function dailyChart(container: HTMLElement, s: Stats): void {
  const data = dailySeries(s.range.since, s.range.until, s.daily) as uPlot.AlignedData;
  const bars = uPlot.paths.bars!({ size: [0.7, 40] });
  new uPlot(
    {
      width: width(container),
      height: 220,
      scales: { x: { time: true } },
      axes: [{}, { label: 'per day' }],
      series: [{}, { label: 'runs', stroke: BLUE, fill: 'rgba(33,96,168,0.35)', paths: bars }, { label: 'verified', stroke: GREEN, width: 2 }],
    },
    data,
    container,
  );
}

function ttrChart(container: HTMLElement, s: Stats): void {
  const labels = bucketLabels(s.timeToResolve.bucketsSeconds);
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars!({ size: [0.4, 60], align: -1 });
  const barsRight = uPlot.paths.bars!({ size: [0.4, 60], align: 1 });
  new uPlot(
    {
      width: width(container),
      height: 220,
      scales: { x: { time: false, range: [-0.6, labels.length - 0.4] } },
      axes: [{ values: (_u, splits) => splits.map((i) => labels[i] ?? ''), splits: () => xs }, { label: 'incidents' }],
      series: [
        { label: 'time to resolve' },
        { label: 'with automation', stroke: BLUE, fill: 'rgba(33,96,168,0.6)', paths: bars },
        { label: 'without', stroke: GREY, fill: 'rgba(138,148,166,0.6)', paths: barsRight },
      ],
    },
    [xs, s.timeToResolve.withAutomation.histogram, s.timeToResolve.withoutAutomation.histogram] as uPlot.AlignedData,
    container,
  );
}

function rangePicker(ctx: ViewContext, base: string): HTMLElement {
  return h(
    'p',
    { class: 'row' },
    ...[7, 30, 90].map((d) => h('a', { href: `#/${base}?days=${d}`, 'data-testid': `stats-days-${d}` }, `last ${d} days`)),
    ctx.query.get('since') ? h('span', { class: 'muted' }, ' (custom range)') : null,
  );
}

async function render(ctx: ViewContext, s: Stats, base: string): Promise<void> {
  const daily = h('div', { class: 'chart', 'data-testid': 'stats-daily-chart' });
  const ttr = h('div', { class: 'chart', 'data-testid': 'stats-ttr-chart' });
  const ruleRows = (s.rules ?? []).map((r) =>
    h(
      'tr',
      { 'data-testid': 'stats-rule-row' },
      h('td', {}, h('a', { href: `#/stats/${encodeURIComponent(r.id)}` }, r.name)),
      h('td', {}, String(r.runs)),
      h('td', {}, percent(r.successRate)),
      h('td', {}, percent(r.verifiedRate)),
      h('td', {}, percent(r.autoRemediatedShare)),
      h('td', {}, String(r.suppressed)),
    ),
  );
  ctx.show(
    h('h2', { 'data-testid': 'stats-title' }, s.rule ? `Effectiveness of ${s.rule.name}` : 'Effectiveness of automation'),
    h('p', { class: 'muted', 'data-testid': 'stats-range' }, `${new Date(s.range.since).toLocaleString()} – ${new Date(s.range.until).toLocaleString()}${s.rule ? `; live since ${s.rule.liveSince ? new Date(s.rule.liveSince).toLocaleString() : 'never'}` : ''}`),
    rangePicker(ctx, base),
    s.truncated ? h('p', { class: 'error' }, 'More history than one answer reads: the numbers cover the oldest part of the range.') : null,
    headline(s),
    h('h3', {}, 'Runs and verified runs per day'),
    daily,
    h('h3', {}, 'Time to resolve, with and without automation'),
    ttr,
    s.rules ? [h('h3', {}, 'Rules'), ruleRows.length ? table('stats-rules', ['Rule', 'Runs', 'Success', 'Verified', 'Auto-remediated', 'Suppressed'], ruleRows) : h('p', { class: 'muted' }, 'No rule matched in this range.')] : null,
    s.rule ? h('p', {}, h('a', { href: `#/rules/${encodeURIComponent(s.rule.id)}` }, 'Edit the rule'), ' · ', h('a', { href: '#/stats' }, 'All rules')) : null,
  );
  if (ctx.signal.aborted) return;
  dailyChart(daily, s);
  ttrChart(ttr, s);
}

async function overallView(ctx: ViewContext): Promise<void> {
  const s = await ctx.api.get<Stats>(`/api/stats?${rangeQuery(ctx.query)}`, { signal: ctx.signal });
  await render(ctx, s, 'stats');
}

async function ruleView(ctx: ViewContext): Promise<void> {
  const id = ctx.params.id!;
  const s = await ctx.api.get<Stats>(`/api/rules/${encodeURIComponent(id)}/stats?${rangeQuery(ctx.query)}`, { signal: ctx.signal });
  await render(ctx, s, `stats/${encodeURIComponent(id)}`);
}

export const statsRoutes: Route[] = [
  { path: 'stats', nav: 'Stats', view: overallView },
  { path: 'stats/:id', view: ruleView },
];
