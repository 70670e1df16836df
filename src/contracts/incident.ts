// Messages and shapes of the incident and rule-run workflows, shared with the API (which signals them)
// and the activities. Pure types, and one pure function that builds an action's input.
import type { ActionOutcome, MatchPlan, PlannedAction, RunActionInput } from './plan.js';

export interface IncidentEventMessage {
  /** PagerDuty event.id (unique per delivery content; redeliveries repeat it). */
  eventId: string;
  webhookId?: string | undefined;
  eventType: string;
  occurredAt?: string | undefined;
  receivedAt: string;
  /** The `event` object of the V3 envelope, as received. */
  event: Record<string, unknown>;
}

/**
 * Sent by the API after it recorded an approval in Postgres. Only `actionRunId` is read: the workflow acts
 * on the decision it reads back from Postgres, never on what a signal says, so anyone able to signal the
 * workflow (an agent, a Temporal user) cannot approve anything.
 */
export interface ApprovalNudge {
  actionRunId: string;
}

export interface IncidentWorkflowState {
  incidentId: string;
  status: string;
  eventsSeen: number;
  pendingEvents: number;
  /** Rule runs (workflow ids) still running. */
  runningRules: string[];
}

export interface RunningRule {
  /** The rule run's workflow id. */
  id: string;
  ruleId: string;
  cancelOnResolve: boolean;
  /** Set once its cancellation was requested (it is requested once). */
  cancelRequested?: boolean | undefined;
}

export interface IncidentWorkflowInput {
  incidentId: string;
  /** How long a resolved incident's run waits for late events before completing. */
  lingerSeconds?: number;
  /** History length after which the run continues as new (default 8000; Temporal may suggest it earlier). */
  historyLimit?: number;
  /**
   * History bytes after which the run continues as new (default MAX_HISTORY_BYTES, 8 MiB, in
   * workflows/incident-steps.ts; Temporal may suggest it earlier; tests set less).
   */
  historyBytesLimit?: number;
  /**
   * UTF-8 bytes of queued events a run carries to the next one at most (default MAX_CARRIED_PENDING_BYTES,
   * 1 MiB, in workflows/incident-steps.ts; tests set less).
   */
  carryBytesLimit?: number;
  /**
   * Bytes the events taken in one workflow task may put in its completion before the task ends to take the
   * next (default MAX_TASK_BYTES, 1 MiB, in workflows/incident-steps.ts; tests set less).
   */
  taskBytesLimit?: number;
  /** INCIDENT_WORKFLOW_REVISION of the code that started the run. */
  revision?: number;
  /**
   * Once resolved, how often a run asks Temporal whether the rule runs it carried across continue-as-new
   * are still open (default 600 s): one terminated from outside never reports its end.
   */
  carriedCheckSeconds?: number;
  /** Carried over by continue-as-new. */
  carried?: {
    status: string;
    seenEventIds: string[];
    pending: IncidentEventMessage[];
    running: RunningRule[];
    /**
     * Events parked in Postgres are left to take (workflows/incident-steps.ts, PARK_BACKLOG_PATCH): the id of
     * the last one taken ("0": none yet). They are older than `pending`, and taken first.
     */
    parkedAfter?: string;
  };
}

export interface IncidentWorkflowResult {
  incidentId: string;
  status: string;
  eventsProcessed: number;
  ruleRuns: number;
}

export interface RuleRunInput {
  incidentId: string;
  eventId: string;
  plan: MatchPlan;
  /** Where the run reports its end (the incident workflow's id). */
  parentWorkflowId: string;
  /** RULE_RUN_REVISION of the code that started the run; absent in runs started before revisions. */
  revision?: number;
}

/** What executeAction is given for one action of a rule run (one of the rule's, or a notice): the run's identity, the action, the outcomes before it. */
export function actionInputOf(input: RuleRunInput, actionRunId: string, action: PlannedAction, previous: ActionOutcome[]): RunActionInput {
  const { plan, incidentId, eventId } = input;
  return { actionRunId, incidentId, eventId, matchId: plan.matchId, ruleId: plan.ruleId, ruleVersion: plan.ruleVersion, target: plan.target, action, dryRun: false, previous };
}

export interface RuleRunResult {
  ruleId: string;
  /** How the run ended: every action considered, cancelled by a resolve, or lost its claim to another run. */
  ended: 'completed' | 'cancelled' | 'claimed_elsewhere';
  actionRuns: number;
}

export interface RuleRunFinished {
  /** The rule run's workflow id. */
  id: string;
  ended: RuleRunResult['ended'];
}

export interface RuleRunState {
  ruleId: string;
  /** The action run waiting for an approval, if any. */
  awaitingApproval: string | null;
  /** The action run whose side effect is in flight, if any. */
  running: string | null;
}
