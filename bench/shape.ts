// An incident's Temporal shape, read from real histories: what each workflow of one incident commands
// (local activities, activities, timers, child workflows, signals, search-attribute upserts) in order,
// and what its history counts (events, workflow tasks, bytes). The same-shape floor (same-shape.ts)
// replays the order with trivial bodies; the counts are what docs/capacity.md sizes Temporal from.
import type { Client } from '@temporalio/client';
import proto from '@temporalio/proto';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** One command a workflow gave, in history order. */
export type ShapeStep = 'localActivity' | 'activity' | 'timer' | 'child' | 'signal' | 'cancel' | 'upsert';

export interface ShapeCounts {
  /** History events. */
  events: number;
  workflowTasks: number;
  localActivities: number;
  activities: number;
  timers: number;
  childWorkflows: number;
  /** Signals received, the one that started the workflow included. */
  signalsReceived: number;
  /** Signals sent to other workflows. */
  signalsSent: number;
  cancelsRequested: number;
  upserts: number;
  /** The history encoded as protobuf: what the server stores and sends to a worker that replays it. */
  historyBytes: number;
}

export interface WorkflowShape {
  workflowType: string;
  steps: ShapeStep[];
  counts: ShapeCounts;
  /** Each child workflow's own shape, in start order. */
  children: WorkflowShape[];
}

export const emptyCounts = (): ShapeCounts => ({
  events: 0,
  workflowTasks: 0,
  localActivities: 0,
  activities: 0,
  timers: 0,
  childWorkflows: 0,
  signalsReceived: 0,
  signalsSent: 0,
  cancelsRequested: 0,
  upserts: 0,
  historyBytes: 0,
});

/** The local-activity marker the Core SDK records (one per local activity). */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/** Steps and counts of one history, plus the ids of the child workflows it started (in order). */
export function readHistory(events: readonly HistoryEvent[], historyBytes: number): { workflowType: string; steps: ShapeStep[]; counts: ShapeCounts; childIds: string[] } {
  const counts = emptyCounts();
  counts.events = events.length;
  counts.historyBytes = historyBytes;
  const steps: ShapeStep[] = [];
  const childIds: string[] = [];
  let workflowType = '';
  for (const e of events) {
    if (e.workflowExecutionStartedEventAttributes) workflowType = e.workflowExecutionStartedEventAttributes.workflowType?.name ?? '';
    if (e.workflowTaskCompletedEventAttributes) counts.workflowTasks += 1;
    if (e.workflowExecutionSignaledEventAttributes) counts.signalsReceived += 1;
    if (e.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER) {
      counts.localActivities += 1;
      steps.push('localActivity');
    }
    if (e.activityTaskScheduledEventAttributes) {
      counts.activities += 1;
      steps.push('activity');
    }
    if (e.timerStartedEventAttributes) {
      counts.timers += 1;
      steps.push('timer');
    }
    if (e.startChildWorkflowExecutionInitiatedEventAttributes) {
      counts.childWorkflows += 1;
      steps.push('child');
      childIds.push(e.startChildWorkflowExecutionInitiatedEventAttributes.workflowId ?? '');
    }
    if (e.signalExternalWorkflowExecutionInitiatedEventAttributes) {
      counts.signalsSent += 1;
      steps.push('signal');
    }
    if (e.requestCancelExternalWorkflowExecutionInitiatedEventAttributes) {
      counts.cancelsRequested += 1;
      steps.push('cancel');
    }
    if (e.upsertWorkflowSearchAttributesEventAttributes) {
      counts.upserts += 1;
      steps.push('upsert');
    }
  }
  return { workflowType, steps, counts, childIds };
}

/** The shape of a workflow and, recursively, of the children it started, from the server's histories. */
export async function fetchShape(client: Client, workflowId: string, depth = 0): Promise<WorkflowShape> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const bytes = proto.temporal.api.history.v1.History.encode(history).finish().length;
  const read = readHistory(history.events ?? [], bytes);
  const children = depth < 3 ? await Promise.all(read.childIds.map((id) => fetchShape(client, id, depth + 1))) : [];
  return { workflowType: read.workflowType, steps: read.steps, counts: read.counts, children };
}

/** Counts over a workflow and all its children: what one incident costs Temporal. */
export function totalCounts(shape: WorkflowShape): ShapeCounts & { workflows: number } {
  const total = { ...emptyCounts(), workflows: 0 };
  const add = (s: WorkflowShape): void => {
    total.workflows += 1;
    for (const key of Object.keys(s.counts) as (keyof ShapeCounts)[]) total[key] += s.counts[key];
    s.children.forEach(add);
  };
  add(shape);
  return total;
}

/**
 * Temporal Cloud actions of one incident, by the documented rules (docs/capacity.md cites them): a
 * workflow start (client or child) is one, each signal one (counted where it is received: a signal one
 * workflow of the incident sends another is one action, not two; signalWithStart is a start and a
 * signal), each activity, timer, search-attribute upsert and cancel request one, and the local
 * activities of one workflow task together one (counted as at most one per workflow task that ran any,
 * a slight upper bound). Heartbeats and retries add more; a no-op action has neither.
 */
export function cloudActions(shape: WorkflowShape): number {
  const of = (s: WorkflowShape): number => {
    const c = s.counts;
    const own = 1 + c.signalsReceived + c.activities + c.timers + c.upserts + c.cancelsRequested + Math.min(c.localActivities, c.workflowTasks);
    return own + s.children.reduce((n, child) => n + of(child), 0);
  };
  return of(shape);
}

/** One line per workflow: `incidentWorkflow: 3 workflow tasks, 1 local activity, …`. */
export function describeShape(shape: WorkflowShape, indent = ''): string[] {
  const c = shape.counts;
  const parts = [
    `${c.events} events`,
    `${c.workflowTasks} workflow tasks`,
    `${c.localActivities} local activities`,
    `${c.activities} activities`,
    `${c.timers} timers`,
    `${c.childWorkflows} child workflows`,
    `${c.signalsReceived} signals received`,
    `${c.signalsSent} sent`,
    `${c.upserts} search-attribute upserts`,
    `${c.historyBytes.toLocaleString('en-US')} history bytes`,
  ];
  return [`${indent}${shape.workflowType}: ${parts.join(', ')} (steps: ${stepsText(shape.steps)})`, ...shape.children.flatMap((ch) => describeShape(ch, `${indent}  `))];
}

/** Steps in order, repeats folded: `localActivity → activity ×203`. */
export function stepsText(steps: readonly ShapeStep[]): string {
  const runs: { step: ShapeStep; n: number }[] = [];
  for (const step of steps) {
    const last = runs.at(-1);
    if (last?.step === step) last.n += 1;
    else runs.push({ step, n: 1 });
  }
  return runs.map((r) => (r.n > 1 ? `${r.step} ×${r.n}` : r.step)).join(' → ') || 'none';
}
