// The report's sections on what one incident costs: its Temporal shape (read from a real incident's
// histories) next to the same-shape floor's, and its Postgres writes. docs/capacity.md quotes them.
import type { EndToEndResults } from './end-to-end.js';
import { round } from './lib.js';
import type { BenchResults, Figure } from './report.js';
import { describeShape } from './shape.js';
import { sameSteps } from './same-shape.js';

export function shapeSection(e: EndToEndResults | undefined): string[] {
  if (!e?.shape) return [];
  const out = ['## One incident on Temporal', ''];
  const t = e.shape.total;
  out.push(
    `One incident (one rule, one no-op \`notify.webhook\` action, write-back off), read from its histories: ${t.workflows} workflows, ${t.events} history events, ${t.workflowTasks} workflow tasks, ${t.localActivities} local activities, ${t.activities} activities, ${t.timers} timers, ${t.childWorkflows} child workflows, ${t.signalsReceived} signals received, ${t.signalsSent} sent, ${t.upserts} search-attribute upserts, ${t.historyBytes.toLocaleString('en-US')} history bytes; about ${e.shape.cloudActions} Temporal Cloud actions.`,
    '',
    '```',
    ...describeShape(e.shape.workflows),
    '```',
    '',
  );
  const floor = e.floor;
  if (floor) {
    const same = sameSteps(e.shape.workflows, floor.shape);
    out.push(
      `The same-shape floor (bench/workflows/shape.ts, trivial bodies, the main worker's settings) gave ${same ? 'the same commands in the same order' : '**different commands** (see below)'}:`,
      '',
      '```',
      ...describeShape(floor.shape),
      '```',
      '',
      `Floor storm of ${floor.incidents}: started in ${floor.startedSeconds} s, ${floor.finished} actions finished ${floor.drainSeconds} s after the first start (${floor.processedPerSecond}/s); start → first action p50 ${floor.toActionStarted.p50Ms} ms, p99 ${floor.toActionStarted.p99Ms} ms; CPU ms per incident: Temporal server ${floor.cpuPerIncidentMs.temporal}, the floor's worker ${floor.cpuPerIncidentMs.worker}.`,
      '',
    );
  }
  const pgw = e.storm.pgWritesPerIncident;
  if (pgw) {
    const tables = Object.entries(pgw.byTable)
      .sort((a, b) => b[1] - a[1])
      .map(([name, n]) => `${name} ${n}`)
      .join(', ');
    out.push(`Postgres per incident over the storm: ${pgw.transactions} transactions committed, ${pgw.rowsWritten} rows written (${tables || 'none'}).${pgw.temporalTransactions !== undefined ? ` Temporal's own database on the same Postgres: ${pgw.temporalTransactions} transactions committed per incident.` : ''}`, '');
  }
  return out;
}

/** Memory figures (no targets): worker RSS with the open incidents, replay after eviction, API RSS under overload. */
export function memoryFigures(r: Pick<BenchResults, 'memory' | 'ingest'>): Figure[] {
  const f: Figure[] = [];
  const m = r.memory;
  const withRatio = (x: Omit<Figure, 'ratio'>): Figure => ({ ...x, ...(x.baseline && x.baseline.value > 0 ? { ratio: round(x.value / x.baseline.value, 2) } : {}) });
  if (m) {
    f.push(
      withRatio({
        name: `Worker RSS with ${m.openIncidents.toLocaleString('en-US')} open incident workflows (cache holds ${m.cache.held.toLocaleString('en-US')} of ${m.cache.size.toLocaleString('en-US')})`,
        value: m.workerRssMb,
        unit: 'MB',
        baseline: { name: 'the same worker before the memory phase', value: m.workerRssBeforeMb, unit: 'MB' },
      }),
      withRatio({
        name: `New event to an ${m.evicted ? 'evicted' : 'old (NOT evicted)'} incident → persisted, median of ${m.newEventToPersisted.samples} (replay after eviction)`,
        value: m.newEventToPersisted.evictedMs,
        unit: 'ms',
        baseline: { name: 'the same to a cached incident', value: m.newEventToPersisted.cachedMs, unit: 'ms' },
      }),
    );
    // Runs from before the drain was measured have none.
    if (m.drain) {
      f.push(
        withRatio({
          name: `New incidents persisted per second while ${m.drain.opened.toLocaleString('en-US')} were opened by signalWithStart (the worker's backlog drain)`,
          value: m.drain.persistedPerSecond,
          unit: '/s',
          baseline: { name: 'the rate they were opened at (32 callers)', value: m.drain.openedPerSecond, unit: '/s' },
        }),
      );
    }
  }
  const overload = r.ingest?.ackLatency.at(-1);
  if (overload?.apiRssPeakMb !== undefined) {
    f.push({ name: `API RSS peak while ${overload.rate}/s was offered (the overload step)`, value: overload.apiRssPeakMb, unit: 'MB' });
  }
  return f;
}

export function memorySection(r: Pick<BenchResults, 'memory'>): string[] {
  const m = r.memory;
  if (!m) return [];
  return [
    '## Memory',
    '',
    `${m.openIncidents.toLocaleString('en-US')} incident workflows open: worker RSS ${m.workerRssMb} MB (${m.workerRssBeforeMb} MB before the phase). The sticky cache (maxCachedWorkflows, the SDK's default from the heap limit) holds ${m.cache.held.toLocaleString('en-US')} of at most ${m.cache.size.toLocaleString('en-US')}; the rest were evicted and are replayed from their history when their next event arrives.${m.drain ? ` The ${m.drain.opened.toLocaleString('en-US')} incidents opened for the phase (${m.drain.openedPerSecond}/s) had their events persisted in ${m.drain.seconds} s (${m.drain.persistedPerSecond}/s), and were all persisted before the probes.` : ''} A new event was persisted ${m.newEventToPersisted.evictedMs} ms after it was signalled to ${m.evicted ? 'an evicted' : 'an old (but not evicted)'} incident and ${m.newEventToPersisted.cachedMs} ms to a cached one (medians of ${m.newEventToPersisted.samples}).`,
    '',
  ];
}
