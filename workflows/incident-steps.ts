// The incident workflow's steps, each small and named: take an event (triage), cancel rule runs on
// resolve, start rule runs, decide when to continue as new and what to carry. They share the run's state.
import {
  ParentClosePolicy,
  getExternalWorkflowHandle,
  log,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import { RULE_RUN_REVISION, ruleRunWorkflowId, type IncidentEventMessage, type IncidentWorkflowInput, type MatchPlan, type RunningRule } from '../src/contracts/index.js';
import { searchAttributes } from '../src/temporal/names.js';
import { localTriage } from './activities.js';
import { ruleRunWorkflow } from './rule-run.js';

/** The state of one incident workflow run. */
export interface IncidentRun {
  incidentId: string;
  status: string;
  /** Events received and not yet taken for processing, in arrival order. */
  pending: IncidentEventMessage[];
  /** Event ids taken for processing (by this run and the runs it continues). */
  seen: Set<string>;
  /** Rule runs in flight, by workflow id (carried across continue-as-new). */
  running: Map<string, RunningRule>;
  eventsProcessed: number;
  ruleRuns: number;
}

/** History length after which a run continues as new, unless the input says otherwise. */
export const MAX_HISTORY = 8000;
/** Event ids a run carries to the next one (older redeliveries are stopped at triage instead). */
const CARRIED_EVENT_IDS = 500;

export interface Taken {
  /** False when nothing is to be started: a duplicate delivery, a rejected (poison) or a stale event. */
  act: boolean;
  environment: Record<string, unknown>;
  plans: MatchPlan[];
}

/**
 * Take an event for processing: into the seen set first (so a redelivery arriving during triage is
 * dropped), then persist, enrich, extract and match in one local activity. Triage knows the run by id: an
 * event another run already took is a duplicate and stops there.
 */
export async function takeEvent(run: IncidentRun, msg: IncidentEventMessage): Promise<Taken> {
  run.seen.add(msg.eventId);
  const t = await localTriage.triageIncidentEvent({ incidentId: run.incidentId, message: msg, takenBy: workflowInfo().runId });
  run.eventsProcessed += 1;
  run.status = t.recorded.incidentStatus;
  if (t.recorded.rejected) log.warn('event rejected', { incidentId: run.incidentId, eventId: msg.eventId, reason: t.recorded.rejected });
  return { act: !t.recorded.stale && !t.recorded.duplicate && !t.recorded.rejected, environment: t.environment, plans: t.plans };
}

/** On resolve, cancel the rule runs whose rule asks for it (they record it, notify, and report back). */
export function cancelOnResolve(run: IncidentRun): void {
  if (run.status !== 'resolved') return;
  for (const r of run.running.values()) {
    if (!r.cancelOnResolve || r.cancelRequested) continue;
    r.cancelRequested = true;
    getExternalWorkflowHandle(r.id)
      .cancel()
      .catch((err: unknown) => log.warn('rule run not cancelled', { ruleRunId: r.id, error: err instanceof Error ? err.message : String(err) }));
  }
}

/** Tag the run for search and start one rule-run workflow per matched rule that has something to do. */
export function startRuleRuns(run: IncidentRun, msg: IncidentEventMessage, environment: Record<string, unknown>, plans: MatchPlan[]): void {
  const attributes = [
    ...(typeof environment.environment === 'string' ? [{ key: searchAttributes.environment, value: environment.environment }] : []),
    ...(plans.length > 0 ? [{ key: searchAttributes.ruleIds, value: plans.map((p) => p.ruleId) }] : []),
  ];
  if (attributes.length > 0) upsertSearchAttributes(attributes);
  const parentWorkflowId = workflowInfo().workflowId;
  for (const plan of plans) {
    if (plan.decision === 'skipped' || plan.actions.length === 0) continue;
    const id = ruleRunWorkflowId(run.incidentId, plan.ruleId, msg.eventId);
    run.running.set(id, { id, ruleId: plan.ruleId, cancelOnResolve: plan.cancelOnResolve });
    run.ruleRuns += 1;
    void startChild(ruleRunWorkflow, {
      workflowId: id,
      args: [{ incidentId: run.incidentId, eventId: msg.eventId, plan, parentWorkflowId, revision: RULE_RUN_REVISION }],
      // The rule run outlives this run when it continues as new, and reports its end by signal.
      parentClosePolicy: ParentClosePolicy.ABANDON,
      // One run per incident, rule and event, ever: a second start of the same id is refused.
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
    })
      .then((child) => child.result())
      .then(
        () => run.running.delete(id),
        (err: unknown) => {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) log.error('rule run failed', { ruleRunId: id, error: err instanceof Error ? err.message : String(err) });
          run.running.delete(id);
        },
      );
  }
}

/** Continue as new when the history is long; rule runs go on in their own workflows and are carried. */
export function shouldContinueAsNew(historyLimit: number | undefined): boolean {
  const info = workflowInfo();
  return info.continueAsNewSuggested || info.historyLength > (historyLimit ?? MAX_HISTORY);
}

/** What the next run needs: status, recent event ids, events still queued, rule runs still going. */
export function carried(run: IncidentRun): NonNullable<IncidentWorkflowInput['carried']> {
  return { status: run.status, seenEventIds: [...run.seen].slice(-CARRIED_EVENT_IDS), pending: run.pending, running: [...run.running.values()] };
}
