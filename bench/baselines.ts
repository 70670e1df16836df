// Baselines measured in the same run as the figures they bound: the HTTP ceiling (Hono hello-world),
// raw Temporal starts and signalWithStarts against trivial workflows, raw single-row Postgres inserts.
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import pg from 'pg';
import { stopChild } from '../src/temporal/dev-server.js';
import { incidentEventMessage, incidentStartOptions } from '../src/temporal/incident-signal.js';
import { parseWebhookBody } from '../src/pagerduty/webhook.js';
import { cpuSince, cpuSnapshot } from './cpu.js';
import { newBatch } from './deliveries.js';
import { closedLoop, keepAliveTarget, log, openLoop, openLoopOps, quick, request, round as roundTo, sleep, type ClosedLoopResult, type LatencySummary } from './lib.js';
import { startChild, type BenchStack } from './stack.js';
import { benchNoopWorkflow, benchSignal, benchSignalWorkflow } from './workflows/trivial.js';

export interface BaselineResults {
  helloWorld: ClosedLoopResult;
  helloWorldAt100: LatencySummary;
  pgInsert: ClosedLoopResult;
  workflowStart: ClosedLoopResult;
  signalWithStart: ClosedLoopResult;
  /**
   * Open-loop signalWithStart of new trivial workflows at the ack-latency rates, with their worker
   * running: the latency floor of any webhook that answers only once Temporal holds the event.
   */
  signalWithStartAt: { rate: number; latency: LatencySummary; errors: number }[];
  /**
   * Closed-loop signalWithStart of trivial workflows by what the start carries, rounds interleaved: the
   * server's CPU per start, to tell whether the webhook's payload and search attributes cost it anything.
   */
  signalShapes?: SignalShapeRun[];
}

export interface SignalShapeRun {
  /** trivial: a short string; message: the webhook's IncidentEventMessage; webhook: that, with its reuse policy and search attributes. */
  shape: 'trivial' | 'message' | 'webhook';
  round: number;
  result: ClosedLoopResult;
  /** Bytes of the signal's argument as JSON. */
  signalBytes: number;
  /** The Temporal server's CPU milliseconds per start (over the loop and 1 s after it), and the trivial worker's. */
  serverCpuMs: number;
  workerCpuMs: number;
}

/** The fixed rates at which webhook ack latency is measured (bench/ingest.ts) and its floor here. */
export const ACK_RATES = [20, 100, 300] as const;

/** Concurrency of the closed-loop callers: what a busy API process keeps in flight. */
export const CALLERS = 32;

export async function runBaselines(stack: BenchStack): Promise<BaselineResults> {
  const seconds = quick ? 3 : 6;

  log('baseline: Hono hello-world');
  const hello = keepAliveTarget(stack.hello.url, CALLERS);
  const helloWorld = await closedLoop({
    concurrency: CALLERS,
    count: 500_000,
    maxMs: seconds * 1000,
    op: async () => {
      const a = await request(hello, '/');
      if (a.status !== 200) throw new Error(`hello-world answered ${a.status}`);
    },
  });
  const at100 = await openLoop({
    target: hello,
    rate: 100,
    durationMs: (quick ? 3 : 5) * 1000,
    build: () => ({ path: '/', headers: { 'content-type': 'application/json' }, body: '{"event":{}}' }),
  });
  hello.agent.destroy();
  log(`  hello-world ${helloWorld.perSecond}/s; at 100/s p50 ${at100.latency.p50Ms} ms, p99 ${at100.latency.p99Ms} ms`);

  log('baseline: Postgres single-row inserts, pool of 10');
  const pool = new pg.Pool({ connectionString: stack.database.url, max: 10 });
  let pgInsert: ClosedLoopResult;
  try {
    await pool.query('CREATE TABLE IF NOT EXISTS bench_inserts (id bigserial PRIMARY KEY, event_id text NOT NULL UNIQUE, payload jsonb NOT NULL, received_at timestamptz NOT NULL DEFAULT now())');
    const payload = JSON.stringify({ event: { event_type: 'incident.triggered', data: { title: 'Disk full on db-1', urgency: 'high' } } });
    pgInsert = await closedLoop({
      concurrency: 10,
      count: 200_000,
      maxMs: seconds * 1000,
      op: (i) => pool.query('INSERT INTO bench_inserts (event_id, payload) VALUES ($1, $2)', [`E${i}`, payload]),
    });
    await pool.query('DROP TABLE bench_inserts');
    log(`  ${pgInsert.perSecond} inserts/s`);
  } finally {
    await pool.end();
  }

  log('baseline: Temporal start and signalWithStart against trivial workflows');
  const { workflowStart, signalWithStart, signalWithStartAt, signalShapes } = await withTrivialWorker(stack, async (taskQueue, prefix, worker) => {
    const workflowStart = await closedLoop({
      concurrency: CALLERS,
      count: 100_000,
      maxMs: seconds * 1000,
      op: (i) => stack.client.workflow.start(benchNoopWorkflow, { taskQueue, workflowId: `bench-start-${prefix}-${i}` }),
    });
    const signalWithStart = await signalWithStartLoop(stack, taskQueue, prefix, seconds);
    log(`  workflow start ${workflowStart.perSecond}/s, signalWithStart ${signalWithStart.perSecond}/s (p50 ${signalWithStart.latency.p50Ms} ms)`);
    const signalWithStartAt: BaselineResults['signalWithStartAt'] = [];
    for (const rate of ACK_RATES) {
      const run = await signalWithStartAtRate(stack, taskQueue, `bench-sws${rate}-${prefix}`, rate, quick ? 3 : 5);
      signalWithStartAt.push({ rate, latency: run.latency, errors: run.errors });
      log(`  signalWithStart open loop at ${rate}/s: p50 ${run.latency.p50Ms} ms, p99 ${run.latency.p99Ms} ms`);
    }
    const signalShapes = await signalShapeRuns(stack, taskQueue, prefix, worker);
    return { workflowStart, signalWithStart, signalWithStartAt, signalShapes };
  });
  return { helloWorld, helloWorldAt100: at100.latency, pgInsert, workflowStart, signalWithStart, signalWithStartAt, signalShapes };
}

/**
 * Run `fn` with a worker for the trivial workflows on a task queue of its own, in a child process with
 * the main worker's slots and CPU priority; `prefix` keeps this call's workflow ids apart from others'.
 */
export async function withTrivialWorker<T>(stack: BenchStack, fn: (taskQueue: string, prefix: string, worker: ChildProcess) => Promise<T>): Promise<T> {
  const taskQueue = `bench-trivial-${randomBytes(4).toString('hex')}`;
  const worker = await startChild('trivial', { ...stack.env, BENCH_TRIVIAL_TASK_QUEUE: taskQueue });
  if (stack.worker.nice !== 0 && worker.child.pid) os.setPriority(worker.child.pid, stack.worker.nice);
  try {
    const prefix = randomBytes(3).toString('hex');
    // Warm the connection and the worker up.
    await stack.client.workflow.execute(benchNoopWorkflow, { taskQueue, workflowId: `bench-warm-${prefix}` });
    return await fn(taskQueue, prefix, worker.child);
  } finally {
    await stopChild(worker.child, 20_000);
  }
}

/**
 * The webhook's start against the trivial one, with everything else equal (trivial workflow and worker,
 * CALLERS at a time): the message a delivery becomes (built from the ingest's own deliveries), then that
 * with the incident start's reuse policy and search attributes (src/temporal/incident-signal.ts).
 */
async function signalShapeRuns(stack: BenchStack, taskQueue: string, prefix: string, worker: ChildProcess): Promise<SignalShapeRun[]> {
  const batch = newBatch('shape');
  const messageOf = (i: number) => {
    const parsed = parseWebhookBody(batch.build(i).body);
    if (!parsed.ok) throw new Error(`bench delivery not a webhook body: ${parsed.detail}`);
    return incidentEventMessage(parsed.event);
  };
  const shapes = {
    trivial: (i: number) => ({ signalArgs: [`E${i}`] }),
    message: (i: number) => ({ signalArgs: [messageOf(i)] }),
    webhook: (i: number) => ({ signalArgs: [messageOf(i)], ...incidentStartOptions(`Q${prefix}${i}`, 'PBENCHSVC') }),
  } as const;
  const seconds = quick ? 2 : 4;
  const runs: SignalShapeRun[] = [];
  for (let round = 1; round <= (quick ? 1 : 2); round++) {
    for (const [shape, build] of Object.entries(shapes) as [SignalShapeRun['shape'], (i: number) => { signalArgs: unknown[] }][]) {
      const before = { stack: stack.cpu(), trivial: cpuSnapshot({ worker: worker.pid }) };
      const result = await closedLoop({
        concurrency: CALLERS,
        count: 100_000,
        maxMs: seconds * 1000,
        op: (i) => stack.client.workflow.signalWithStart(benchSignalWorkflow, { taskQueue, workflowId: `bench-shape-${shape}${round}-${prefix}-${i}`, signal: benchSignal, ...(build(i) as { signalArgs: [string] }) }),
      });
      // The workflows' own tasks finish just after the last start.
      await sleep(1000);
      const server = cpuSince(before.stack, stack.cpu()).parts.temporal;
      const trivial = cpuSince(before.trivial, cpuSnapshot({ worker: worker.pid })).parts.worker;
      const per = (seconds: number) => roundTo((seconds * 1000) / Math.max(1, result.ops), 2);
      runs.push({ shape, round, result, signalBytes: JSON.stringify(build(0).signalArgs[0]).length, serverCpuMs: per(server), workerCpuMs: per(trivial) });
      log(`  signalWithStart carrying ${shape} (round ${round}): ${result.perSecond}/s, server ${per(server)} ms CPU per start`);
    }
  }
  return runs;
}

/**
 * Raw signalWithStart of new trivial workflows (ids `<idPrefix>-<i>`) at `rate`, open loop, for `seconds`:
 * the floor of a webhook's answer at that rate.
 */
export function signalWithStartAtRate(stack: BenchStack, taskQueue: string, idPrefix: string, rate: number, seconds: number) {
  return openLoopOps({
    rate,
    durationMs: seconds * 1000,
    op: (i) => stack.client.workflow.signalWithStart(benchSignalWorkflow, { taskQueue, workflowId: `${idPrefix}-${i}`, signal: benchSignal, signalArgs: [`E${i}`] }),
  });
}

/** Raw signalWithStart of new trivial workflows, CALLERS at a time: the ceiling of durable ingest. */
export function signalWithStartLoop(stack: BenchStack, taskQueue: string, prefix: string, seconds: number): Promise<ClosedLoopResult> {
  return closedLoop({
    concurrency: CALLERS,
    count: 100_000,
    maxMs: seconds * 1000,
    op: (i) =>
      stack.client.workflow.signalWithStart(benchSignalWorkflow, {
        taskQueue,
        workflowId: `bench-sws-${prefix}-${i}`,
        signal: benchSignal,
        signalArgs: [`E${i}`],
      }),
  });
}
