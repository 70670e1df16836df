// Webhook ingest over real HTTP: the real API (child process) in front of the real worker.
//  - ack latency at fixed open-loop rates;
//  - the highest rate sustained with zero loss: step the rate up; a step passes when every delivery was
//    answered 202 and the answers kept up with the offered rate (nothing shed, answered at ≥ 95% of it,
//    p99 under a second) and, after draining, every event is in incident_events exactly once.
import { incidentWorkflowId } from '../src/temporal/names.js';
import { newBatch, persistedCount, type PersistedCount } from './deliveries.js';
import { keepAliveTarget, log, type ClosedLoopResult, openLoop, openLoopOps, pollUntil, quick, request, round, sleep, TARGET_ACK_RATE, type HttpTarget, type LatencySummary } from './lib.js';
import { ACK_RATES, signalWithStartAtRate, signalWithStartLoop, withTrivialWorker } from './baselines.js';
import { cpuSince, cpuSnapshot, type CpuUse } from './cpu.js';
import { rssPeak } from './memory.js';
import { planOf, settledShape } from './same-shape.js';
import type { ShapeStep } from './shape.js';
import type { BenchStack } from './stack.js';
import { shapeIncidentWorkflow, shapeSignal, type ShapePlan } from './workflows/shape.js';

export interface IngestRun {
  rate: number;
  seconds: number;
  sent: number;
  accepted: number;
  shed: number;
  errors: number;
  statuses: Record<string, number>;
  achievedRate: number;
  ack: LatencySummary;
  persisted: PersistedCount;
  /** From the end of the load to the last event persisted. */
  drainSeconds: number;
  /** From then until the worker had nothing in flight (the incidents' remaining steps done). */
  settleSeconds: number;
  lost: number;
  duplicates: number;
  /** The first network error of the run, if any. */
  firstError?: string;
  /** CPU by process while the load was offered. */
  loadCpu: CpuUse;
  /** The API process's peak resident set while the load was offered (MB). */
  apiRssPeakMb?: number;
  /** CPU by process from the start of the load until the worker settled: what the run's events cost. */
  cpu: CpuUse;
}

export interface StepRun extends IngestRun {
  sustained: boolean;
  reason?: string;
}

export interface IngestResults {
  ackLatency: IngestRun[];
  steps: StepRun[];
  maxSustainedRate: number;
  /**
   * Raw signalWithStart measured again right after the steps, against the server as they left it: the
   * ceiling the top steps actually faced. A dev server holding tens of thousands of workflows takes new
   * ones more slowly than the empty one the baselines phase measured.
   */
  rawAfterSteps?: { signalWithStart: ClosedLoopResult; workflowsOnServer: number };
  /**
   * The ack path's floor with the incidents' processing in it: signalWithStart, open loop at each ack
   * rate, of workflows with the shape of an incident the ingest starts (read from one of its histories),
   * trivial bodies, on the trivial worker, measured just before the webhook's run at that rate. Raw
   * signalWithStart's trivial workflows cost their worker and the server almost nothing after the start;
   * these cost what Temporal spends on an ingested incident (its workflow task and local activity).
   */
  shapeFloorAt?: ShapeFloorRun[];
  /**
   * The ack p99 target's floor, paired: raw signalWithStart of trivial workflows at the ack rate, open
   * loop for as long as the webhook's run, on the trivial worker, measured right before each of the
   * webhook's runs at that rate (same server, same window length). At TARGET_ACK_RATE the pair is repeated
   * (ACK_ROUNDS in all) and the target is judged on the median round: one p99 of one 10-s window moves by
   * a factor of two from run to run on a shared 2-core host.
   */
  ackPairs?: AckPair[];
}

export interface AckPair {
  rate: number;
  /** 1 is the webhook's run in `ackLatency`; later rounds repeat the pair. */
  round: number;
  raw: { latency: LatencySummary; errors: number; sent: number };
  ack: Pick<IngestRun, 'ack' | 'accepted' | 'sent' | 'lost' | 'duplicates'>;
}

/** How many raw/webhook pairs are measured at the ack p99 target's rate (BENCH_ACK_ROUNDS, else 3; 1 when quick). */
export const ACK_ROUNDS = Math.max(1, Math.floor(Number(process.env.BENCH_ACK_ROUNDS)) || (quick ? 1 : 3));

export interface ShapeFloorRun {
  rate: number;
  /** The ingested incident's steps the floor's workflows repeat. */
  steps: ShapeStep[];
  latency: LatencySummary;
  errors: number;
  sent: number;
  /** CPU by process while the load was offered (Worker: the floor's own worker). */
  loadCpu: CpuUse;
}

async function runAt(stack: BenchStack, target: HttpTarget, label: string, rate: number, seconds: number, drainTimeoutMs: number): Promise<IngestRun> {
  const batch = newBatch(label);
  const cpuAtStart = stack.cpu();
  const apiRss = rssPeak(stack.api.child.pid);
  const result = await openLoop({ target, rate, durationMs: seconds * 1000, maxInFlight: 512, build: (i) => batch.build(i) });
  const apiRssPeakMb = apiRss.stop();
  const loadEnded = Date.now();
  const cpuAtLoadEnd = stack.cpu();
  const expected = result.okIndices.length;
  const persisted =
    (await pollUntil(async () => {
      const c = await persistedCount(stack, batch.eventPrefix);
      return c.distinctEvents >= expected ? c : undefined;
    }, drainTimeoutMs)) ?? (await persistedCount(stack, batch.eventPrefix));
  const drainSeconds = round((Date.now() - loadEnded) / 1000, 2);
  // Let the worker finish this run's incidents, so the next run is measured against its own load only.
  const settleStarted = Date.now();
  await settle(stack, drainTimeoutMs);
  const settleSeconds = round((Date.now() - settleStarted) / 1000, 2);
  return {
    rate,
    seconds: result.seconds,
    sent: result.sent,
    accepted: result.ok,
    shed: result.shed,
    errors: result.errors,
    statuses: result.statuses,
    achievedRate: result.achievedRate,
    ack: result.latency,
    persisted,
    drainSeconds,
    settleSeconds,
    lost: Math.max(0, expected - persisted.distinctEvents),
    duplicates: persisted.rows - persisted.distinctEvents,
    ...(result.firstError ? { firstError: result.firstError } : {}),
    loadCpu: cpuSince(cpuAtStart, cpuAtLoadEnd),
    apiRssPeakMb,
    // This includes the settle check's final 2 quiet seconds, idle by definition.
    cpu: cpuSince(cpuAtStart, stack.cpu()),
  };
}

/** Wait until the main worker has had no workflow activation or activity in flight for 2 s (bounded). */
async function settle(stack: BenchStack, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let quietSince: number | undefined;
  while (Date.now() < deadline) {
    const s = await stack.worker.busy();
    if (s.activations === 0 && s.activities === 0) {
      quietSince ??= Date.now();
      if (Date.now() - quietSince >= 2000) return;
    } else {
      quietSince = undefined;
    }
    await sleep(100);
  }
}

/** A step keeps up when its deliveries were answered at ≥ 95% of the offered rate (first send to last answer). */
export const KEPT_UP = 0.95;

/** Why a step does not count as sustained; empty when it does. */
export function stepProblems(run: Pick<IngestRun, 'rate' | 'sent' | 'accepted' | 'shed' | 'errors' | 'ack' | 'achievedRate' | 'lost' | 'duplicates'>, drainTimeoutMs: number): string[] {
  const problems: string[] = [];
  if (run.accepted < run.sent || run.shed > 0 || run.errors > 0) problems.push(`${run.sent - run.accepted + run.shed} of ${run.sent + run.shed} not accepted`);
  if (run.ack.p99Ms > 1000) problems.push(`ack p99 ${run.ack.p99Ms} ms`);
  // Kept up: the answers came back at the offered rate. A queue that grows through the step shows as
  // the last answers arriving late, i.e. a lower achieved rate, before it shows in the p99.
  if (run.achievedRate < KEPT_UP * run.rate) problems.push(`answered at ${run.achievedRate}/s of ${run.rate}/s offered`);
  if (run.lost > 0) problems.push(`${run.lost} events not persisted within ${drainTimeoutMs / 1000} s`);
  if (run.duplicates > 0) problems.push(`${run.duplicates} duplicates`);
  return problems;
}

/**
 * Raw signalWithStart again, against the server as the steps left it. Best effort: without it the target
 * is judged against the empty server's rate, and the steps' results are kept either way.
 */
async function rawAfterSteps(stack: BenchStack): Promise<Pick<IngestResults, 'rawAfterSteps'>> {
  try {
    const workflowsOnServer = (await stack.client.workflow.count()).count;
    log(`ingest: raw signalWithStart again, against the server as the steps left it (${workflowsOnServer} workflows)`);
    const signalWithStart = await withTrivialWorker(stack, (taskQueue, prefix) => signalWithStartLoop(stack, taskQueue, prefix, quick ? 3 : 6));
    log(`  signalWithStart ${signalWithStart.perSecond}/s (p50 ${signalWithStart.latency.p50Ms} ms)`);
    return { rawAfterSteps: { signalWithStart, workflowsOnServer } };
  } catch (err) {
    log(`  not measured: ${(err as Error).message}`);
    return {};
  }
}

/**
 * The rates of the sustained-ingest steps. With the raw signalWithStart rate of the same run: every 5% of
 * it from a quarter up to 120%, so the ratio the target is written in is read off to 5% on any machine,
 * however slow the host is at the time; without it (BENCH_ONLY without baselines), a fixed ladder.
 */
export function stepRates(rawSignalWithStartRate: number | undefined): number[] {
  if (rawSignalWithStartRate && rawSignalWithStartRate > 0) {
    const rates: number[] = [];
    for (let pct = 25; pct <= 120; pct += 5) {
      const rate = Math.max(5, Math.round((rawSignalWithStartRate * pct) / 100 / 5) * 5);
      if (rates.at(-1) !== rate) rates.push(rate);
    }
    return rates;
  }
  return [25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 600, 800];
}

/**
 * The shape of an incident the ingest starts (one delivery, no rule: the triage step, then it waits for
 * the next event). Undefined when it cannot be read (the floor is then left out).
 */
async function ingestedShape(stack: BenchStack, target: HttpTarget): Promise<{ plan: ShapePlan; steps: ShapeStep[] } | undefined> {
  try {
    const batch = newBatch('shape');
    const delivery = batch.build(0);
    const answer = await request(target, delivery.path, { method: 'POST', headers: delivery.headers, body: delivery.body });
    if (answer.status !== 202) throw new Error(`the delivery was answered ${answer.status}`);
    await pollUntil(async () => ((await persistedCount(stack, batch.eventPrefix)).distinctEvents >= 1 ? true : undefined), 30_000);
    const shape = await settledShape(stack, incidentWorkflowId(delivery.incidentId), 10_000);
    return { plan: planOf(shape), steps: shape.steps };
  } catch (err) {
    log(`  the ingested incident's shape was not read: ${(err as Error).message}`);
    return undefined;
  }
}

/** signalWithStart of workflows with the ingested incident's shape at `rate`, on the trivial worker. */
async function shapeFloorAt(stack: BenchStack, shape: { plan: ShapePlan; steps: ShapeStep[] }, rate: number, seconds: number): Promise<ShapeFloorRun> {
  return withTrivialWorker(stack, async (taskQueue, prefix, worker) => {
    const cpuNow = () => cpuSnapshot({ temporal: stack.server.process.pid, api: stack.api.child.pid, worker: worker.pid });
    const cpuAtStart = cpuNow();
    const run = await openLoopOps({
      rate,
      durationMs: seconds * 1000,
      op: (i) =>
        stack.client.workflow.signalWithStart(shapeIncidentWorkflow, {
          taskQueue,
          workflowId: `bench-ingest-shape${rate}-${prefix}-${i}`,
          args: [shape.plan],
          signal: shapeSignal,
          signalArgs: [`E${i}`],
        }),
    });
    const loadCpu = cpuSince(cpuAtStart, cpuNow());
    return { rate, steps: shape.steps, latency: run.latency, errors: run.errors, sent: run.sent, loadCpu };
  });
}

/** Raw signalWithStart of new trivial workflows at `rate` for `seconds`, open loop, on the trivial worker. */
async function rawAt(stack: BenchStack, rate: number, seconds: number): Promise<AckPair['raw']> {
  return withTrivialWorker(stack, async (taskQueue, prefix) => {
    const run = await signalWithStartAtRate(stack, taskQueue, `bench-ack-floor${rate}-${prefix}`, rate, seconds);
    return { latency: run.latency, errors: run.errors, sent: run.sent };
  });
}

const pairOf = (rate: number, round: number, raw: AckPair['raw'], run: IngestRun): AckPair => ({
  rate,
  round,
  raw,
  ack: { ack: run.ack, accepted: run.accepted, sent: run.sent, lost: run.lost, duplicates: run.duplicates },
});

export async function runIngest(stack: BenchStack, rawSignalWithStartRate?: number): Promise<IngestResults> {
  const target = keepAliveTarget(stack.api.url, 512);
  const drainTimeoutMs = quick ? 90_000 : 180_000;
  try {
    // Warm-up: connections, JIT, the workflow cache.
    await runAt(stack, target, 'warm', 20, 2, 30_000);
    const shape = await ingestedShape(stack, target);

    const ackLatency: IngestRun[] = [];
    const shapeFloor: ShapeFloorRun[] = [];
    const ackPairs: AckPair[] = [];
    const seconds = quick ? 3 : 10;
    for (const rate of ACK_RATES) {
      if (shape) {
        log(`ingest: the ingested incident's shape (${shape.steps.join(' → ')}), trivial bodies, signalWithStart at ${rate}/s for ${seconds} s`);
        const floor = await shapeFloorAt(stack, shape, rate, seconds);
        log(`  p50 ${floor.latency.p50Ms} ms, p99 ${floor.latency.p99Ms} ms${floor.errors ? `, ${floor.errors} errors` : ''}`);
        shapeFloor.push(floor);
      }
      log(`ingest: raw signalWithStart at ${rate}/s for ${seconds} s, trivial workflows (the paired floor)`);
      const raw = await rawAt(stack, rate, seconds);
      log(`  p50 ${raw.latency.p50Ms} ms, p99 ${raw.latency.p99Ms} ms${raw.errors ? `, ${raw.errors} errors` : ''}`);
      log(`ingest: ack latency at ${rate}/s for ${seconds} s`);
      const run = await runAt(stack, target, `ack${rate}`, rate, seconds, drainTimeoutMs);
      log(`  p50 ${run.ack.p50Ms} ms, p99 ${run.ack.p99Ms} ms, ${run.accepted}/${run.sent} accepted, drained in ${run.drainSeconds} s, settled ${run.settleSeconds} s later, lost ${run.lost}`);
      ackLatency.push(run);
      ackPairs.push(pairOf(rate, 1, raw, run));
    }
    // More pairs at the target's rate: raw signalWithStart, then the webhook, each for the same window.
    for (let round = 2; round <= ACK_ROUNDS; round++) {
      log(`ingest: pair ${round} of ${ACK_ROUNDS} at ${TARGET_ACK_RATE}/s: raw signalWithStart, then the webhook, ${seconds} s each`);
      const raw = await rawAt(stack, TARGET_ACK_RATE, seconds);
      const run = await runAt(stack, target, `ack${TARGET_ACK_RATE}r${round}`, TARGET_ACK_RATE, seconds, drainTimeoutMs);
      log(`  raw p99 ${raw.latency.p99Ms} ms, ack p99 ${run.ack.p99Ms} ms, ${run.accepted}/${run.sent} accepted, lost ${run.lost}`);
      ackPairs.push(pairOf(TARGET_ACK_RATE, round, raw, run));
    }

    const steps: StepRun[] = [];
    const rates = stepRates(rawSignalWithStartRate);
    const stepSeconds = quick ? 3 : 5;
    let maxSustainedRate = 0;
    for (const rate of rates) {
      log(`ingest: step at ${rate}/s for ${stepSeconds} s`);
      const run = await runAt(stack, target, `step${rate}`, rate, stepSeconds, drainTimeoutMs);
      const problems = stepProblems(run, drainTimeoutMs);
      const step: StepRun = { ...run, sustained: problems.length === 0, ...(problems.length ? { reason: problems.join('; ') } : {}) };
      steps.push(step);
      log(`  ${step.sustained ? 'sustained' : `not sustained: ${step.reason}`} (ack p99 ${run.ack.p99Ms} ms, drained in ${run.drainSeconds} s)`);
      if (!step.sustained) break;
      maxSustainedRate = rate;
    }

    return { ackLatency, steps, maxSustainedRate, ...(shapeFloor.length ? { shapeFloorAt: shapeFloor } : {}), ackPairs, ...(await rawAfterSteps(stack)) };
  } finally {
    target.agent.destroy();
  }
}
