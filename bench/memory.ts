// Memory: the worker's resident set with many open incident workflows (BENCH_OPEN_INCIDENTS, default
// 10,000; 3,000 quick; always at least the cache's size more than the probes, so they are evicted), the sticky cache beside it (its size and what it holds), and what eviction costs:
// the time one new event takes to be persisted when it goes to an incident evicted from the cache (the
// worker replays its history first) against one that is still cached. Incidents are opened by
// signalWithStart straight from the bench, the API's own cost being measured elsewhere; they are on a
// service no rule names, so each holds only its triage, like most open incidents.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { INCIDENT_WORKFLOW_REVISION, SIGNALS, WORKFLOW_TYPES, incidentWorkflowId, type IncidentEventMessage } from '../src/contracts/index.js';
import { newBatch, persistedCount } from './deliveries.js';
import { closedLoop, log, percentile, pollUntil, quick, round, sleep } from './lib.js';
import type { BenchStack } from './stack.js';

export interface MemoryResults {
  openIncidents: number;
  workerRssMb: number;
  workerRssBeforeMb: number;
  cache: { size: number; held: number };
  /** Median ms from signalling a new event to its row in incident_events, by where the workflow was. */
  newEventToPersisted: { cachedMs: number; evictedMs: number; samples: number };
  /** Whether the probed old incidents had left the cache (more open workflows than it holds). */
  evicted: boolean;
  /**
   * The opened incidents' first events: how fast the worker persisted them (from the first signal to the
   * last row), against the rate they were opened at. The worker falls behind when it is opened faster than
   * its workflow task slots turn over (each new incident holds one through its triage's local activity).
   */
  drain?: { opened: number; openedPerSecond: number; persistedPerSecond: number; seconds: number } | undefined;
}

/** Resident set of a process in MB from /proc (Linux); NaN when it is gone. */
export function rssMb(pid: number | undefined): number {
  if (!pid) return Number.NaN;
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return line ? round(Number(line.replace(/\D+/g, '')) / 1024, 1) : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** Sample a process's RSS every `everyMs` until stopped; returns the peak. */
export function rssPeak(pid: number | undefined, everyMs = 250): { stop(): number } {
  let peak = rssMb(pid);
  const timer = setInterval(() => {
    const v = rssMb(pid);
    if (!(v <= peak)) peak = Number.isNaN(peak) ? v : Math.max(peak, v);
  }, everyMs);
  return {
    stop() {
      clearInterval(timer);
      const v = rssMb(pid);
      return Number.isNaN(peak) ? v : Math.max(peak, Number.isNaN(v) ? peak : v);
    },
  };
}

const openQuery = `WorkflowType = "${WORKFLOW_TYPES.incident}" AND ExecutionStatus = "Running"`;

export async function runMemory(stack: BenchStack): Promise<MemoryResults> {
  const wanted = Number(process.env.BENCH_OPEN_INCIDENTS || (quick ? 3000 : 10_000));
  const serviceId = `PMEM${randomBytes(3).toString('hex').toUpperCase()}`;
  const batch = newBatch('mem', { serviceId });
  const signal = (i: number, eventSuffix = ''): Promise<unknown> => {
    const d = batch.build(i);
    const event = (JSON.parse(d.body) as { event: Record<string, unknown> }).event;
    const eventId = `${String(event.id)}${eventSuffix}`;
    const msg: IncidentEventMessage = { eventId, eventType: String(event.event_type), receivedAt: new Date().toISOString(), event: { ...event, id: eventId } };
    return stack.client.workflow.signalWithStart(WORKFLOW_TYPES.incident, {
      workflowId: incidentWorkflowId(d.incidentId),
      taskQueue: stack.taskQueue,
      args: [{ incidentId: d.incidentId, revision: INCIDENT_WORKFLOW_REVISION }],
      signal: SIGNALS.incidentEvent,
      signalArgs: [msg],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
  };
  const workerRssBeforeMb = rssMb(stack.worker.child.pid);
  const openBefore = (await stack.client.workflow.count(openQuery)).count;
  // Our first incidents are the probes of eviction: enough newer ones after them to push them out of the
  // cache (least recently used first), whatever was open before.
  const { maxCached } = await stack.worker.busy();
  const toOpen = Math.max(wanted - openBefore, maxCached + 50);
  log(`memory: ${openBefore} incident workflows open; opening ${toOpen} more`);
  const t0 = performance.now();
  const opened = await closedLoop({ concurrency: 32, count: toOpen, maxMs: (quick ? 180 : 600) * 1000, op: (i) => signal(i) });
  // Every opened incident's event persisted before anything is probed. The worker's own in-flight count is
  // no measure of that: the rest wait in the task queue's backlog, on the server, while the worker looks
  // idle between two of its tasks (before, a probe of the newest incident could wait behind thousands).
  const all = await pollUntil(async () => ((await persistedCount(stack, batch.eventPrefix)).distinctEvents >= opened.ops ? true : undefined), 1_800_000, 1000);
  if (!all) throw new Error(`the ${opened.ops} opened incidents' events were not all persisted within 30 minutes`);
  const drainSeconds = round((performance.now() - t0) / 1000, 1);
  await settle(stack, 180_000);
  const open = (await stack.client.workflow.count(openQuery)).count;
  const status = await stack.worker.busy();
  const workerRssMb = rssMb(stack.worker.child.pid);
  const drain = { opened: opened.ops, openedPerSecond: opened.perSecond, persistedPerSecond: round(opened.ops / drainSeconds, 1), seconds: drainSeconds };
  log(`  ${opened.ops} events persisted in ${drainSeconds} s (${drain.persistedPerSecond}/s)`);
  log(`  ${open} open (${opened.ops} opened at ${opened.perSecond}/s); worker RSS ${workerRssMb} MB (was ${workerRssBeforeMb}); cache holds ${status.cached} of ${status.maxCached}`);

  // New events to old incidents (evicted if the cache is smaller than what is open) and to the newest.
  const timeToPersist = async (i: number, tag: string): Promise<number> => {
    const suffix = `-${tag}`;
    const eventId = `${batch.eventPrefix}${i}${suffix}`;
    const t0 = performance.now();
    await signal(i, suffix);
    const found = await pollUntil(
      async () => ((await stack.database.db.selectFrom('incident_events').select('event_id').where('event_id', '=', eventId).executeTakeFirst()) ? true : undefined),
      30_000,
      5,
    );
    if (!found) throw new Error(`event ${eventId} was not persisted within 30 s`);
    return performance.now() - t0;
  };
  const samples = 7;
  const evictedTimes: number[] = [];
  const cachedTimes: number[] = [];
  for (let k = 0; k < samples; k++) {
    evictedTimes.push(await timeToPersist(k, 'old'));
    await sleep(200);
    cachedTimes.push(await timeToPersist(opened.ops - 1 - k, 'new'));
    await sleep(200);
  }
  const result: MemoryResults = {
    openIncidents: open,
    workerRssMb,
    workerRssBeforeMb,
    cache: { size: status.maxCached, held: status.cached },
    newEventToPersisted: { cachedMs: round(percentile(cachedTimes, 50)), evictedMs: round(percentile(evictedTimes, 50)), samples },
    evicted: opened.ops - samples > status.maxCached,
    drain,
  };
  log(`  new event persisted: ${result.newEventToPersisted.cachedMs} ms when cached, ${result.newEventToPersisted.evictedMs} ms when ${result.evicted ? 'evicted' : 'old (not evicted)'}`);
  return result;
}

async function settle(stack: BenchStack, timeoutMs: number): Promise<void> {
  let quiet = 0;
  await pollUntil(
    async () => {
      const s = await stack.worker.busy();
      quiet = s.activations === 0 && s.activities === 0 ? quiet + 1 : 0;
      return quiet >= 10 ? true : undefined;
    },
    timeoutMs,
    200,
  );
}
