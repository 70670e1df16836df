// Backtests from the CLI: the request to POST /api/rules/backtest, and the summary as lines for people
// (`selfheal rules backtest`, and the plan of `selfheal rules apply`).
import type { BacktestItem, BacktestSummary, ChangeKind, LaneSummary } from '../../domain/backtest/types.js';
import { parseDuration } from '../../domain/backtest/window.js';
import { usageError } from '../errors.js';
import type { ApiClient } from '../http-client.js';

export interface BacktestAnswer {
  summary: BacktestSummary & {
    retention?: { clamped: boolean; note?: string; purgedBefore: string | null };
    limits?: { events: number; maxEvents: number; timeBudgetSeconds: number };
  };
  items: BacktestItem[];
  totalItems: number;
  nextCursor: string | null;
}

export interface BacktestWindowOptions {
  since?: string;
  service?: string[];
  environment?: string[];
  asLive?: boolean;
}

/** The window and filters of a request, checked here so a typo is a usage error before any call. */
export function windowBody(o: BacktestWindowOptions): Record<string, unknown> {
  const since = o.since ?? '30d';
  if (parseDuration(since) === undefined) throw usageError(`--since must be a duration such as 30d, 12h, 90m or 2w (got "${since}")`);
  return {
    since,
    ...(o.service && o.service.length > 0 ? { services: o.service } : {}),
    ...(o.environment && o.environment.length > 0 ? { environments: o.environment } : {}),
    ...(o.asLive ? { asLive: true } : {}),
  };
}

export async function requestBacktest(api: ApiClient, body: Record<string, unknown>): Promise<BacktestAnswer> {
  return (await api.request<BacktestAnswer>('POST', '/api/rules/backtest', { body })).body;
}

const CHANGE_LABEL: Record<ChangeKind, string> = {
  newly_matched: 'newly matched',
  no_longer_matched: 'no longer matched',
  newly_suppressed: 'newly suppressed',
  no_longer_suppressed: 'no longer suppressed',
};

const hour = (iso: string) => `${iso.slice(0, 13).replace('T', ' ')}:00Z`;

function laneLines(s: LaneSummary): string[] {
  const d = s.decisions;
  const suppressed = Object.entries(s.suppressedBy)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ');
  const lines = [
    `  matched ${s.matched} of ${s.evaluated} events evaluated: run ${d.run}, dry-run ${d.dry_run}, notifications only ${d.notify_only}, skipped ${d.skipped}${suppressed ? ` (${suppressed})` : ''}`,
    `  would fire ${s.firings} time(s) launching ${s.actions} action(s); peak ${s.peakPerHour ? `${s.peakPerHour.firings}/h at ${hour(s.peakPerHour.hour)}` : '0/h'}`,
  ];
  // A summary keeps the 100 groups with the most matches and counts the others (absent from older servers' answers).
  const more = (n: number | undefined) => (n ? `, and ${n} more` : '');
  if (s.byEnvironment.length > 0) lines.push(`  by environment: ${s.byEnvironment.map((g) => `${g.key} ${g.matched} (${g.fired} ran)`).join(', ')}${more(s.byEnvironmentOmitted)}`);
  if (s.byService.length > 1) lines.push(`  by service: ${s.byService.map((g) => `${g.name ?? g.key} ${g.matched}`).join(', ')}${more(s.byServiceOmitted)}`);
  if (s.argsRefused > 0) {
    lines.push(`  ✗ ${s.argsRefused} match(es) with a script argument the run would refuse (an incident value starting with '-'): the action fails without running (refusedArgs of each event)`);
  }
  if (s.assumptions.holdsAssumed > 0 || s.assumptions.outcomesUnknown > 0) {
    lines.push(`  assumed: ${s.assumptions.holdsAssumed} run(s) held their target for the assumed time; ${s.assumptions.outcomesUnknown} outcome(s) unknown (not counted by the breaker)`);
  }
  return lines;
}

/** The summary as lines: window, decisions, peak, and the diffs with the incidents behind them. */
export function summaryLines(name: string, a: BacktestAnswer, opts: { incidents?: number } = {}): string[] {
  const s = a.summary;
  const lines = [`backtest of ${name}: ${s.window.from} → ${s.window.to} (${s.events.read} event(s) read)`];
  if (s.retention?.clamped && s.retention.note) lines.push(`  note: ${s.retention.note}`);
  lines.push(...laneLines(s.candidate));
  const cap = opts.incidents ?? 10;
  // `incidentsOmitted` counts the incidents behind a change that `incidents` does not list (exact; absent
  // from older servers' answers, where only the event count can hint that the list is short).
  const diff = (label: string, d: { counts: Record<ChangeKind, number>; incidents: Record<ChangeKind, string[]>; incidentsOmitted?: Partial<Record<ChangeKind, number>> }) => {
    lines.push(`  ${label}: ${(Object.keys(CHANGE_LABEL) as ChangeKind[]).map((k) => `${d.counts[k]} ${CHANGE_LABEL[k]}`).join(', ')}`);
    for (const k of Object.keys(CHANGE_LABEL) as ChangeKind[]) {
      if (d.counts[k] === 0) continue;
      const ids = d.incidents[k];
      const shown = ids.slice(0, cap);
      const omitted = d.incidentsOmitted?.[k];
      const more = omitted === undefined ? (ids.length > cap || d.counts[k] > ids.length ? ' …' : '') : ids.length - shown.length + omitted > 0 ? ` … and ${ids.length - shown.length + omitted} more incident(s)` : '';
      lines.push(`    ${CHANGE_LABEL[k]}: ${shown.join(' ')}${more}`);
    }
  };
  if (s.baseline && s.vsCurrent) {
    lines.push(`  current version: matched ${s.baseline.matched}, would fire ${s.baseline.firings}, peak ${s.baseline.peakPerHour?.firings ?? 0}/h`);
    diff('vs current version', s.vsCurrent);
  }
  if (s.vsRecorded) {
    diff('vs what was recorded', s.vsRecorded);
    lines.push(`  agrees with the recorded decisions on ${s.vsRecorded.agreement.same} of ${s.vsRecorded.agreement.of} event(s)`);
  }
  return lines;
}
