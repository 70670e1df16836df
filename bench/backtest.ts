/**
 * Backtest benchmark: one rule backtested over 100,000 stored incident events (a fresh database on
 * BENCH_DATABASE_URL, else DATABASE_URL, else the local Postgres; created and dropped), next to its floor:
 * reading those very rows with the same query and consuming them without replaying anything. Time (median
 * of three runs each) and the peak heap above the idle heap while each runs. Target: within 2× of the floor.
 *
 *   node --expose-gc --import tsx bench/backtest.ts        (BENCH_BACKTEST_EVENTS=20000 for a quick look)
 */
import { randomBytes } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { openDatabase } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { historyPageQuery, readHistory } from '../src/db/repositories/history.js';
import { definitionLane, runBacktest, warmupSeconds } from '../src/domain/backtest/index.js';
import { parseRuleInput, type RuleInput } from '../src/domain/rules/schema.js';
import { buildHistory, eventsOf, storeHistory, storeRecordedMatch, TITLE_EXTRACTORS } from '../test/helpers/history.js';
import { log, round } from './lib.js';

const DEFAULT_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/postgres';
const HOUR = 3_600_000;

export interface BacktestBenchResult {
  events: number;
  /** Reading the rows of the window with the backtest's query, consumed and dropped. */
  floor: { seconds: number; peakHeapMb: number };
  /** The same rows read and replayed through one rule (extraction, matching, policies, summary). */
  backtest: { seconds: number; peakHeapMb: number; matched: number; firings: number };
  ratio: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Runs `fn`, sampling the heap every 10 ms; the peak above the heap before it, in MB. */
async function measured<T>(fn: () => Promise<T>): Promise<{ seconds: number; peakHeapMb: number; value: T }> {
  (globalThis as { gc?: () => void }).gc?.();
  const idle = process.memoryUsage().heapUsed;
  let peak = idle;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().heapUsed);
  }, 10);
  const started = performance.now();
  try {
    const value = await fn();
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    return { seconds: (performance.now() - started) / 1000, peakHeapMb: round((peak - idle) / 1024 / 1024, 1), value };
  } finally {
    clearInterval(timer);
  }
}

function rule(): RuleInput {
  const parsed = parseRuleInput({
    name: 'bench-disk',
    services: ['*'],
    conditions: { all: [{ field: 'incident.urgency', op: 'equals', value: 'high' }, { field: 'incident.title', op: 'matches', value: 'Disk (full|usage)', flags: 'i' }, { field: 'environment.host', op: 'exists' }] },
    actions: [
      { id: 'clean', type: 'script.agent', script: 'disk-cleanup.sh', args: ['{{ environment.host }}'], idempotent: true },
      { id: 'note', type: 'pagerduty.note', content: 'cleanup on {{ environment.host }}: {{ results.clean.status }}', when: 'always' },
    ],
    policies: { rateLimit: { max: 20, windowSeconds: 3600 }, cooldownSeconds: 1800, concurrencyPerTarget: 1, maintenanceWindows: [{ days: ['sun'], start: '02:00', end: '04:00', timezone: 'Europe/Paris' }] },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return parsed.value;
}

export async function runBacktestBench(): Promise<BacktestBenchResult> {
  const target = Number(process.env.BENCH_BACKTEST_EVENTS ?? 100_000);
  const base = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL;
  const name = `selfheal_bench_backtest_${Date.now()}_${randomBytes(3).toString('hex')}`;
  const admin = async (sql: string) => {
    const c = new pg.Client({ connectionString: base });
    await c.connect();
    try {
      await c.query(sql);
    } finally {
      await c.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(base);
  url.pathname = `/${name}`;
  const database = await openDatabase({ url: url.toString(), dataDir: '', poolSize: 4 });
  try {
    await migrateToLatest(database.db);
    // ~2.9 events per incident; stored in chunks of 2,000 incidents, each chunk its own slice of 30 days.
    const to = new Date(Math.floor(Date.now() / HOUR) * HOUR);
    const from = new Date(to.getTime() - 30 * 24 * HOUR);
    const chunks = Math.ceil(target / 2.9 / 2000);
    let stored = 0;
    for (let c = 0; c < chunks && stored < target; c++) {
      const slice = (30 * 24) / chunks;
      const history = buildHistory({ incidents: 2000, from: new Date(from.getTime() + c * slice * HOUR), hours: slice, seed: 100 + c, prefix: `B${c}x` });
      const events = eventsOf(history);
      await storeHistory(database.db, history);
      // Some runs other rules recorded, so the rows carry recorded matches as they do in production.
      for (const e of events.filter((_, i) => i % 25 === 0)) {
        const inc = history.find((x) => x.id === e.incidentId)!;
        await storeRecordedMatch(database.db, { incidentId: e.incidentId, eventId: e.eventId, ruleId: 'other-rule', decision: 'run', target: inc.host, matchedAt: e.at, actions: [{ status: 'succeeded', finishedAt: new Date(e.at.getTime() + 45_000) }] });
      }
      stored += events.length;
      log(`stored ${stored} events`);
    }
    await database.pool.query('VACUUM ANALYZE');
    const lane = definitionLane(rule(), { id: 'bench-rule', version: 1 });
    const warmupFrom = new Date(from.getTime() - warmupSeconds([lane]) * 1000);
    const query = { from: warmupFrom, to };

    const floorRuns: { seconds: number; peakHeapMb: number; value: number }[] = [];
    const backtestRuns: { seconds: number; peakHeapMb: number; value: { matched: number; firings: number; read: number } }[] = [];
    for (let i = 0; i < 3; i++) {
      floorRuns.push(
        await measured(async () => {
          // The floor: the backtest's own page query, every row received and parsed by pg, nothing replayed.
          let rows = 0;
          let after: { at: string; seq: string } | null = null;
          for (;;) {
            const page = await historyPageQuery(database.db, query, after, 1000);
            rows += page.rows.length;
            if (page.rows.length < 1000) break;
            const last = page.rows[page.rows.length - 1]!;
            after = { at: last.cursor_at, seq: last.seq };
          }
          return rows;
        }),
      );
      backtestRuns.push(
        await measured(async () => {
          const result = await runBacktest(readHistory(database.db, query), {
            candidate: lane,
            from,
            to,
            warmupFrom,
            extractors: TITLE_EXTRACTORS,
            environmentWindows: new Map(),
            otherRules: new Map(),
            assumedRunSeconds: 300,
            filters: {},
            page: { offset: 0, limit: 50, only: 'matched' },
            budget: { maxEvents: 10_000_000, deadline: Infinity, clock: () => 0 },
          });
          return { matched: result.summary.candidate.matched, firings: result.summary.candidate.firings, read: result.summary.events.read };
        }),
      );
      log(`run ${i + 1}: floor ${round(floorRuns[i]!.seconds, 2)} s, backtest ${round(backtestRuns[i]!.seconds, 2)} s`);
    }
    const floorSeconds = median(floorRuns.map((r) => r.seconds));
    const backtestSeconds = median(backtestRuns.map((r) => r.seconds));
    const last = backtestRuns[backtestRuns.length - 1]!.value;
    if (last.read !== floorRuns[0]!.value) throw new Error(`the backtest read ${last.read} events, the floor ${floorRuns[0]!.value}`);
    return {
      events: floorRuns[0]!.value,
      floor: { seconds: round(floorSeconds, 2), peakHeapMb: Math.max(...floorRuns.map((r) => r.peakHeapMb)) },
      backtest: { seconds: round(backtestSeconds, 2), peakHeapMb: Math.max(...backtestRuns.map((r) => r.peakHeapMb)), matched: last.matched, firings: last.firings },
      ratio: round(backtestSeconds / floorSeconds, 2),
    };
  } finally {
    await database.close();
    await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await runBacktestBench();
  console.table([
    { what: `read ${r.events} events (floor)`, seconds: r.floor.seconds, 'peak heap MB': r.floor.peakHeapMb },
    { what: `backtest one rule over them`, seconds: r.backtest.seconds, 'peak heap MB': r.backtest.peakHeapMb },
  ]);
  console.log(`ratio ${r.ratio}× of the floor (target ≤ 2×): ${r.ratio <= 2 ? 'pass' : 'MISS'}; matched ${r.backtest.matched}, would fire ${r.backtest.firings}`);
  if (r.ratio > 2) process.exitCode = 1;
}
