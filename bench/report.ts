// Results → the figures table (each figure next to the baseline measured in the same run) and markdown.
import type { WorkerSlots } from '../src/config.js';
import type { BacktestBenchResult } from './backtest.js';
import type { BaselineResults, SignalShapeRun } from './baselines.js';
import type { EndToEndResults } from './end-to-end.js';
import type { AckPair, IngestResults } from './ingest.js';
import type { JobsResults } from './jobs.js';
import type { MemoryResults } from './memory.js';
import { perItemMs, type CpuUse } from './cpu.js';
import { round, TARGET_ACK_RATE } from './lib.js';
import { memoryFigures, memorySection, shapeSection } from './report-capacity.js';
import type { RuleMatchingResult } from './rule-matching.js';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  baseline?: { name: string; value: number; unit: string };
  /** value / baseline.value */
  ratio?: number;
  target?: string;
  pass?: boolean;
}

export interface BenchResults {
  generatedAt: string;
  /** The code measured (absent in results from before it was recorded, or outside a git checkout). */
  code?: { commit: string; uncommittedChanges: boolean };
  quick: boolean;
  machine: {
    cpus: number;
    cpuModel: string;
    node: string;
    platform: string;
    temporal: string;
    postgres: string;
    loadAverage: { start: number[]; end: number[] };
    /** The main worker's slots (TEMPORAL_WORKER_*_SLOTS). */
    workerSlots?: WorkerSlots;
    /** The workers' nice value (BENCH_WORKER_NICE); absent in results from before it existed. */
    workerNice?: number;
    /** Main worker processes (BENCH_WORKERS); absent in results from before it existed. */
    workers?: number;
  };
  durationSeconds: number;
  baselines?: BaselineResults;
  ruleMatching?: RuleMatchingResult[];
  backtest?: BacktestBenchResult;
  ingest?: IngestResults;
  endToEnd?: EndToEndResults;
  jobs?: JobsResults;
  memory?: MemoryResults;
  errors: { phase: string; message: string }[];
  figures: Figure[];
}

const ratio = (a: number, b: number): number => round(a / b, 2);

interface Target {
  text: string;
  pass: boolean;
}

function withBaseline(name: string, value: number, unit: string, baseline: Figure['baseline'] | undefined, target?: Target): Figure {
  return {
    name,
    value,
    unit,
    ...(baseline ? { baseline, ratio: ratio(value, baseline.value) } : {}),
    ...(target ? { target: target.text, pass: target.pass } : {}),
  };
}

const pairRatio = (p: AckPair): number => p.ack.ack.p99Ms / Math.max(p.raw.latency.p99Ms, 0.001);

/** The round whose ack/raw p99 ratio is the median (the lower middle one of an even count). */
export function medianPair(rounds: AckPair[]): AckPair {
  const sorted = [...rounds].sort((a, b) => pairRatio(a) - pairRatio(b));
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export function figuresOf(r: Omit<BenchResults, 'figures'>): Figure[] {
  const f: Figure[] = [];
  const b = r.baselines;
  const sws = b ? { name: 'raw signalWithStart (TS client, trivial workflow)', value: b.signalWithStart.perSecond, unit: '/s' } : undefined;
  const start = b ? { name: 'raw workflow start (trivial workflow)', value: b.workflowStart.perSecond, unit: '/s' } : undefined;
  const http = b ? { name: 'Hono hello-world, 32 callers', value: b.helloWorld.perSecond, unit: '/s' } : undefined;
  const httpP50 = b ? { name: 'hello-world p50 at 100/s', value: b.helloWorldAt100.p50Ms, unit: 'ms' } : undefined;
  const httpP99 = b ? { name: 'hello-world p99 at 100/s', value: b.helloWorldAt100.p99Ms, unit: 'ms' } : undefined;
  const swsP50 = b ? { name: 'raw signalWithStart p50 (32 callers)', value: b.signalWithStart.latency.p50Ms, unit: 'ms' } : undefined;

  if (r.ingest) {
    const v = r.ingest.maxSustainedRate;
    // The target is judged against the ceiling the top steps faced: raw signalWithStart on the server as
    // the steps left it. The empty server's rate (the baselines phase) is shown beside it.
    const after = r.ingest.rawAfterSteps;
    const swsAfter = after
      ? { name: `raw signalWithStart, the server as the steps left it (${after.workflowsOnServer.toLocaleString('en-US')} workflows)`, value: after.signalWithStart.perSecond, unit: '/s' }
      : undefined;
    const ceiling = swsAfter ?? sws;
    f.push(withBaseline('Webhook ingest, max sustained signed deliveries, zero loss', v, '/s', ceiling, ceiling ? { text: '≥ 0.8 × raw signalWithStart', pass: v >= 0.8 * ceiling.value } : undefined));
    if (swsAfter && sws) f.push(withBaseline('Webhook ingest vs raw signalWithStart on the empty server', v, '/s', { ...sws, name: `${sws.name}, empty server` }));
    f.push(withBaseline('Webhook ingest vs the HTTP ceiling', v, '/s', http));
    const pairs = r.ingest.ackPairs ?? [];
    for (const run of r.ingest.ackLatency) {
      // The floor of an ack that waits for Temporal: raw signalWithStart at the same rate; else the HTTP one.
      const floor = b?.signalWithStartAt?.find((x) => x.rate === run.rate);
      const floorOf = (p: 'p50' | 'p99') =>
        floor ? { name: `raw signalWithStart ${p} at ${run.rate}/s (open loop, trivial worker, baselines phase)`, value: floor.latency[`${p}Ms`], unit: 'ms' } : p === 'p50' ? httpP50 : httpP99;
      f.push(withBaseline(`Ack latency p50 at ${run.rate}/s`, run.ack.p50Ms, 'ms', floorOf('p50')));
      // Results without paired rounds (older runs) judge the target against the baselines phase's floor.
      const ackTarget =
        run.rate === TARGET_ACK_RATE && floor && pairs.length === 0
          ? { text: '≤ 1.5 × raw signalWithStart p99', pass: ratio(run.ack.p99Ms, floor.latency.p99Ms) <= 1.5 && run.lost === 0 && run.accepted === run.sent }
          : undefined;
      f.push(withBaseline(`Ack latency p99 at ${run.rate}/s`, run.ack.p99Ms, 'ms', floorOf('p99'), ackTarget));
    }
    // The target: the ack p99 against raw signalWithStart's measured right before it, the median of the rounds.
    for (const rate of [...new Set(pairs.map((p) => p.rate))]) {
      const rounds = pairs.filter((p) => p.rate === rate);
      const chosen = medianPair(rounds);
      const many = rounds.length > 1 ? `, the median of ${rounds.length} paired rounds` : '';
      const target =
        rate === TARGET_ACK_RATE
          ? { text: '≤ 1.5 × raw signalWithStart p99', pass: pairRatio(chosen) <= 1.5 && rounds.every((p) => p.ack.lost === 0 && p.ack.accepted === p.ack.sent) }
          : undefined;
      f.push(
        withBaseline(
          `Ack latency p99 at ${rate}/s, paired${many}`,
          chosen.ack.ack.p99Ms,
          'ms',
          { name: `raw signalWithStart p99 at ${rate}/s, trivial workflows, measured right before it for the same ${rounds.length > 1 ? 'windows' : 'window'}`, value: chosen.raw.latency.p99Ms, unit: 'ms' },
          target,
        ),
      );
    }
    // Beside the target's floor, the floor with the incidents' processing in it (no target of its own).
    for (const run of r.ingest.ackLatency) {
      const floor = r.ingest.shapeFloorAt?.find((x) => x.rate === run.rate);
      if (!floor) continue;
      const name = `signalWithStart p99 at ${run.rate}/s of workflows with an ingested incident's shape (${floor.steps.join(' → ')}), trivial bodies`;
      f.push(withBaseline(`Ack latency p99 at ${run.rate}/s vs the ingest-shape floor`, run.ack.p99Ms, 'ms', { name, value: floor.latency.p99Ms, unit: 'ms' }));
    }
  }
  if (r.endToEnd) {
    const l = r.endToEnd.latency;
    f.push(withBaseline(`Webhook → first action started p50 (${l.rate}/s)`, l.toActionStarted.p50Ms, 'ms', swsP50, { text: '< 1000 ms', pass: l.toActionStarted.p50Ms < 1000 && l.missing === 0 }));
    f.push(withBaseline(`Webhook → first action started p99 (${l.rate}/s)`, l.toActionStarted.p99Ms, 'ms', swsP50));
    const s = r.endToEnd.storm;
    const floor = r.endToEnd.floor;
    const floorName = floor ? `same-shape floor, storm of ${floor.incidents} (trivial bodies, ${floor.complete ? 'complete' : 'INCOMPLETE'})` : undefined;
    f.push(
      withBaseline(
        `Incidents fully processed (no-op action), storm of ${s.incidents}`,
        s.processedPerSecond,
        '/s',
        floor ? { name: floorName!, value: floor.processedPerSecond, unit: '/s' } : start,
        floor ? { text: '≥ 0.8 × the same-shape floor', pass: s.complete && s.processedPerSecond >= 0.8 * floor.processedPerSecond } : undefined,
      ),
    );
    if (floor && start) f.push(withBaseline(`Incidents fully processed vs raw workflow starts, storm of ${s.incidents}`, s.processedPerSecond, '/s', start));
    f.push(
      withBaseline(
        `Alert storm drain, ${s.incidents} incidents (all persisted, all actions done)`,
        s.drainSeconds,
        's',
        floor ? { name: `the same-shape floor's drain`, value: floor.drainSeconds, unit: 's' } : start ? { name: `${s.incidents} raw workflow starts`, value: round(s.incidents / start.value, 2), unit: 's' } : undefined,
      ),
    );
    f.push(
      withBaseline(
        `Webhook → first action started p50 during the storm`,
        s.toActionStarted.p50Ms,
        'ms',
        floor ? { name: `signalWithStart → first action started p50, ${floorName}`, value: floor.toActionStarted.p50Ms, unit: 'ms' } : swsP50,
        floor ? { text: '≤ 2 × the same-shape floor', pass: s.toActionStarted.p50Ms <= 2 * floor.toActionStarted.p50Ms } : undefined,
      ),
    );
    if (floor) {
      f.push(
        withBaseline(`Webhook → first action started p99 during the storm`, s.toActionStarted.p99Ms, 'ms', {
          name: `signalWithStart → first action started p99, ${floorName}`,
          value: floor.toActionStarted.p99Ms,
          unit: 'ms',
        }),
      );
    }
  }
  f.push(...memoryFigures(r));
  if (r.ruleMatching) {
    const base = r.ruleMatching[0];
    for (const m of r.ruleMatching) {
      const isLargest = m.rules === 10_000;
      f.push(
        withBaseline(
          `Rule matching median, ${m.rules.toLocaleString('en-US')} rules`,
          round(m.medianMicros / 1000, 3),
          'ms',
          base && m !== base ? { name: `${base.rules} rules`, value: round(base.medianMicros / 1000, 3), unit: 'ms' } : undefined,
          isLargest ? { text: '< 1 ms', pass: m.medianMicros < 1000 } : undefined,
        ),
      );
    }
  }
  if (r.backtest) {
    const b = r.backtest;
    f.push(
      withBaseline(
        `Backtest of one rule over ${b.events.toLocaleString('en-US')} stored events (peak heap +${b.backtest.peakHeapMb} MB; reading alone +${b.floor.peakHeapMb} MB)`,
        b.backtest.seconds,
        's',
        { name: 'reading those rows from Postgres (the floor)', value: b.floor.seconds, unit: 's' },
        { text: '≤ 2× the floor', pass: b.ratio <= 2 },
      ),
    );
  }
  if (r.jobs) {
    const at5 = r.jobs.runs.find((x) => x.concurrency === 5);
    const allOk = r.jobs.runs.every((x) => x.succeeded === r.jobs!.targets);
    f.push(
      withBaseline(
        `Job run fanned out to ${r.jobs.targets} targets (concurrency 100, one agent)${allOk ? '' : ' — NOT all targets succeeded'}`,
        r.jobs.medianSeconds,
        's',
        at5 ? { name: 'same job at concurrency 5', value: at5.seconds, unit: 's' } : undefined,
      ),
    );
  }
  return f;
}

const fmt = (v: number, unit: string): string => `${Number.isFinite(v) ? v.toLocaleString('en-US', { maximumFractionDigits: 3 }) : 'n/a'} ${unit}`;

export function figuresTable(figures: Figure[]): string {
  const lines = ['| Figure | Measured | Baseline (same run) | Ratio | Target | |', '|---|---:|---|---:|---|---|'];
  for (const x of figures) {
    const baseline = x.baseline ? `${fmt(x.baseline.value, x.baseline.unit)} — ${x.baseline.name}` : '—';
    const result = x.pass === undefined ? '' : x.pass ? '**PASS**' : '**MISS**';
    lines.push(`| ${x.name} | ${fmt(x.value, x.unit)} | ${baseline} | ${x.ratio === undefined ? '—' : `${x.ratio}×`} | ${x.target ?? ''} | ${result} |`);
  }
  return lines.join('\n');
}

export function toMarkdown(r: BenchResults): string {
  const out: string[] = [];
  out.push(`# Benchmark results${r.quick ? ' (BENCH_QUICK=1)' : ''}`, '');
  out.push(
    `${r.generatedAt} — ${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.machine.temporal}, ${r.machine.postgres}; whole run ${r.durationSeconds} s.`,
    '',
    ...(r.code ? [`Code measured: commit ${r.code.commit}${r.code.uncommittedChanges ? ', with uncommitted changes to tracked files' : ''}.`, ''] : []),
    ...(r.machine.workerSlots
      ? [
          `Worker slots (main and baseline workers): ${r.machine.workerSlots.workflowTasks} workflow tasks, ${r.machine.workerSlots.localActivities} local activities, ${r.machine.workerSlots.activities} activities; CPU priority nice ${r.machine.workerNice ?? 0}; ${r.machine.workers ?? 1} main worker process${(r.machine.workers ?? 1) === 1 ? '' : 'es'}.`,
          '',
        ]
      : []),
    `Load average (1/5/15 min) at start ${r.machine.loadAverage.start.join(' / ')}, at end ${r.machine.loadAverage.end.join(' / ')} — other processes share this machine; figures are only comparable with their own baselines.`,
    '',
  );
  out.push(figuresTable(r.figures), '');
  if (r.baselines) {
    const b = r.baselines;
    out.push('## Baselines', '', '| Baseline | Rate | p50 | p99 |', '|---|---:|---:|---:|');
    out.push(`| Hono hello-world (@hono/node-server), 32 keep-alive callers | ${b.helloWorld.perSecond}/s | ${b.helloWorld.latency.p50Ms} ms | ${b.helloWorld.latency.p99Ms} ms |`);
    out.push(`| Hono hello-world, open loop at 100/s | 100/s | ${b.helloWorldAt100.p50Ms} ms | ${b.helloWorldAt100.p99Ms} ms |`);
    out.push(`| Temporal workflow start, trivial workflow, 32 callers | ${b.workflowStart.perSecond}/s | ${b.workflowStart.latency.p50Ms} ms | ${b.workflowStart.latency.p99Ms} ms |`);
    out.push(`| Temporal signalWithStart, trivial workflow, 32 callers | ${b.signalWithStart.perSecond}/s | ${b.signalWithStart.latency.p50Ms} ms | ${b.signalWithStart.latency.p99Ms} ms |`);
    for (const x of b.signalWithStartAt ?? []) {
      out.push(`| Temporal signalWithStart, trivial workflow, open loop at ${x.rate}/s${x.errors ? ` (${x.errors} errors)` : ''} | ${x.rate}/s | ${x.latency.p50Ms} ms | ${x.latency.p99Ms} ms |`);
    }
    for (const x of r.ingest?.shapeFloorAt ?? []) {
      out.push(`| Temporal signalWithStart, an ingested incident's shape (${x.steps.join(' → ')}), trivial bodies, open loop at ${x.rate}/s (ingest phase)${x.errors ? ` (${x.errors} errors)` : ''} | ${x.rate}/s | ${x.latency.p50Ms} ms | ${x.latency.p99Ms} ms |`);
    }
    out.push(`| Postgres single-row INSERT, pool of 10 | ${b.pgInsert.perSecond}/s | ${b.pgInsert.latency.p50Ms} ms | ${b.pgInsert.latency.p99Ms} ms |`, '');
    if (b.signalShapes?.length) out.push(...signalShapesSection(b.signalShapes));
  }
  if (r.ingest) {
    out.push('## Webhook ingest', '', '| Offered rate | Sent | Accepted | Achieved | Ack p50 | Ack p99 | Persisted once | Persisted after load | Worker idle after that | Sustained |', '|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|');
    const row = (x: IngestResults['ackLatency'][number], sustained: string) =>
      `| ${x.rate}/s | ${x.sent + x.shed} | ${x.accepted} | ${x.achievedRate}/s | ${x.ack.p50Ms} ms | ${x.ack.p99Ms} ms | ${x.persisted.distinctEvents}${x.duplicates ? ` (+${x.duplicates} dup)` : ''} | ${x.drainSeconds} s | ${x.settleSeconds ?? '—'} s | ${sustained} |`;
    // What was not accepted at a fixed rate: answered otherwise (an overloaded API's fast 503), not sent.
    const refusals = (x: IngestResults['ackLatency'][number]): string => {
      const parts = Object.entries(x.statuses)
        .filter(([status]) => !status.startsWith('2'))
        .map(([status, n]) => `${n} answered ${status}`);
      if (x.shed) parts.push(`${x.shed} not sent (the load generator's in-flight cap)`);
      if (x.errors) parts.push(`${x.errors} network errors`);
      return parts.length ? `; ${parts.join(', ')}` : '';
    };
    for (const x of r.ingest.ackLatency) out.push(row(x, `fixed-rate run${refusals(x)}`));
    for (const x of r.ingest.steps) out.push(row(x, x.sustained ? 'yes' : `no: ${x.reason ?? ''}`));
    out.push('', 'Ack p50 / p99 are of the deliveries answered 2xx.', '');
    const pairs = r.ingest.ackPairs ?? [];
    if (pairs.length > 0) {
      out.push(
        '### Ack p99 against raw signalWithStart, paired',
        '',
        'Each webhook run was preceded by raw signalWithStart of trivial workflows at the same rate for the same window (open loop, trivial worker). ' +
          `At ${TARGET_ACK_RATE}/s the pair was measured ${pairs.filter((p) => p.rate === TARGET_ACK_RATE).length} times; the target is judged on the median round.`,
        '',
        '| Rate | Round | Raw p50 | Raw p99 | Ack p50 | Ack p99 | Ratio of p99s | Accepted | Lost |',
        '|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
        ...pairs.map(
          (p) =>
            `| ${p.rate}/s | ${p.round} | ${p.raw.latency.p50Ms} ms | ${p.raw.latency.p99Ms} ms | ${p.ack.ack.p50Ms} ms | ${p.ack.ack.p99Ms} ms | ${round(pairRatio(p), 2)}× | ${p.ack.accepted}/${p.ack.sent} | ${p.ack.lost} |`,
        ),
        '',
      );
    }
    const after = r.ingest.rawAfterSteps;
    if (after) {
      out.push(
        `Raw signalWithStart (32 callers, trivial workflow) measured again after the steps, with ${after.workflowsOnServer.toLocaleString('en-US')} workflows on the server: ${after.signalWithStart.perSecond}/s (p50 ${after.signalWithStart.latency.p50Ms} ms), against ${r.baselines ? `${r.baselines.signalWithStart.perSecond}/s on the empty server` : 'no empty-server figure'}. The ingest target is judged against the former, the ceiling the top steps faced.`,
        '',
      );
    }
  }
  if (r.endToEnd) {
    const s = r.endToEnd.storm;
    const l = r.endToEnd.latency;
    out.push('## End to end', '');
    out.push(`- Trickle at ${l.rate}/s, ${l.incidents} incidents: to action started p50 ${l.toActionStarted.p50Ms} ms / p99 ${l.toActionStarted.p99Ms} ms; to the sink receiving the call p50 ${l.toSink.p50Ms} ms / p99 ${l.toSink.p99Ms} ms; ${l.missing} missing.`);
    out.push(
      `- Storm of ${s.incidents}: webhook → first action started p50 ${s.toActionStarted.p50Ms} ms / p99 ${s.toActionStarted.p99Ms} ms; delivered in ${s.deliverSeconds} s (${s.deliverPerSecond}/s, ${s.accepted} accepted, ${s.redeliveries} redeliveries after a 503 or timeout); ${s.persisted} persisted, ${s.actionsFinished} actions finished (${s.actionsSucceeded} succeeded) ${s.drainSeconds} s after the first delivery; ${s.complete ? 'complete' : '**incomplete**'}.`,
      ...(s.cpu.workers ? [`- The storm's work was shared by ${s.cpu.workers.length} main worker processes on one task queue: ${s.cpu.workers.map((w) => `${w} s`).join(' / ')} of CPU each.`] : []),
      '',
    );
    out.push(...shapeSection(r.endToEnd));
  }
  const cpuRows: string[] = [];
  const cpuRow = (label: string, use: CpuUse | undefined, items: number): void => {
    if (!use) return;
    const per = perItemMs(use, items);
    cpuRows.push(
      `| ${label} | ${use.seconds} s | ${Math.round(use.machineBusy * 100)}% | ${per.temporal} | ${per.worker} | ${per.api} | ${per.postgres} | ${per.bench} |`,
    );
  };
  for (const x of r.ingest?.ackLatency ?? []) {
    const floor = r.ingest?.shapeFloorAt?.find((f) => f.rate === x.rate);
    if (floor?.loadCpu) cpuRow(`Ingest-shape floor at ${floor.rate}/s, ${floor.sent} starts: while the load was offered (Worker: the floor's own worker)`, floor.loadCpu, floor.sent);
    cpuRow(`Ingest at ${x.rate}/s, ${x.accepted} events: while the load was offered`, x.loadCpu, x.accepted);
    cpuRow(`Ingest at ${x.rate}/s, ${x.accepted} events: from the load until the worker was idle`, x.cpu, x.accepted);
  }
  if (r.endToEnd?.floor) cpuRow(`Same-shape floor storm of ${r.endToEnd.floor.incidents} (Worker: the floor's own worker)`, r.endToEnd.floor.cpu, r.endToEnd.floor.incidents);
  if (r.endToEnd?.storm) cpuRow(`Storm of ${r.endToEnd.storm.accepted}, first delivery to last action`, r.endToEnd.storm.cpu, r.endToEnd.storm.accepted);
  if (cpuRows.length > 0) {
    out.push(
      '## Where the CPU goes',
      '',
      'CPU milliseconds per incident by process (from /proc utime + stime), and how busy both cores were over the interval. Rows at low rates include the background work of idle processes.',
      '',
      '| Interval | Wall | Machine busy | Temporal server | Worker | API | PostgreSQL | Load generator |',
      '|---|---:|---:|---:|---:|---:|---:|---:|',
      ...cpuRows,
      '',
    );
  }
  if (r.jobs) {
    out.push('## Jobs', '', '| Concurrency | Wall time | Status | Succeeded | Failed |', '|---:|---:|---|---:|---:|');
    for (const x of r.jobs.runs) out.push(`| ${x.concurrency} | ${x.seconds} s | ${x.status} | ${x.succeeded} | ${x.failed} |`);
    out.push('');
    const js = r.jobs.shape;
    if (js) {
      out.push(
        `One run of ${r.jobs.targets} targets on Temporal, from its histories: ${js.total.workflows} workflows, ${js.total.events} events, ${js.total.workflowTasks} workflow tasks, ${js.total.activities} activities, ${js.total.localActivities} local activities, ${js.total.historyBytes.toLocaleString('en-US')} history bytes, about ${js.cloudActions} Temporal Cloud actions; per target ${js.perTarget.events} events, ${js.perTarget.workflowTasks} workflow tasks, ${js.perTarget.activities} activities, ${js.perTarget.cloudActions} actions.`,
        '',
      );
    }
  }
  out.push(...memorySection(r));
  if (r.errors.length > 0) {
    out.push('## Errors', '');
    for (const e of r.errors) out.push(`- ${e.phase}: ${e.message}`);
    out.push('');
  }
  return out.join('\n');
}

/** The webhook's signalWithStart against the trivial one, by what the start carries (bench/baselines.ts). */
function signalShapesSection(runs: SignalShapeRun[]): string[] {
  const label = { trivial: 'a short string (the baselines above)', message: "the webhook's IncidentEventMessage", webhook: "that, with the incident start's reuse policy and 2 search attributes (the webhook's start)" };
  const out = [
    '### signalWithStart by what it carries',
    '',
    'Trivial workflow and worker, 32 callers, rounds interleaved; CPU milliseconds per start, over the loop and the second after it.',
    '',
    '| Start carrying | Signal bytes | Rate | Temporal server CPU | Trivial worker CPU |',
    '|---|---:|---|---|---|',
  ];
  const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), 2);
  const means: Partial<Record<SignalShapeRun['shape'], number>> = {};
  for (const shape of ['trivial', 'message', 'webhook'] as const) {
    const of = runs.filter((r) => r.shape === shape);
    if (of.length === 0) continue;
    means[shape] = mean(of.map((r) => r.serverCpuMs));
    const each = (f: (r: SignalShapeRun) => string) => of.map(f).join(' / ');
    out.push(`| ${label[shape]} | ${of[0]!.signalBytes.toLocaleString('en-US')} | ${each((r) => `${r.result.perSecond}/s`)} | ${each((r) => `${r.serverCpuMs} ms`)} | ${each((r) => `${r.workerCpuMs} ms`)} |`);
  }
  if (means.trivial && means.webhook) {
    out.push('', `The webhook's start cost the server ${round(means.webhook / means.trivial, 2)}× the trivial start's CPU (means over the rounds: ${means.webhook} against ${means.trivial} ms).`);
  }
  out.push('');
  return out;
}
