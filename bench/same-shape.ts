// The same-shape floor: an alert storm of workflows with exactly one real incident's Temporal shape
// (bench/shape.ts reads it from that incident's histories), trivial bodies, on a bench-only worker with
// the main worker's settings, started by signalWithStart from CALLERS_IN_STORM callers like the real
// storm's deliveries. Its rate and its start→first-action latency bound what the real storm can reach.
import { cpuSince, cpuSnapshot, perItemMs, type CpuParts, type CpuUse } from './cpu.js';
import { closedLoop, log, pollUntil, quick, round, summarize, type LatencySummary } from './lib.js';
import { withTrivialWorker } from './baselines.js';
import { fetchShape, type WorkflowShape } from './shape.js';
import type { ShapeReport } from './shape-activities.js';
import type { BenchStack } from './stack.js';
import { shapeIncidentWorkflow, shapeSignal, type ShapePlan } from './workflows/shape.js';

/** Concurrent deliveries of the real storm (end-to-end.ts) and so of the floor's starts. */
export const CALLERS_IN_STORM = 64;

export interface FloorStorm {
  incidents: number;
  startedSeconds: number;
  drainSeconds: number;
  processedPerSecond: number;
  finished: number;
  toActionStarted: LatencySummary;
  complete: boolean;
  cpu: CpuUse;
  cpuPerIncidentMs: CpuParts;
  /** The shape of one of the floor's incidents, read back from its histories: it should equal the real one's. */
  shape: WorkflowShape;
}

/** The floor's plan for a workflow: the real one's steps, its children's plans, the extra signals it waited for. */
export function planOf(shape: WorkflowShape, root = true): ShapePlan {
  return {
    steps: [...shape.steps],
    children: shape.children.map((c) => planOf(c, false)),
    // The root's first signal is the one signalWithStart delivers.
    extraSignals: Math.max(0, shape.counts.signalsReceived - (root ? 1 : 0)),
  };
}

/** Whether two shapes give the same commands in the same order, children included. */
export function sameSteps(a: WorkflowShape, b: WorkflowShape): boolean {
  return a.steps.join() === b.steps.join() && a.children.length === b.children.length && a.children.every((c, i) => sameSteps(c, b.children[i]!));
}

/**
 * The shape of a real incident once its rule runs have ended: read again until every child has
 * completed and reported back (the parent's history no longer grows), for at most `timeoutMs`.
 */
export async function settledShape(stack: BenchStack, workflowId: string, timeoutMs = 20_000): Promise<WorkflowShape> {
  let last: WorkflowShape | undefined;
  const settled = await pollUntil(
    async () => {
      const shape = await fetchShape(stack.client, workflowId);
      const childrenDone = shape.children.every((c) => c.counts.signalsSent > 0);
      const stable = last !== undefined && last.counts.events === shape.counts.events;
      last = shape;
      return childrenDone && stable ? shape : undefined;
    },
    timeoutMs,
    1000,
  );
  return settled ?? last ?? (await fetchShape(stack.client, workflowId));
}

export async function runSameShapeFloor(stack: BenchStack, shape: WorkflowShape, incidents: number): Promise<FloorStorm> {
  const plan = planOf(shape);
  return withTrivialWorker(stack, async (taskQueue, prefix, worker) => {
    const started = new Map<string, number>();
    const actionStarted = new Map<string, number>();
    let finished = 0;
    const onMessage = (m: unknown): void => {
      const r = m as ShapeReport;
      if (r?.type !== 'shape') return;
      if (r.event === 'actionStarted' && !actionStarted.has(r.incidentKey)) actionStarted.set(r.incidentKey, r.at);
      if (r.event === 'actionFinished') finished += 1;
    };
    worker.on('message', onMessage);
    try {
      const idOf = (i: number): string => `bench-shape-${prefix}-${i}`;
      log(`same-shape floor: storm of ${incidents}`);
      // The worker column is the floor's worker here.
      const cpuNow = () => cpuSnapshot({ temporal: stack.server.process.pid, api: stack.api.child.pid, worker: worker.pid });
      const cpuAtStart = cpuNow();
      const t0 = Date.now();
      const run = await closedLoop({
        concurrency: CALLERS_IN_STORM,
        count: incidents,
        maxMs: 240_000,
        op: async (i) => {
          started.set(idOf(i), Date.now());
          await stack.client.workflow.signalWithStart(shapeIncidentWorkflow, { taskQueue, workflowId: idOf(i), args: [plan], signal: shapeSignal, signalArgs: [`E${i}`] });
        },
      });
      // The real storm's drain budget (end-to-end.ts).
      const done = await pollUntil(async () => (finished >= run.ops ? true : undefined), quick ? 150_000 : 420_000, 200);
      const drainSeconds = round((Date.now() - t0) / 1000, 2);
      const cpu = cpuSince(cpuAtStart, cpuNow());
      const latencies: number[] = [];
      for (const [id, at] of started) {
        const a = actionStarted.get(id);
        if (a !== undefined) latencies.push(a - at);
      }
      log(`  floor: ${run.ops} started in ${run.seconds} s, ${finished} actions finished in ${drainSeconds} s`);
      const sample = await settledShape(stack, idOf(0), 10_000);
      return {
        incidents,
        startedSeconds: run.seconds,
        drainSeconds,
        processedPerSecond: round(finished / drainSeconds),
        finished,
        toActionStarted: summarize(latencies),
        complete: done === true && run.ops === incidents,
        cpu,
        cpuPerIncidentMs: perItemMs(cpu, run.ops),
        shape: sample,
      };
    } finally {
      worker.off('message', onMessage);
    }
  });
}
