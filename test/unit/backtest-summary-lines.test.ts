import assert from 'node:assert/strict';
import { summaryLines, type BacktestAnswer } from '../../src/cli/commands/backtest-report.js';
import type { DiffSummary, LaneSummary } from '../../src/domain/backtest/types.js';

// `selfheal rules backtest` prints the incidents behind each change, ten by default. The server lists the
// first 100 distinct ones and counts the others in `incidentsOmitted`; the CLI said only "…", and said it
// too when every incident was listed but one had several events.
const lane: LaneSummary = {
  evaluated: 500,
  matched: 300,
  decisions: { run: 300, dry_run: 0, notify_only: 0, skipped: 0 },
  suppressedBy: {},
  firings: 300,
  actions: 300,
  peakPerHour: null,
  perHour: [],
  perHourBucketHours: 1,
  byService: [],
  byServiceOmitted: 0,
  byEnvironment: [],
  byEnvironmentOmitted: 0,
  assumptions: { holdsAssumed: 0, outcomesUnknown: 0 },
  argsRefused: 0,
};
const none = { newly_matched: 0, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 };
const ids = (n: number) => Array.from({ length: n }, (_, i) => `Q${i}`);
const answer = (vsCurrent: Partial<DiffSummary> & Pick<DiffSummary, 'counts' | 'incidents'>): BacktestAnswer => ({
  summary: {
    window: { from: '2026-11-01T00:00:00.000Z', to: '2026-12-01T00:00:00.000Z', warmupFrom: '2026-10-31T00:00:00.000Z' },
    events: { read: 500, reported: 500, stale: 0 },
    candidate: lane,
    baseline: lane,
    vsCurrent: vsCurrent as DiffSummary,
    assumedRunSeconds: 60,
  },
  items: [],
  totalItems: 0,
  nextCursor: null,
});
const line = (a: BacktestAnswer) => summaryLines('r', a).find((l) => l.trimStart().startsWith('newly matched:'));

describe('selfheal rules backtest: the incidents behind a change', () => {
  it('says how many more incidents there are, the omitted ones counted (before: only "…")', () => {
    const a = answer({ counts: { ...none, newly_matched: 400 }, incidents: { ...none, newly_matched: ids(100) } as never, incidentsOmitted: { ...none, newly_matched: 150 } });
    assert.equal(line(a), `    newly matched: ${ids(10).join(' ')} … and 240 more incident(s)`);
  });

  it('says nothing more when every incident is listed, though one had several events', () => {
    const a = answer({ counts: { ...none, newly_matched: 9 }, incidents: { ...none, newly_matched: ids(3) } as never, incidentsOmitted: { ...none } });
    assert.equal(line(a), '    newly matched: Q0 Q1 Q2');
  });

  it('an older server without incidentsOmitted: "…" when the list may be short', () => {
    const a = answer({ counts: { ...none, newly_matched: 9 }, incidents: { ...none, newly_matched: ids(3) } as never });
    assert.equal(line(a), '    newly matched: Q0 Q1 Q2 …');
  });
});
