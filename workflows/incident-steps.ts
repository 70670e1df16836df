// The incident workflow's steps, each small and named: triage an event, cancel on resolve, start the
// matched rules' runs, decide when to continue as new. They share the run's state (IncidentRun).
import { CancellationScope, isCancellation, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { ApprovalDecision, IncidentEventMessage, MatchPlan } from '../src/contracts/index.js';
import { searchAttributes } from '../src/temporal/names.js';
import { localTriage } from './activities.js';
import { runRule } from './rule-run.js';

/** The state of one incident workflow run. */
export interface IncidentRun {
  incidentId: string;
  status: string;
  /** Events received and not yet taken for processing, in arrival order. */
  pending: IncidentEventMessage[];
  /** Event ids taken for processing (this run and the runs it continues). */
  seen: Set<string>;
  /** Rule runs in flight, by `<ruleId>:<eventId>`. */
  running: Map<string, { scope: CancellationScope; cancelOnResolve: boolean }>;
  approvals: Map<string, ApprovalDecision>;
  awaiting: Set<string>;
  eventsProcessed: number;
  actionRuns: number;
}

/** History length after which a run continues as new, unless the input says otherwise. */
export const MAX_HISTORY = 8000;

export interface Triaged {
  /** False when nothing is to be started (a stale event). */
  act: boolean;
  environment: Record<string, unknown>;
  plans: MatchPlan[];
}

/** Persist, enrich, extract and match in one local activity; note the event in the run's state. */
export async function triageEvent(run: IncidentRun, msg: IncidentEventMessage): Promise<Triaged> {
  const t = await localTriage.triageIncidentEvent({ incidentId: run.incidentId, message: msg });
  run.seen.add(msg.eventId);
  run.eventsProcessed += 1;
  run.status = t.recorded.incidentStatus;
  // A failed alerts fetch is logged by the activity and kept in its result (the history's marker).
  return { act: !t.recorded.stale, environment: t.environment, plans: t.plans };
}

/** On resolve, cancel the rule runs whose rule asks for it. */
export function cancelOnResolve(run: IncidentRun): void {
  if (run.status !== 'resolved') return;
  for (const r of run.running.values()) if (r.cancelOnResolve) r.scope.cancel();
}

/** Tag the run for search and start each matched rule in its own cancellation scope. */
export function startRuleRuns(run: IncidentRun, msg: IncidentEventMessage, environment: Record<string, unknown>, plans: MatchPlan[]): void {
  const attributes = [
    ...(typeof environment.environment === 'string' ? [{ key: searchAttributes.environment, value: environment.environment }] : []),
    ...(plans.length > 0 ? [{ key: searchAttributes.ruleIds, value: plans.map((p) => p.ruleId) }] : []),
  ];
  if (attributes.length > 0) upsertSearchAttributes(attributes);
  for (const plan of plans) {
    if (plan.decision === 'skipped' || plan.actions.length === 0) continue;
    const key = `${plan.ruleId}:${msg.eventId}`;
    const scope = new CancellationScope();
    void scope
      .run(() =>
        runRule({
          incidentId: run.incidentId,
          eventId: msg.eventId,
          plan,
          approvals: run.approvals,
          awaiting: run.awaiting,
          onActionRun: () => (run.actionRuns += 1),
        }),
      )
      .catch((err) => {
        if (!isCancellation(err)) throw err;
      })
      .finally(() => run.running.delete(key));
    run.running.set(key, { scope, cancelOnResolve: plan.cancelOnResolve });
  }
}

/** Continue as new when the history is long and nothing runs (running work cannot be carried). */
export function shouldContinueAsNew(run: IncidentRun, historyLimit: number | undefined): boolean {
  if (run.running.size > 0) return false;
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > (historyLimit ?? MAX_HISTORY);
}
