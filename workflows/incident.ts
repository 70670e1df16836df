// One durable workflow per PagerDuty incident: persist, enrich, extract, match, act, write back.
// Deterministic orchestration only; every read of the clock, network or database is an activity.
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  continueAsNew,
  isCancellation,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { createActivities, createAgentActivities } from '../activities/index.js';
import type { ActionOutcome, MatchPlan, PlannedAction, RecordEventResult } from '../activities/types.js';
import { renderAction } from '../src/domain/template.js';
import type { Action } from '../src/domain/rules/schema.js';
import { REMEDIATING_EVENT_TYPES } from '../src/pagerduty/parse.js';
import { searchAttributes } from '../src/temporal/names.js';
import {
  approvalSignal,
  incidentEventSignal,
  incidentStateQuery,
  type ApprovalDecision,
  type IncidentEventMessage,
} from './messages.js';
import { dbLocalOptions, dbOptions, enrichLocalOptions, externalApiOptions, optionsForAction, triageLocalOptions } from './options.js';

type Activities = ReturnType<typeof createActivities> & ReturnType<typeof createAgentActivities>;

const remoteDb = proxyActivities<Activities>(dbOptions);
const localDb = proxyLocalActivities<Activities>(dbLocalOptions);
const api = proxyActivities<Activities>(externalApiOptions);
const localEnrich = proxyLocalActivities<Activities>(enrichLocalOptions);
const localTriage = proxyLocalActivities<Activities>(triageLocalOptions);

export interface IncidentWorkflowInput {
  incidentId: string;
  /** How long a resolved incident's run waits for late events before completing. */
  lingerSeconds?: number;
  /** History length after which the run continues as new (default 8000; Temporal may suggest it earlier). */
  historyLimit?: number;
  /** INCIDENT_WORKFLOW_REVISION when started by the webhook; absent in runs started before revisions. */
  revision?: number;
  /** Carried over by continue-as-new. */
  carried?: { status: string; seenEventIds: string[]; pending: IncidentEventMessage[] };
}

export interface IncidentWorkflowResult {
  incidentId: string;
  status: string;
  eventsProcessed: number;
  actionRuns: number;
}

const MAX_HISTORY = 8000;

export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentWorkflowResult> {
  const { incidentId } = input;
  // The steps before and around an action (persist, enrich, extract, match, record) run as local
  // activities: markers in the workflow task instead of task-queue round trips, which is most of an
  // incident's load on Temporal. Runs recorded before this change replay with the activities they used.
  // Revision 2 runs take both without asking (see INCIDENT_WORKFLOW_REVISION).
  const current = (input.revision ?? 0) >= 2;
  const local = current || patched('local-incident-steps');
  // Persist, enrich, extract and match in one local activity (one activation instead of four). Runs
  // recorded before this change replay with the four steps they used.
  const triage = current || (local && patched('incident-triage-step'));
  const db = local ? localDb : remoteDb;
  const enrich = local ? localEnrich : api;
  const pending: IncidentEventMessage[] = [...(input.carried?.pending ?? [])];
  const seen = new Set<string>(input.carried?.seenEventIds ?? []);
  let status = input.carried?.status ?? 'triggered';
  let eventsProcessed = 0;
  let actionRuns = 0;
  const running = new Map<string, { scope: CancellationScope; cancelOnResolve: boolean }>();
  const approvals = new Map<string, ApprovalDecision>();
  const awaiting = new Set<string>();

  setHandler(incidentEventSignal, (msg) => {
    if (seen.has(msg.eventId) || pending.some((p) => p.eventId === msg.eventId)) return;
    pending.push(msg);
  });
  setHandler(approvalSignal, (d) => {
    approvals.set(d.actionRunId, d);
  });
  setHandler(incidentStateQuery, () => ({
    incidentId,
    status,
    eventsSeen: seen.size,
    pendingEvents: pending.length,
    runningRules: [...running.keys()],
    awaitingApproval: [...awaiting],
  }));

  const runRule = async (plan: MatchPlan, eventId: string): Promise<void> => {
    const outcomes: ActionOutcome[] = [];
    let lastOk = true;
    for (const action of plan.actions) {
      const actionRunId = `${incidentId}:${plan.ruleId}:${action.id}:${eventId}`;
      const shouldRun = action.when === 'always' || (action.when === 'success' ? lastOk : !lastOk);
      if (!shouldRun) {
        outcomes.push(await db.recordActionSkipped({ actionRunId, incidentId, plan, action, reason: `when: ${action.when} and previous ${lastOk ? 'succeeded' : 'failed'}` }));
        continue;
      }
      let outcome: ActionOutcome;
      try {
        outcome = await runOneAction(plan, render(action, plan, outcomes), actionRunId, eventId, outcomes);
      } catch (err) {
        if (isCancellation(err)) {
          await CancellationScope.nonCancellable(() =>
            db.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'cancelled', error: 'cancelled: incident resolved' }),
          );
          throw err;
        }
        throw err;
      }
      outcomes.push(outcome);
      actionRuns += 1;
      if (outcome.status === 'succeeded' || outcome.status === 'dry_run') lastOk = true;
      else if (outcome.status === 'failed' || outcome.status === 'rejected') lastOk = false;
    }
    await CancellationScope.nonCancellable(async () => {
      if (plan.decision === 'run') await db.recordRuleOutcome({ ruleId: plan.ruleId, succeeded: outcomes.every((o) => o.status !== 'failed') });
      // A dry run touches nothing outside Self-healing, PagerDuty included; without write-back configured
      // there is nothing to schedule.
      if (plan.decision !== 'dry_run' && plan.writeBack !== false) await api.writeBackNote({ incidentId, plan, outcomes });
    });
  };

  const runOneAction = async (
    plan: MatchPlan,
    action: PlannedAction,
    actionRunId: string,
    eventId: string,
    previous: ActionOutcome[],
  ): Promise<ActionOutcome> => {
    const dryRun = plan.decision === 'dry_run';
    const earlier = await db.recordActionStart({ actionRunId, incidentId, eventId, plan, action, dryRun, awaitingApproval: Boolean(action.approval) && !dryRun });
    if (earlier) return earlier;
    if (dryRun) {
      return db.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'dry_run' });
    }
    if (action.approval) {
      awaiting.add(actionRunId);
      const decided = await condition(() => approvals.has(actionRunId), `${action.approval.timeoutMinutes} minutes`);
      awaiting.delete(actionRunId);
      const decision = decided ? approvals.get(actionRunId)!.decision : action.approval.onTimeout;
      const actor = decided ? approvals.get(actionRunId)!.actor : 'timeout';
      await db.recordApproval({ actionRunId, decision, actor });
      if (decision === 'reject') {
        return db.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'rejected', error: `rejected by ${actor}` });
      }
    }
    const options = optionsForAction(action.type, action.timeoutSeconds, action.retry, action.idempotent);
    const agentQueue = action.type === 'script.agent' ? String(action.params.agentTaskQueue ?? '') : '';
    const runInput = { actionRunId, incidentId, eventId, matchId: plan.matchId, ruleId: plan.ruleId, ruleVersion: plan.ruleVersion, target: plan.target, action, dryRun, previous };
    try {
      const result = agentQueue
        ? await proxyActivities<Activities>({ ...options, taskQueue: agentQueue }).runAgentScript({
            script: String(action.params.script),
            args: (action.params.args as string[] | undefined) ?? [],
            timeoutSeconds: action.timeoutSeconds ?? 300,
            context: { incidentId, ruleId: plan.ruleId, actionRunId },
          })
        : await proxyActivities<Activities>(options).executeAction(runInput);
      const ok = result.exitCode === undefined || result.exitCode === null ? !result.error : result.exitCode === 0;
      return db.recordActionOutcome({
        actionRunId,
        actionId: action.id,
        type: action.type,
        status: ok ? 'succeeded' : 'failed',
        exitCode: result.exitCode,
        outputExcerpt: result.outputExcerpt,
        link: result.link,
        error: ok ? undefined : (result.error ?? `exit code ${result.exitCode}`),
      });
    } catch (err) {
      if (isCancellation(err)) throw err;
      const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
      const message = cause instanceof Error ? cause.message : String(cause);
      return db.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'failed', error: message });
    }
  };

  /** Record the event in the run's state; on resolve, cancel the remediations that asked for it. */
  const noteEvent = (msg: IncidentEventMessage, recorded: RecordEventResult): void => {
    seen.add(msg.eventId);
    eventsProcessed += 1;
    status = recorded.incidentStatus;
  };
  const cancelOnResolve = (): void => {
    if (status === 'resolved') {
      for (const r of running.values()) if (r.cancelOnResolve) r.scope.cancel();
    }
  };

  /** Tag the run for search and start each matched rule in its own cancellation scope. */
  const act = (msg: IncidentEventMessage, environment: Record<string, unknown>, plans: MatchPlan[]): void => {
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
        .run(() => runRule(plan, msg.eventId))
        .catch((err) => {
          if (!isCancellation(err)) throw err;
        })
        .finally(() => running.delete(key));
      running.set(key, { scope, cancelOnResolve: plan.cancelOnResolve });
    }
  };

  /** Persist, enrich, extract and match in one local activity, then act. */
  const processEvent = async (msg: IncidentEventMessage): Promise<void> => {
    const t = await localTriage.triageIncidentEvent({ incidentId, message: msg });
    noteEvent(msg, t.recorded);
    cancelOnResolve();
    // A failed alerts fetch is logged by the activity and kept in its result (the history's marker).
    if (t.recorded.stale) return;
    act(msg, t.environment, t.plans);
  };

  /**
   * The same as four steps, as runs recorded before the triage step did them. Kept as it was, command for
   * command: a replayed run must issue the same commands in the same order.
   */
  const processEventInSteps = async (msg: IncidentEventMessage): Promise<void> => {
    const recorded = await db.recordIncidentEvent(msg);
    noteEvent(msg, recorded);
    // "Already stored" also happens when this very run stored it and then failed before going on (a retried
    // activity, a worker crash, a Temporal restart): go on, since matching and actions are idempotent
    // (rule_matches is unique per event and rule; an action run that finished is never run again).
    if (recorded.duplicate && !patched('continue-after-duplicate-persist')) return;
    cancelOnResolve();
    if (recorded.stale) return;
    const remediating = REMEDIATING_EVENT_TYPES.has(msg.eventType);
    // Rules choose their event types (incident.annotated, incident.resolved, ...): every event is matched.
    // Histories recorded before this change matched only the remediating types.
    if (!remediating && !patched('match-every-event-type')) return;

    let environment: Record<string, unknown> = {};
    if (remediating) {
      try {
        await enrich.enrichIncident({ incidentId });
      } catch (err) {
        // Enrichment is best effort: with PagerDuty's API unreachable, extraction works from the event alone.
        if (isCancellation(err)) throw err;
        log.warn('alerts not fetched; extracting from the event alone', { incidentId, error: err instanceof Error ? err.message : String(err) });
      }
      environment = await db.extractIncidentEnvironment({ incidentId });
    }
    act(msg, environment, await db.planIncidentActions({ incidentId, eventId: msg.eventId, eventType: msg.eventType }));
  };

  const linger = input.lingerSeconds ?? 300;
  for (;;) {
    const next = pending.shift();
    if (next) {
      await (triage ? processEvent(next) : processEventInSteps(next));
      continue;
    }
    if (status === 'resolved' && running.size === 0) {
      const more = await condition(() => pending.length > 0, `${linger} seconds`);
      if (!more) break;
      continue;
    }
    if (running.size === 0 && (workflowInfo().continueAsNewSuggested || workflowInfo().historyLength > (input.historyLimit ?? MAX_HISTORY))) {
      await continueAsNew<typeof incidentWorkflow>({
        incidentId,
        lingerSeconds: input.lingerSeconds,
        historyLimit: input.historyLimit,
        ...(input.revision !== undefined ? { revision: input.revision } : {}),
        carried: { status, seenEventIds: [...seen].slice(-500), pending },
      });
    }
    const runningBefore = running.size;
    await condition(() => pending.length > 0 || running.size < runningBefore);
  }
  if (running.size > 0) throw ApplicationFailure.nonRetryable('incident workflow ended with remediation still running');
  return { incidentId, status, eventsProcessed, actionRuns };
}

/**
 * Render an action's templates just before it runs, so `results.<actionId>` holds the outcomes of the
 * earlier actions. Pure and deterministic; rendered values are data (argv, JSON), never shell.
 */
function render(action: PlannedAction, plan: MatchPlan, previous: ActionOutcome[]): PlannedAction {
  const results = Object.fromEntries(
    previous.map((o) => [o.actionId, { status: o.status, exitCode: o.exitCode ?? null, outputExcerpt: o.outputExcerpt ?? '', link: o.link ?? '', error: o.error ?? '' }]),
  );
  const { agentTaskQueue, ...raw } = action.params;
  const rendered = renderAction({ ...raw, id: action.id, type: action.type } as unknown as Action, { ...plan.context, results }) as unknown as Record<string, unknown>;
  const { id: _id, type: _type, ...params } = rendered;
  return { ...action, params: { ...params, ...(agentTaskQueue !== undefined ? { agentTaskQueue } : {}) } };
}
