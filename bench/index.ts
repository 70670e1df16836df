/**
 * `npm run bench`: every benchmark on loopback against a Temporal server, a fresh Postgres database
 * (BENCH_DATABASE_URL, else DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres; created and
 * dropped), the real worker and the real API. Writes bench/results/latest.{json,md} (BENCH_OUT_DIR to
 * change) with each figure next to its baseline measured in the same run.
 *
 * The Temporal server is the CLI's dev server (SQLite, one history shard) by default. With
 * BENCH_TEMPORAL=postgres it is Temporal server 1.29.1 on the same Postgres instead (two databases of its
 * own, created and dropped), with BENCH_TEMPORAL_SHARDS history shards (default 8). Its binaries come
 * from TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH or the tool cache (built with Go when missing), its
 * schema from the Go module cache (TEMPORAL_SCHEMA_DIR to override).
 *
 *   npm run bench                 ~15 minutes on 2 cores (Node 22 through tools/node22.sh)
 *   BENCH_QUICK=1 npm run bench   ~3 minutes, shorter steps and a 300-incident storm
 *   BENCH_ONLY=ingest,jobs        only these phases (rules, backtest, baselines, ingest, e2e, jobs, memory)
 *   BENCH_OPEN_INCIDENTS=10000    open incident workflows for the memory phase (quick: 3000)
 *   BENCH_TEMPORAL=postgres       against Temporal server on PostgreSQL (default: dev)
 *   BENCH_TEMPORAL_SHARDS=16      its history shards (default 8)
 *   BENCH_WORKERS=2               main worker processes on the task queue (default 1): scale-out
 *   BENCH_WORKER_NICE=19          the workers' CPU priority (nice; default 0), as cpu_shares would set it
 *   TEMPORAL_WORKER_*_SLOTS       the workers' slots, as in production (default: the SDK's)
 */
import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runBacktestBench } from './backtest.js';
import { runBaselines } from './baselines.js';
import { runEndToEnd } from './end-to-end.js';
import { runIngest } from './ingest.js';
import { runJobsBench } from './jobs.js';
import { log, quick, round } from './lib.js';
import { runMemory } from './memory.js';
import { figuresOf, figuresTable, toMarkdown, type BenchResults } from './report.js';
import { runRuleMatchingBench } from './rule-matching.js';
import { startBenchStack, type BenchStack } from './stack.js';

const outDir = process.env.BENCH_OUT_DIR ? path.resolve(process.env.BENCH_OUT_DIR) : fileURLToPath(new URL('./results/', import.meta.url));
/** Hard ceiling for the whole run; past it the stack is torn down and the process exits non-zero. */
const HARD_LIMIT_MS = (quick ? 20 : 30) * 60_000;

/**
 * The code being measured, read before the run: the commit checked out, and whether tracked files differ
 * from it (a report from uncommitted code says so). Undefined outside a git checkout.
 */
function codeUnderTest(): BenchResults['code'] {
  const git = (...args: string[]) => spawnSync('git', args, { cwd: fileURLToPath(new URL('../', import.meta.url)), encoding: 'utf8', timeout: 10_000 });
  const head = git('rev-parse', 'HEAD');
  if (head.status !== 0) return undefined;
  const status = git('status', '--porcelain', '--untracked-files=no');
  return { commit: head.stdout.trim(), uncommittedChanges: status.status !== 0 || status.stdout.trim() !== '' };
}

async function main(): Promise<void> {
  const started = Date.now();
  const code = codeUnderTest();
  const errors: BenchResults['errors'] = [];
  const partial: Omit<BenchResults, 'figures' | 'durationSeconds' | 'generatedAt' | 'machine' | 'code'> = { quick, errors };
  let stack: BenchStack | undefined;
  const loadAverage = { start: os.loadavg().map((v) => round(v, 2)), end: [] as number[] };

  const guard = setTimeout(() => {
    log(`the bench exceeded ${HARD_LIMIT_MS / 60_000} minutes; stopping`);
    void Promise.race([stack?.stop(), new Promise((r) => setTimeout(r, 20_000))]).finally(() => process.exit(2));
  }, HARD_LIMIT_MS);
  guard.unref();

  const only = process.env.BENCH_ONLY?.split(',').map((p) => p.trim());
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      log(`${signal}: stopping`);
      void Promise.race([stack?.stop(), new Promise((r) => setTimeout(r, 20_000))]).finally(() => process.exit(130));
    });
  }

  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T | undefined> => {
    if (only && !only.includes(name.split(' ')[0]!)) return undefined;
    if (Date.now() - started > HARD_LIMIT_MS - 60_000) {
      errors.push({ phase: name, message: 'skipped: out of time' });
      return undefined;
    }
    const t0 = Date.now();
    try {
      const result = await fn();
      log(`${name} done in ${round((Date.now() - t0) / 1000, 1)} s`);
      return result;
    } catch (err) {
      errors.push({ phase: name, message: (err as Error).message });
      log(`${name} FAILED: ${(err as Error).stack ?? (err as Error).message}`);
      return undefined;
    }
  };

  let postgres = 'PostgreSQL';
  let temporal = 'Temporal dev server';
  let workerSlots: BenchResults['machine']['workerSlots'];
  let workerNice = 0;
  let workers = 1;
  try {
    partial.ruleMatching = await phase('rules', runRuleMatchingBench);
    partial.backtest = await phase('backtest', runBacktestBench);
    stack = await startBenchStack();
    const s = stack;
    const version = await s.database.pool.query<{ server_version: string }>('SHOW server_version');
    postgres = `PostgreSQL ${version.rows[0]?.server_version ?? '?'}`;
    temporal = s.temporalDescription;
    workerSlots = s.config.temporal.workerSlots;
    workerNice = s.worker.nice;
    workers = s.worker.children.length;
    partial.baselines = await phase('baselines', () => runBaselines(s));
    partial.ingest = await phase('ingest', () => runIngest(s, partial.baselines?.signalWithStart.perSecond));
    partial.endToEnd = await phase('e2e', () => runEndToEnd(s));
    partial.jobs = await phase('jobs', () => runJobsBench(s));
    // Last: it leaves thousands of open incidents behind.
    partial.memory = await phase('memory', () => runMemory(s));
  } finally {
    loadAverage.end = os.loadavg().map((v) => round(v, 2));
    await stack?.stop();
    clearTimeout(guard);
  }

  const cpus = os.cpus();
  const withoutFigures: Omit<BenchResults, 'figures'> = {
    generatedAt: new Date().toISOString(),
    ...(code ? { code } : {}),
    machine: {
      cpus: cpus.length,
      cpuModel: cpus[0]?.model.trim() ?? 'unknown',
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      temporal,
      postgres,
      loadAverage,
      ...(workerSlots ? { workerSlots } : {}),
      workerNice,
      workers,
    },
    durationSeconds: round((Date.now() - started) / 1000, 1),
    ...partial,
  };
  const results: BenchResults = { ...withoutFigures, figures: figuresOf(withoutFigures) };
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'latest.json'), `${JSON.stringify(results, stripIndices, 2)}\n`);
  await writeFile(path.join(outDir, 'latest.md'), `${toMarkdown(results)}\n`);
  process.stdout.write(`\n${figuresTable(results.figures)}\n\nwritten to ${outDir}/latest.{json,md} in ${results.durationSeconds} s\n`);
  if (errors.length > 0) process.exitCode = 1;
}

/** The per-request index lists are working data, not results. */
function stripIndices(key: string, value: unknown): unknown {
  return key === 'okIndices' ? undefined : value;
}

main().catch((err: unknown) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
