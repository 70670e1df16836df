// The rule editor's Backtest tab: what the rule as edited would have done over the stored incident history
// (POST /api/rules/backtest) — the summary, a timeline of would-be firings per hour, and the events that
// changed (or matched), each linking to its incident page. A saved rule's tab also attaches a backtest of
// its current version to that version (POST /api/rules/{id}/backtest), and lists the ones attached.
//
// Every list here is one the API bounds, and the view says so: the changed events and the attached backtests
// are paged by the API's nextCursor (a More button under each), and a summary's services and environments
// are the 100 with the most matches, the rest counted (byServiceOmitted, byEnvironmentOmitted: "and N more
// environments"). The timeline's buckets are the summary's perHourBucketHours (one hour up to 33 days).
// An attached summary stored (or listed) without some lists, as its size asked, says so in its row
// ("truncated: no incidents, groups"), its counts whole.
//
// The chart is uPlot (a small, kept canvas charting library, bundled by esbuild): it draws on a canvas and
// sizes its elements through the CSSOM, which the page's CSP (style-src 'self', no inline style attributes)
// allows; its stylesheet is bundled into app.css.
import uPlot from 'uplot';
import type { BacktestItem, BacktestSummary, ChangeKind, GroupCount, HourCount, LaneSummary } from '../../../domain/backtest/types.js';
import { badge, h, replace, table, type Child } from '../dom.js';
import { pagedList } from '../paged.js';
import type { ViewContext } from '../router.js';
import type { RuleView } from '../types.js';

interface BacktestAnswer {
  summary: BacktestSummary & { retention?: { clamped: boolean; note?: string } };
  items: BacktestItem[];
  totalItems: number;
  nextCursor: string | null;
}

/** A summary as stored with its rule version: one stored long ago may lack the fields added since. */
type StoredLane = Pick<LaneSummary, 'matched'> & Partial<Pick<LaneSummary, 'peakPerHour' | 'byEnvironment' | 'byEnvironmentOmitted'>>;

interface AttachedBacktest {
  id: string;
  version: number;
  actor: string;
  window: { from: string; to: string };
  /** `truncated`: the summary was stored (or is listed) without some of its lists; its counts are whole. */
  summary: { candidate: StoredLane; truncated?: { bytes: number; maxBytes: number; dropped?: string[] } };
  createdAt: string;
}

/** What an attached backtest's row says when its summary lacks lists: which, and why (its size). */
function truncatedNote(t: NonNullable<AttachedBacktest['summary']['truncated']>): HTMLElement {
  const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;
  const what = t.dropped?.length ? t.dropped.join(', ') : 'groups, hours and incidents';
  return h('span', { class: 'badge b-truncated', 'data-testid': 'backtest-attached-truncated', title: `The summary was ${mib(t.bytes)}, over the bound of ${mib(t.maxBytes)}: its counts are whole, these lists are left out: ${what}.` }, `truncated: no ${what}`);
}

const HOUR = 3_600_000;
/** Attached backtests a page asks for (the API allows 200; a page also ends at 8 MiB of summaries). */
const ATTACHED_PAGE = 50;
const CHANGE_TEXT: Record<ChangeKind, string> = {
  newly_matched: 'newly matched',
  no_longer_matched: 'no longer matched',
  newly_suppressed: 'newly suppressed',
  no_longer_suppressed: 'no longer suppressed',
};

/**
 * Every bucket of `bucketHours` hours of the window (aligned on UTC, as the API buckets perHour) with its
 * firings (0 where none), as uPlot's columns: seconds, then one series per lane.
 */
export function hourlySeries(from: string, to: string, lanes: readonly HourCount[][], bucketHours = 1): number[][] {
  const step = bucketHours * HOUR;
  const start = Math.floor(Date.parse(from) / step) * step;
  const end = Date.parse(to);
  const xs: number[] = [];
  for (let t = start; t < end; t += step) xs.push(t / 1000);
  return [xs, ...lanes.map((hours) => {
    const byHour = new Map(hours.map((c) => [Date.parse(c.hour) / 1000, c.firings]));
    return xs.map((x) => byHour.get(x) ?? 0);
  })];
}

/** What a bucket of perHour is: `hour`, or `3 hours`. */
const bucketText = (hours: number | undefined) => (!hours || hours === 1 ? 'hour' : `${hours} hours`);

/**
 * A summary's groups, most matches first (`name 12`), and the ones it left out: "and 50 more environments".
 * Older summaries may lack either field.
 */
function groupText(groups: readonly GroupCount[] | undefined, omitted: number | undefined, noun: string, testid: string): HTMLElement {
  const list = groups ?? [];
  const shown = list.map((g) => `${g.name ?? g.key} ${g.matched}`).join(', ');
  return h(
    'span',
    { 'data-testid': testid },
    shown || (omitted ? '' : '—'),
    omitted ? h('span', { class: 'muted', 'data-testid': `${testid}-omitted` }, `${shown ? ', ' : ''}and ${omitted} more ${noun} (a summary keeps the ${list.length} with the most matches)`) : null,
  );
}

function laneCard(title: string, s: LaneSummary, testid: string): HTMLElement {
  const suppressed = Object.entries(s.suppressedBy).map(([k, n]) => `${k.replace(/_/g, ' ')} ${n}`);
  return h(
    'div',
    { class: 'card', 'data-testid': testid },
    h('strong', {}, title),
    h(
      'dl',
      { class: 'kv' },
      h('dt', {}, 'matched'),
      h('dd', { 'data-testid': `${testid}-matched` }, `${s.matched} of ${s.evaluated} events evaluated`),
      h('dt', {}, 'decisions'),
      h('dd', {}, `run ${s.decisions.run}, dry-run ${s.decisions.dry_run}, notifications only ${s.decisions.notify_only}, skipped ${s.decisions.skipped}`),
      h('dt', {}, 'suppressed by'),
      h('dd', {}, suppressed.join(', ') || 'nothing'),
      h('dt', {}, 'would fire'),
      h('dd', {}, `${s.firings} times, ${s.actions} actions`),
      h('dt', {}, 'peak'),
      h('dd', { 'data-testid': `${testid}-peak` }, s.peakPerHour ? `${s.peakPerHour.firings}/h at ${new Date(s.peakPerHour.hour).toLocaleString()}` : 'none'),
      h('dt', {}, 'by environment'),
      h('dd', {}, groupText(s.byEnvironment, s.byEnvironmentOmitted, 'environments', `${testid}-environments`)),
      h('dt', {}, 'by service'),
      h('dd', {}, groupText(s.byService, s.byServiceOmitted, 'services', `${testid}-services`)),
      h('dt', {}, 'script arguments refused'),
      h('dd', { 'data-testid': `${testid}-args-refused` }, `${s.argsRefused ?? 0} match(es) whose script action the run would refuse (an incident value starting with '-')`),
      h('dt', {}, 'assumed'),
      h('dd', {}, `${s.assumptions.holdsAssumed} hold(s) of the assumed length, ${s.assumptions.outcomesUnknown} outcome(s) unknown`),
    ),
  );
}

function diffLine(label: string, counts: Record<ChangeKind, number>, testid: string): HTMLElement {
  return h('p', { 'data-testid': testid }, h('strong', {}, `${label}: `), (Object.keys(CHANGE_TEXT) as ChangeKind[]).map((k) => `${counts[k]} ${CHANGE_TEXT[k]}`).join(', '));
}

function decisionText(o: BacktestItem['candidate'] | undefined): string {
  if (!o) return '';
  if (!o.matched) return o.evaluated ? 'no match' : 'not evaluated';
  return `${o.decision ?? ''}${o.policy && o.policy !== 'dry_run' ? ` (${o.policy.replace(/_/g, ' ')})` : ''}`;
}

function itemRow(i: BacktestItem): HTMLTableRowElement {
  const change = i.changes.vsCurrent ?? i.changes.vsRecorded;
  return h(
    'tr',
    { 'data-testid': 'backtest-item' },
    h('td', {}, new Date(i.at).toLocaleString()),
    h('td', {}, h('a', { href: `#/incidents/${encodeURIComponent(i.incident.id)}`, 'data-testid': 'backtest-incident' }, i.incident.id), ' ', i.incident.title ?? ''),
    h('td', {}, i.target ?? ''),
    h('td', {}, badge(i.candidate.decision ?? (i.candidate.matched ? '' : 'no_match')), ' ', decisionText(i.candidate), i.candidate.refusedArgs ? ` — refused: ${i.candidate.refusedArgs.map((r) => `${r.actionId} args.${r.argIndex}`).join(', ')}` : ''),
    h('td', {}, i.baseline ? decisionText(i.baseline) : i.recorded ? `recorded: ${i.recorded.decision}` : ''),
    h('td', { 'data-testid': 'backtest-change' }, change ? CHANGE_TEXT[change] : ''),
  );
}

/** Draws firings per hour: the rule as edited, and the current version when there is one. */
function chart(container: HTMLElement, answer: BacktestAnswer): void {
  const s = answer.summary;
  const lanes = [s.candidate.perHour, ...(s.baseline ? [s.baseline.perHour] : [])];
  const bucketHours = s.candidate.perHourBucketHours;
  const data = hourlySeries(s.window.from, s.window.to, lanes, bucketHours) as uPlot.AlignedData;
  const series: uPlot.Series[] = [{}, { label: 'as edited', stroke: '#2160a8', fill: 'rgba(33,96,168,0.12)', width: 1.5 }];
  if (s.baseline) series.push({ label: 'current version', stroke: '#c23b3b', width: 1, dash: [4, 3] });
  const width = Math.max(320, container.clientWidth || 800);
  new uPlot({ width, height: 220, scales: { x: { time: true } }, axes: [{}, { label: `firings per ${bucketText(bucketHours)}` }], series }, data, container);
}

export function backtestPanel(ctx: ViewContext, currentRule: () => Promise<unknown>, stored: RuleView | null): Child {
  const since = h('select', { 'data-testid': 'backtest-since' }, ['1d', '7d', '30d', '90d'].map((v) => h('option', { value: v, ...(v === '30d' ? { selected: true } : {}) }, `last ${v}`)));
  const services = h('input', { type: 'text', 'data-testid': 'backtest-services', placeholder: 'services (comma-separated ids)' });
  const asLive = h('input', { type: 'checkbox', 'data-testid': 'backtest-as-live' });
  const result = h('div', { 'data-testid': 'backtest-result' });
  const attachedBox = h('div', { 'data-testid': 'backtest-attached' });
  let request: Record<string, unknown> = {};

  const fail = (err: unknown) => {
    result.replaceChildren(h('p', { class: 'error', 'data-testid': 'backtest-error' }, err instanceof Error ? err.message : String(err)));
  };
  const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

  // The attached backtests, a page at a time as the API pages them (More follows nextCursor); each row's
  // environments fold into a <details>, the ones its summary left out counted there.
  const attachedRow = (b: AttachedBacktest) => {
    const c = b.summary.candidate;
    const environments = (c.byEnvironment ?? []).length + (c.byEnvironmentOmitted ?? 0);
    return h(
      'tr',
      { 'data-testid': 'backtest-attached-row' },
      h('td', {}, `v${b.version}`),
      h('td', {}, b.actor),
      h('td', {}, `${new Date(b.window.from).toLocaleDateString()} – ${new Date(b.window.to).toLocaleDateString()}`),
      h('td', {}, String(c.matched), b.summary.truncated ? [' ', truncatedNote(b.summary.truncated)] : null),
      h('td', {}, String(c.peakPerHour?.firings ?? 0)),
      h('td', {}, environments === 0 ? '—' : h('details', {}, h('summary', {}, `${environments} environment${environments === 1 ? '' : 's'}`), groupText(c.byEnvironment, c.byEnvironmentOmitted, 'environments', 'backtest-attached-environments'))),
    );
  };
  const showAttached = async () => {
    if (!stored) return;
    replace(
      attachedBox,
      await pagedList<AttachedBacktest>(ctx, {
        path: `/api/rules/${encodeURIComponent(stored.id)}/backtests`,
        limit: ATTACHED_PAGE,
        testid: 'backtest-attached-table',
        headers: ['Version', 'By', 'Window', 'Matched', 'Peak/h', 'Environments'],
        rows: (items) => items.map(attachedRow),
        empty: 'No backtest attached to a version yet.',
      }),
    );
  };

  const more = async (tbody: HTMLElement, cursor: string, button: HTMLButtonElement) => {
    button.disabled = true;
    try {
      const page = await ctx.api.send<BacktestAnswer>('POST', '/api/rules/backtest', { ...request, cursor }, { signal: ctx.signal });
      for (const i of page.items) tbody.append(itemRow(i));
      if (page.nextCursor) button.onclick = () => void more(tbody, page.nextCursor!, button);
      else button.remove();
      button.disabled = false;
    } catch (err) {
      fail(err);
    }
  };

  const run = async () => {
    result.replaceChildren(h('p', { class: 'muted' }, 'Replaying the history…'));
    let answer: BacktestAnswer;
    try {
      request = {
        rule: await currentRule(),
        ...(stored ? { ruleId: stored.id } : {}),
        since: since.value,
        ...(list(services.value).length ? { services: list(services.value) } : {}),
        ...(asLive.checked ? { asLive: true } : {}),
        limit: 25,
      };
      answer = await ctx.api.send<BacktestAnswer>('POST', '/api/rules/backtest', request, { signal: ctx.signal });
    } catch (err) {
      fail(err);
      return;
    }
    const s = answer.summary;
    const plot = h('div', { class: 'chart', 'data-testid': 'backtest-chart' });
    const tbody = table('backtest-items', ['Received', 'Incident', 'Target', 'As edited', stored ? 'Current version' : 'Recorded', 'Change'], answer.items.map(itemRow));
    const moreButton = h('button', { type: 'button', class: 'secondary', 'data-testid': 'backtest-more' }, 'More');
    if (answer.nextCursor) moreButton.onclick = () => void more(tbody, answer.nextCursor!, moreButton);
    replace(
      result,
      h('p', { 'data-testid': 'backtest-window' }, `${new Date(s.window.from).toLocaleString()} – ${new Date(s.window.to).toLocaleString()}: ${s.events.read} events replayed`),
      s.retention?.clamped ? h('p', { class: 'error', 'data-testid': 'backtest-retention' }, s.retention.note ?? '') : null,
      h('div', { class: 'grid' }, laneCard('As edited', s.candidate, 'backtest-candidate'), s.baseline ? laneCard(`Current version (v${stored?.version ?? ''})`, s.baseline, 'backtest-baseline') : null),
      s.vsCurrent ? diffLine('vs the current version', s.vsCurrent.counts, 'backtest-vs-current') : null,
      s.vsRecorded ? diffLine('vs the decisions recorded', s.vsRecorded.counts, 'backtest-vs-recorded') : null,
      h('h4', { 'data-testid': 'backtest-chart-title' }, `Would-be firings per ${bucketText(s.candidate.perHourBucketHours)}`),
      plot,
      h('h4', {}, `${s.vsCurrent ? 'Changed' : 'Matched'} events (${answer.totalItems})`),
      answer.items.length ? tbody : h('p', { class: 'muted' }, 'None.'),
      answer.nextCursor ? moreButton : null,
    );
    chart(plot, answer);
  };

  const attach = async () => {
    try {
      const saved = await ctx.api.send<AttachedBacktest>('POST', `/api/rules/${encodeURIComponent(stored!.id)}/backtest`, { since: since.value, ...(asLive.checked ? { asLive: true } : {}) });
      ctx.flash(`Backtest attached to v${saved.version}`);
      await showAttached();
    } catch (err) {
      fail(err);
    }
  };

  if (stored) void showAttached().catch(fail);
  return [
    h('p', { class: 'muted' }, 'Replays the stored incident history through the rule as edited above, with its policies over time; nothing runs and nothing is saved.'),
    h(
      'div',
      { class: 'row' },
      since,
      services,
      h('label', {}, asLive, ' as if live (a dry-run rule run for real)'),
      h('button', { type: 'button', 'data-testid': 'backtest-run', onclick: () => void run() }, 'Run backtest'),
      stored ? h('button', { type: 'button', class: 'secondary', 'data-testid': 'backtest-attach', onclick: () => void attach() }, `Attach a backtest to v${stored.version}`) : null,
    ),
    result,
    stored ? [h('h4', {}, 'Backtests attached to versions'), attachedBox] : null,
  ];
}
