/**
 * `npm run bench:ab`: the API's own CPU per webhook, this checkout against an earlier commit, in one run.
 *
 *   BENCH_AB_BASE=HEAD~1 npm run bench:ab      (BENCH_AB_RATE=60, BENCH_AB_SECONDS=25, BENCH_AB_ROUNDS=5)
 *
 * One stack (Temporal, Postgres) and two API processes: one from this checkout, one from BENCH_AB_BASE
 * checked out as a git worktree under .data/bench-ab/. Rounds alternate between the two (the order
 * reversed every round) and each offers the same open-loop rate of signed deliveries. Both APIs start
 * the incidents' workflows on a task queue no worker polls, so only the ack path (the API, Temporal's
 * start, Postgres' duplicate lookup) runs, and no round pays for the incidents of the one before it. Reports, per round and as medians, the API's and
 * the Temporal server's CPU milliseconds per accepted delivery (/proc utime + stime) and the ack
 * p50/p99, and each round's API ratio, this checkout over the base. Noise on a shared 2-core host moves
 * every round; a change shows when the ratio stays on one side of 1 round after round.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { processSeconds } from './cpu.js';
import { newBatch } from './deliveries.js';
import { keepAliveTarget, log, openLoop, round, sleep } from './lib.js';
import { startBenchStack, startChild } from './stack.js';

const repo = fileURLToPath(new URL('../', import.meta.url));
const base = process.env.BENCH_AB_BASE;
const rate = Number(process.env.BENCH_AB_RATE ?? 60);
const seconds = Number(process.env.BENCH_AB_SECONDS ?? 25);
const rounds = Number(process.env.BENCH_AB_ROUNDS ?? 5);

function git(...args: string[]): string {
  const r = spawnSync('git', args, { cwd: repo, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout.trim();
}

/** The base commit as a worktree of this repository (made once per commit), sharing node_modules. */
function baseTree(rev: string): { dir: string; commit: string } {
  const commit = git('rev-parse', '--verify', `${rev}^{commit}`);
  const dir = path.join(repo, '.data', 'bench-ab', commit.slice(0, 12));
  if (!existsSync(dir)) {
    git('worktree', 'add', '--detach', dir, commit);
    symlinkSync(path.join(repo, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
  }
  return { dir, commit };
}

const median = (v: number[]) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)]!;

async function main(): Promise<void> {
  if (!base) throw new Error('set BENCH_AB_BASE to the commit to compare with (e.g. HEAD~1)');
  const tree = baseTree(base);
  const here = git('rev-parse', 'HEAD');
  const stack = await startBenchStack();
  const baseStack = (await import(pathToFileURL(path.join(tree.dir, 'bench', 'stack.ts')).href)) as { startChild: typeof startChild };
  // The workflows the deliveries start wait on a queue nobody polls.
  const env = { ...stack.env, TEMPORAL_TASK_QUEUE: `bench-ab-unpolled-${randomBytes(4).toString('hex')}` };
  const apis = [
    { name: `this checkout (${here.slice(0, 7)}${git('status', '--porcelain', '--untracked-files=no') ? ', uncommitted changes' : ''})`, api: await startChild('api', env) },
    { name: `base ${tree.commit.slice(0, 7)}`, api: await baseStack.startChild('api', env) },
  ];
  const rows: { round: number; name: string; api: number; server: number; p50: number; p99: number }[] = [];
  try {
    for (let r = 0; r < rounds; r++) {
      for (const { name, api } of r % 2 === 0 ? apis : [...apis].reverse()) {
        const target = keepAliveTarget(api.url);
        const batch = newBatch(`ab${r}${name.slice(0, 4)}`);
        // A short warm-up of the same path, then the measured round.
        await openLoop({ target, rate, durationMs: 2000, build: (i) => batch.build(1_000_000 + i) });
        await sleep(500);
        const api0 = processSeconds(api.child.pid) * 1000;
        const server0 = processSeconds(stack.server.process.pid) * 1000;
        const result = await openLoop({ target, rate, durationMs: seconds * 1000, build: (i) => batch.build(i) });
        const apiUsed = processSeconds(api.child.pid) * 1000 - api0;
        const serverUsed = processSeconds(stack.server.process.pid) * 1000 - server0;
        const n = Math.max(1, result.ok);
        const row = { round: r + 1, name, api: round(apiUsed / n, 2), server: round(serverUsed / n, 2), p50: result.latency.p50Ms, p99: result.latency.p99Ms };
        rows.push(row);
        log(`round ${row.round}, ${name}: ${result.ok}/${result.sent} accepted; API ${row.api} ms/delivery, server ${row.server}, p50 ${row.p50} ms, p99 ${row.p99} ms`);
        await sleep(2000);
      }
    }
  } finally {
    for (const { api } of apis) api.child.kill('SIGTERM');
    await stack.stop();
  }
  const lines = [`| round | ${apis.map((a) => `${a.name}: API / server CPU ms, p99`).join(' | ')} | API ratio |`, '|---:|---:|---:|---:|'];
  for (let r = 1; r <= rounds; r++) {
    const [a, b] = apis.map((x) => rows.find((row) => row.round === r && row.name === x.name)!);
    lines.push(`| ${r} | ${a!.api} / ${a!.server}, ${a!.p99} ms | ${b!.api} / ${b!.server}, ${b!.p99} ms | ${round(a!.api / b!.api, 2)}× |`);
  }
  const of = (name: string, k: 'api' | 'server' | 'p99') => median(rows.filter((row) => row.name === name).map((row) => row[k]));
  const [a, b] = apis.map((x) => x.name);
  lines.push(`| median | ${of(a!, 'api')} / ${of(a!, 'server')}, ${of(a!, 'p99')} ms | ${of(b!, 'api')} / ${of(b!, 'server')}, ${of(b!, 'p99')} ms | ${round(of(a!, 'api') / of(b!, 'api'), 2)}× |`);
  process.stdout.write(`\n${rate} signed deliveries/s for ${seconds} s per round, their workflows left unpolled:\n\n${lines.join('\n')}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench:ab failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
