// The report's sections on what one incident costs: its Temporal shape (read from a real incident's
// histories) next to the same-shape floor's, and its Postgres writes. docs/capacity.md quotes them.
import type { EndToEndResults } from './end-to-end.js';
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
    out.push(`Postgres per incident over the storm: ${pgw.transactions} transactions committed, ${pgw.rowsWritten} rows written (${tables || 'none'}).`, '');
  }
  return out;
}
