// One matched rule's run: its actions in order, each chained on the outcomes before it, recorded in
// Postgres, then the rule's outcome (circuit breaker) and a PagerDuty note summarising the run.
import { ActivityFailure, CancellationScope, condition, isCancellation, proxyActivities } from '@temporalio/workflow';
import type { Activities } from './activities.js';
import type { ActionOutcome, ApprovalDecision, MatchPlan, PlannedAction } from '../src/contracts/index.js';
import { renderAction } from '../src/domain/template.js';
import type { Action } from '../src/domain/rules/schema.js';
import { externalApiOptions, optionsForAction } from './options.js';
import { localDb } from './activities.js';

const api = proxyActivities<Activities>(externalApiOptions);

export interface RuleRunContext {
  incidentId: string;
  eventId: string;
  plan: MatchPlan;
  /** Approval decisions received so far, by action run id. */
  approvals: Map<string, ApprovalDecision>;
  /** Action runs waiting for a decision (the state query shows them). */
  awaiting: Set<string>;
  /** Called once per action that ran (not skipped). */
  onActionRun(): void;
}

/** Run the plan's actions in order; record each; then the rule outcome and the summary note. */
export async function runRule(ctx: RuleRunContext): Promise<void> {
  const { plan, incidentId, eventId } = ctx;
  const outcomes: ActionOutcome[] = [];
  let lastOk = true;
  for (const action of plan.actions) {
    const actionRunId = `${incidentId}:${plan.ruleId}:${action.id}:${eventId}`;
    const shouldRun = action.when === 'always' || (action.when === 'success' ? lastOk : !lastOk);
    if (!shouldRun) {
      outcomes.push(await localDb.recordActionSkipped({ actionRunId, incidentId, plan, action, reason: `when: ${action.when} and previous ${lastOk ? 'succeeded' : 'failed'}` }));
      continue;
    }
    let outcome: ActionOutcome;
    try {
      outcome = await runAction(ctx, render(action, plan, outcomes), actionRunId, outcomes);
    } catch (err) {
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() =>
          localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'cancelled', error: 'cancelled: incident resolved' }),
        );
      }
      throw err;
    }
    outcomes.push(outcome);
    ctx.onActionRun();
    if (outcome.status === 'succeeded' || outcome.status === 'dry_run') lastOk = true;
    else if (outcome.status === 'failed' || outcome.status === 'rejected') lastOk = false;
  }
  await CancellationScope.nonCancellable(async () => {
    if (plan.decision === 'run') await localDb.recordRuleOutcome({ ruleId: plan.ruleId, succeeded: outcomes.every((o) => o.status !== 'failed') });
    // A dry run touches nothing outside Self-healing, PagerDuty included; without write-back configured
    // there is nothing to schedule.
    if (plan.decision !== 'dry_run' && plan.writeBack) await api.writeBackNote({ incidentId, plan, outcomes });
  });
}

/** Wait for an approval when the action is gated. Undefined when it may run, else the rejected outcome. */
async function approvalGate(ctx: RuleRunContext, action: PlannedAction, actionRunId: string): Promise<ActionOutcome | undefined> {
  if (!action.approval) return undefined;
  ctx.awaiting.add(actionRunId);
  const decided = await condition(() => ctx.approvals.has(actionRunId), `${action.approval.timeoutMinutes} minutes`);
  ctx.awaiting.delete(actionRunId);
  const decision = decided ? ctx.approvals.get(actionRunId)!.decision : action.approval.onTimeout;
  const actor = decided ? ctx.approvals.get(actionRunId)!.actor : 'timeout';
  await localDb.recordApproval({ actionRunId, decision, actor });
  if (decision === 'approve') return undefined;
  return localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'rejected', error: `rejected by ${actor}` });
}

async function runAction(ctx: RuleRunContext, action: PlannedAction, actionRunId: string, previous: ActionOutcome[]): Promise<ActionOutcome> {
  const { plan, incidentId, eventId } = ctx;
  const dryRun = plan.decision === 'dry_run';
  const earlier = await localDb.recordActionStart({ actionRunId, incidentId, eventId, plan, action, dryRun, awaitingApproval: Boolean(action.approval) && !dryRun });
  if (earlier) return earlier;
  if (dryRun) return localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'dry_run' });
  const rejected = await approvalGate(ctx, action, actionRunId);
  if (rejected) return rejected;
  const options = optionsForAction(action.type, action.timeoutSeconds, action.retry, action.idempotent);
  const agentQueue = action.type === 'script.agent' ? String(action.params.agentTaskQueue ?? '') : '';
  try {
    const result = agentQueue
      ? await proxyActivities<Activities>({ ...options, taskQueue: agentQueue }).runAgentScript({
          script: String(action.params.script),
          args: (action.params.args as string[] | undefined) ?? [],
          timeoutSeconds: action.timeoutSeconds ?? 300,
          context: { incidentId, ruleId: plan.ruleId, actionRunId },
        })
      : await proxyActivities<Activities>(options).executeAction({
          actionRunId,
          incidentId,
          eventId,
          matchId: plan.matchId,
          ruleId: plan.ruleId,
          ruleVersion: plan.ruleVersion,
          target: plan.target,
          action,
          dryRun,
          previous,
        });
    const ok = result.exitCode === undefined || result.exitCode === null ? !result.error : result.exitCode === 0;
    return localDb.recordActionOutcome({
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
    return localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'failed', error: message });
  }
}

/**
 * Render an action's templates just before it runs, so `results.<actionId>` holds the outcomes of the
 * earlier actions. Pure and deterministic; rendered values are data (argv, JSON), never shell.
 */
export function render(action: PlannedAction, plan: MatchPlan, previous: ActionOutcome[]): PlannedAction {
  const results = Object.fromEntries(
    previous.map((o) => [o.actionId, { status: o.status, exitCode: o.exitCode ?? null, outputExcerpt: o.outputExcerpt ?? '', link: o.link ?? '', error: o.error ?? '' }]),
  );
  const { agentTaskQueue, ...raw } = action.params;
  const rendered = renderAction({ ...raw, id: action.id, type: action.type } as unknown as Action, { ...plan.context, results }) as unknown as Record<string, unknown>;
  const { id: _id, type: _type, ...params } = rendered;
  return { ...action, params: { ...params, ...(agentTaskQueue !== undefined ? { agentTaskQueue } : {}) } };
}
