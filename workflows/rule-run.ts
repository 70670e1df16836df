// One matched rule's run, as its own workflow (one per incident, rule and event): its actions in order,
// each chained on the outcomes before it and claimed in Postgres before any side effect, approvals read
// back from Postgres, then the rule's outcome (circuit breaker), notices, the PagerDuty summary note, the
// lease released and the incident workflow told. Long waits (a 7-day approval, a 24-h script) live here,
// so the incident workflow's history stays short and it can continue as new while they last.
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import { actionInputOf, type ActionOutcome, type MatchPlan, type PlannedAction, type RuleRunInput, type RuleRunResult, type VerificationStatus } from '../src/contracts/index.js';
import { agentOutcome, errorText, failureText, outputText, safeLink } from '../src/domain/agent-result.js';
import { SCRIPT_DEFAULT_TIMEOUT_SECONDS } from '../src/domain/attempt-slack.js';
import { isRemediationType } from '../src/domain/guards.js';
import { chainDecision } from '../src/domain/rules/chaining.js';
import { checksArgs, optionFromData } from '../src/domain/script-args.js';
import { renderAction } from '../src/domain/template.js';
import type { Action } from '../src/domain/rules/schema.js';
import { localDb, type Activities } from './activities.js';
import { approvalSignal, ruleRunFinishedSignal, ruleRunStateQuery } from './messages.js';
import { announce } from './notices.js';
import { timedOutFails, VERIFY_PATCH, verifyRemediation, type Verified } from './verify.js';
import { AGENT_CLAIMED_PICKUP_SECONDS, agentAnswers, claimedPickupSeconds, pickupTimedOut, presenceRefused } from './agent-pickup.js';
import { actionHeartbeatTimeout, AGENT_SCRIPT_PICKUP_SECONDS, externalApiOptions, firstPauseOverSaasCap, optionsForAction, retryPauseMs, scriptAttempts } from './options.js';

const api = proxyActivities<Activities>(externalApiOptions);

/**
 * A script action whose rendered argument would start with a `-` that came from data fails without
 * running (src/domain/script-args.ts). Asked only for such an action, so every other history replays as
 * it was recorded; one recorded before the check ran the script and replays so.
 */
export const SCRIPT_ARGS_PATCH = 'script-args-no-options-from-data-v1';

/**
 * An approved remediation that did not start (automation paused while it waited for its approval, or a
 * guard it would cross now) stops the rest of the run's remediation (scripts, PagerDuty state changes: what
 * the planner's own pause path drops), recorded skipped with the reason; notifications still run as their
 * `when` says. The run is inconclusive, not succeeded: its fix never ran. Asked only when such a skip happens.
 */
export const PAUSE_STOPS_REMEDIATION_PATCH = 'rule-run-pause-stops-remediation-v1';

/**
 * A rule with remediation actions is scored (circuit breaker, the precondition of verifying) on them
 * alone: a run whose fix never ran is inconclusive however its notifications went, and is not verified.
 * A rule of notifications only is scored on them, as before. Asked only when the two ways disagree.
 */
export const SCORE_REMEDIATION_PATCH = 'rule-run-score-remediation-only-v1';

/**
 * The approval's timer ends at the deadline its notice shows (computed before the notice is sent), not
 * that long after the notice was sent.
 */
export const APPROVAL_DEADLINE_PATCH = 'approval-deadline-as-announced-v1';

/**
 * A call to a SaaS API whose `retry.initialIntervalSeconds` is over a minute has its retry policy's cap
 * raised to that first pause. With the preset's one-minute cap the SDK refused the policy before anything
 * was scheduled: the action was recorded failed without the provider ever being called, on every incident.
 * Asked only for such an action, so every other history replays as it was recorded.
 */
export const SAAS_RETRY_CAP_PATCH = 'saas-retry-cap-raised-to-first-pause-v1';

/**
 * An agent script's first attempt that waited for its agent (up to AGENT_SCRIPT_PICKUP_SECONDS) is checked
 * for its rule disabled or deleted meanwhile, as its claim checked it before the wait and as a retry is
 * checked: stopped, it is recorded skipped (never started, no longer counted by the guards) and the rest of
 * the run's remediation with it, as a remediation whose claim found its rule stopped. Before, the script
 * ran on the host once its agent answered. Asked only when the check finds the rule stopped.
 */
export const AGENT_WAIT_STOP_PATCH = 'agent-wait-rule-stopped-skips-v1';

/** The failure whenAgentPresent ends a first attempt with when AGENT_WAIT_STOP_PATCH applies. */
const RULE_STOPPED_WHILE_WAITING = 'RuleStoppedWhileWaitingError';

/** An action as rendered for its run: `refused` says why it must not run (absent when it may). */
type RenderedAction = PlannedAction & { refused?: string | undefined };

/**
 * Revision 2: a cancellation (a resolve) waits for the action in flight to stop, whatever its type (its
 * activity heartbeats, so the cancel reaches it), and the action is recorded as it ended: cancelled only
 * if it stopped before its side effect. Older runs cancel non-script actions without waiting, as they did.
 */
const waitsForActions = (input: RuleRunInput): boolean => input.revision !== undefined && input.revision >= 2;

/**
 * Revision 3: a cancellation never interrupts the bookkeeping of an action (its claim, a skip being
 * recorded), so every action ends with a row; it is seen between actions. And once the run's own
 * `pagerduty.resolve` succeeded, the resolve that cancels the run is its own echo: the rest of the run (the
 * actions after it, the verification) goes on, not cancelled by it.
 */
const shieldsBookkeeping = (input: RuleRunInput): boolean => input.revision !== undefined && input.revision >= 3;

/**
 * Revision 4: an agent script (an action or the verification's check) is queued only once an agent has
 * answered `agentPresent` on the pinned queue and the rule's team still has an environment served there;
 * then it waits AGENT_CLAIMED_PICKUP_SECONDS at most for pickup (an agent too busy to take it is waited for
 * again while the action's pickup time lasts). Queued at once, it waited up to 5 minutes for an offline agent
 * and then ran on whichever agent polled the queue: after the environment was deleted and its name
 * registered again by another team, that team's agent ran this team's script on that team's host.
 */
const waitsForAgent = (input: RuleRunInput): boolean => input.revision !== undefined && input.revision >= 4;

/**
 * Revision 5: every attempt of an agent script waits for its agent and is checked as the first one is, and
 * the run makes the retries itself: the activity has one attempt, and a failure Temporal would have retried
 * is retried after the pause the action's retry policy gives (a durable timer), checked again first.
 * Temporal's own retry queued the next attempt on the same queue unchecked: the environment deleted and its
 * name registered again by another team between two attempts, that team's agent ran the retry on its host.
 */
const checksEveryAttempt = (input: RuleRunInput): boolean => input.revision !== undefined && input.revision >= 5;

/**
 * Revision 6: before each run of the verification's check, a local activity says whether it may still run
 * (verifyCheckMayRun): not while automation is paused where the incident is, nor after its rule was disabled,
 * deleted or replaced, nor once its environment left the rule's team. Refused, it runs no more; a resolve can
 * still verify the run, and without one the verification is not_applicable and the run inconclusive. The
 * check ran every settle until `within` whatever happened meanwhile: on a paused fleet, for a disabled rule.
 */
const asksBeforeCheck = (input: RuleRunInput): boolean => input.revision !== undefined && input.revision >= 6;

/** The id of an action run: its idempotency key, the same on every retry and replay. */
export const actionRunIdOf = (incidentId: string, ruleId: string, actionId: string, eventId: string): string => `${incidentId}:${ruleId}:${actionId}:${eventId}`;

interface RuleRun {
  input: RuleRunInput;
  /** `<workflowId>/<runId>`: what this run's claims carry. */
  owner: string;
  /** Action runs whose approval the API said it recorded (nudges; the decision is read from Postgres). */
  nudges: Set<string>;
  awaitingApproval: string | null;
  running: string | null;
  outcomes: ActionOutcome[];
  /**
   * Action runs whose side effect was scheduled (its activity asked for: an agent script once an agent
   * answered and its target was checked, not while it waits for one). One cancelled before that never
   * started, whatever its claim or approved start recorded: its start is cleared with its outcome.
   */
  executed: Set<string>;
  /** Verification of the remediation (issue 22): null when nothing ran or the run predates the step. */
  verification?: Verified | null;
  /** Revision 3: a `pagerduty.resolve` of this run succeeded, so a resolve no longer cancels the rest of it. */
  resolvedItself?: boolean;
  /** Why the rest of the remediation does not run: an approved one did not start (PAUSE_STOPS_REMEDIATION_PATCH). */
  paused?: string;
  /** Scored on its remediation actions only (SCORE_REMEDIATION_PATCH). */
  remediationOnly?: boolean;
}

export async function ruleRunWorkflow(input: RuleRunInput): Promise<RuleRunResult> {
  const info = workflowInfo();
  const run: RuleRun = { input, owner: `${info.workflowId}/${info.runId}`, nudges: new Set(), awaitingApproval: null, running: null, outcomes: [], executed: new Set() };
  setHandler(approvalSignal, (nudge) => {
    if (typeof nudge?.actionRunId === 'string') run.nudges.add(nudge.actionRunId);
  });
  setHandler(ruleRunStateQuery, () => ({ ruleId: input.plan.ruleId, awaitingApproval: run.awaitingApproval, running: run.running }));

  let ended: RuleRunResult['ended'] = 'completed';
  try {
    ended = await runActions(run);
  } catch (err) {
    if (!isCancellation(err)) throw err;
    ended = 'cancelled';
  }
  // A run with a revision verifies without asking for the patch (no marker, no search attribute upsert);
  // one without was started by older code and asks, as it did, so its history replays either way.
  const revised = input.revision !== undefined && input.revision >= 1;
  run.remediationOnly = scoresRemediationOnly(run, ended);
  if (revised || patched(VERIFY_PATCH)) {
    const hooks = {
      run: (action: PlannedAction, actionRunId: string) => runAction(run, render(action, input.plan, run.outcomes), actionRunId, 'run once: the remediation is unverified'),
      check: (action: PlannedAction, actionRunId: string) => execute(run, render(action, input.plan, run.outcomes), actionRunId),
      ...(asksBeforeCheck(input) ? { mayCheck: () => mayCheck(input) } : {}),
    };
    const verifying = () => verifyRemediation(input, scored(run, run.outcomes), ended, hooks, { deferSettled: revised, ...(run.paused ? { stopped: run.paused } : {}) });
    run.verification = run.resolvedItself ? await CancellationScope.nonCancellable(verifying) : await verifying();
    run.outcomes.push(...(run.verification?.outcomes ?? []));
  }
  await CancellationScope.nonCancellable(() => wrapUp(run, ended));
  return { ruleId: input.plan.ruleId, ended, actionRuns: run.outcomes.filter((o) => o.status !== 'skipped').length };
}

/** Each action in order: skipped or run as its `when` says. Cancellation (a resolve) marks what is left. */
async function runActions(run: RuleRun): Promise<RuleRunResult['ended']> {
  const { plan, incidentId, eventId } = run.input;
  const shielded = shieldsBookkeeping(run.input);
  // Revision 3: after the run's own resolve, its remaining actions run whatever cancels it.
  const unlessResolvedItself = <T>(fn: () => Promise<T>): Promise<T> => (run.resolvedItself ? CancellationScope.nonCancellable(fn) : fn());
  for (const [i, action] of plan.actions.entries()) {
    // Revision 3: a cancellation that landed during the bookkeeping of the action before is seen here.
    if (shielded && !run.resolvedItself && CancellationScope.current().consideredCancelled) {
      await CancellationScope.nonCancellable(() => cancelRest(run, null, plan.actions.slice(i)));
      return 'cancelled';
    }
    const actionRunId = actionRunIdOf(incidentId, plan.ruleId, action.id, eventId);
    const paused = run.paused !== undefined && isRemediationType(action.type) ? run.paused : undefined;
    const chain = paused !== undefined ? { run: false, reason: paused } : chainDecision(action.when, run.outcomes);
    if (!chain.run) {
      const skip = () => localDb.recordActionSkipped({ actionRunId, incidentId, plan, action, reason: chain.reason, owner: run.owner });
      run.outcomes.push(await (shielded ? CancellationScope.nonCancellable(skip) : skip()));
      continue;
    }
    let outcome: ActionOutcome | 'claimed_elsewhere';
    try {
      outcome = await unlessResolvedItself(() => runAction(run, render(action, plan, run.outcomes), actionRunId, chain.reason));
    } catch (err) {
      if (!isCancellation(err)) throw err;
      await CancellationScope.nonCancellable(() => cancelRest(run, { actionRunId, action }, plan.actions.slice(i + 1)));
      throw err;
    }
    if (outcome === 'claimed_elsewhere') return 'claimed_elsewhere';
    run.outcomes.push(outcome);
    // A remediation that came back skipped from its own run was approved and then not started
    // (startApprovedAction: automation paused where it runs, a guard it would cross): what the planner would
    // have dropped after a pause does not run either. The reason names it and says why.
    if (outcome.status === 'skipped' && isRemediationType(action.type) && run.paused === undefined && patched(PAUSE_STOPS_REMEDIATION_PATCH)) {
      run.paused = `not run: the remediation stopped at ${action.id}, which did not start: ${(outcome.error ?? 'skipped').replace(/^not run:\s*/, '')}`;
    }
    if (shielded && action.type === 'pagerduty.resolve' && outcome.status === 'succeeded') run.resolvedItself = true;
    // Revision 2: the action ended on its own (succeeded or failed) after the cancellation reached it; it
    // stays recorded so, and the ones after it are not run.
    if (waitsForActions(run.input) && !run.resolvedItself && CancellationScope.current().consideredCancelled) {
      await CancellationScope.nonCancellable(() => cancelRest(run, null, plan.actions.slice(i + 1)));
      return 'cancelled';
    }
  }
  // Revision 3: a cancellation that landed while the last action's skip was recorded (nothing left to mark).
  if (shielded && !run.resolvedItself && CancellationScope.current().consideredCancelled) return 'cancelled';
  return 'completed';
}

/**
 * The action that had not run yet is recorded cancelled (an action in flight only once its activity
 * stopped before its side effect: revision 2 waits for that), the ones after it skipped.
 */
async function cancelRest(run: RuleRun, current: { actionRunId: string; action: PlannedAction } | null, rest: PlannedAction[]): Promise<void> {
  const { plan, incidentId, eventId } = run.input;
  run.awaitingApproval = null;
  run.running = null;
  if (current) {
    const { actionRunId, action } = current;
    const neverStarted = !run.executed.has(actionRunId);
    run.outcomes.push(
      await localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, status: 'cancelled', error: 'cancelled: the incident resolved', owner: run.owner, ...(neverStarted ? { neverStarted } : {}) }),
    );
  }
  for (const a of rest) {
    run.outcomes.push(
      await localDb.recordActionSkipped({
        actionRunId: actionRunIdOf(incidentId, plan.ruleId, a.id, eventId),
        incidentId,
        plan,
        action: a,
        reason: 'not run: the rule was cancelled when the incident resolved',
        owner: run.owner,
      }),
    );
  }
}

/** Claim, pass the approval gate, execute, record. */
async function runAction(run: RuleRun, action: RenderedAction, actionRunId: string, reason: string): Promise<ActionOutcome | 'claimed_elsewhere'> {
  const { plan, incidentId } = run.input;
  const dryRun = plan.decision === 'dry_run';
  const gated = Boolean(action.approval) && !dryRun;
  const claiming = () => localDb.claimAction({ actionRunId, incidentId, plan, action, owner: run.owner, workflowId: workflowInfo().workflowId, reason, awaitingApproval: gated });
  // Revision 3: a claim is never left half done by a cancellation (the row would stay `running`).
  const claim = await (shieldsBookkeeping(run.input) ? CancellationScope.nonCancellable(claiming) : claiming());
  if (!claim.owned) return 'claimed_elsewhere';
  if (claim.finished) return claim.finished;
  const record = (o: Omit<ActionOutcome, 'actionRunId' | 'actionId' | 'type'> & { neverStarted?: boolean }) => localDb.recordActionOutcome({ actionRunId, actionId: action.id, type: action.type, ...o, owner: run.owner });
  if (dryRun) return record({ status: 'dry_run' });

  if (gated && claim.status === 'awaiting_approval') {
    const decision = await approvalGate(run, action, actionRunId);
    if (decision.decision === 'reject') {
      return record({ status: 'rejected', error: decision.actor === 'timeout' ? 'approval timed out; the rule says reject' : `rejected by ${decision.actor}` });
    }
    // The incident may have resolved while the action waited, its cancellation not here yet: then it does
    // not start (recorded cancelled, as the cancellation would have). Older runs' markers hold no answer.
    const started = await localDb.startApprovedAction({ actionRunId, owner: run.owner, incidentId, cancelIfResolved: claim.cancelIfResolved, action: { id: action.id, type: action.type } });
    if (started?.finished) return started.finished;
  }

  // The cancel (a resolve) landed while the claim or the approved start was being recorded: nothing is
  // scheduled in a cancelled scope (the SDK would refuse the activity the same way, without a command), so
  // the side effect was never attempted and cancelRest records it so.
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('the incident resolved before the action started');
  run.running = actionRunId;
  // Revision 2: an action that ended on its own after a cancellation reached it is recorded as it ended
  // (the write is not cancelled with the run).
  const settle = waitsForActions(run.input) ? (o: Parameters<typeof record>[0]) => CancellationScope.nonCancellable(() => record(o)) : record;
  try {
    const result = await execute(run, action, actionRunId);
    const ok = timedOutFails(result) ? false : result.exitCode === undefined || result.exitCode === null ? !result.error : result.exitCode === 0;
    // The texts kept are bounded in JSON bytes (what the record returns, and the run keeps, is no more):
    // outcomes travel in every later action's input and in the summary note, and a workflow task past
    // Temporal's 2 MB limit ends the run, terminated, before its wrap-up.
    return await settle({
      status: ok ? 'succeeded' : 'failed',
      exitCode: result.exitCode,
      outputExcerpt: result.outputExcerpt === undefined ? undefined : outputText(result.outputExcerpt),
      link: safeLink(result.link),
      error: ok ? undefined : errorText(failureText(result)),
    });
  } catch (err) {
    if (isCancellation(err)) throw err;
    // Never started (AGENT_WAIT_STOP_PATCH): skipped as its claim would have recorded it, its start cleared
    // so the guards no longer count it.
    if (err instanceof ApplicationFailure && err.type === RULE_STOPPED_WHILE_WAITING) return await settle({ status: 'skipped', error: errorText(err.message), neverStarted: true });
    // A failure's message is whatever the activity (an agent: untrusted) said: bounded as any error kept.
    return await settle({ status: 'failed', error: errorText(messageOf(err)) });
  } finally {
    run.running = null;
  }
}

/**
 * Wait for the decision on a gated action. Only a decision recorded in Postgres counts (the API records
 * it with the authenticated actor, then nudges this run): a signal alone approves nothing. At the deadline
 * the rule's onTimeout is recorded unless a person's decision got there first.
 */
async function approvalGate(run: RuleRun, action: PlannedAction, actionRunId: string): Promise<{ decision: 'approve' | 'reject'; actor: string }> {
  const approval = action.approval!;
  run.awaitingApproval = actionRunId;
  // The links in the notice stop working no later than this (workflow time, before the notice is sent).
  const announcedDeadline = Date.now() + approval.timeoutMinutes * 60_000;
  const linksUntil = new Date(announcedDeadline).toISOString();
  await announce(run.input, { kind: 'approval_waiting', actionRunId, actionId: action.id, timeoutMinutes: approval.timeoutMinutes, onTimeout: approval.onTimeout, deadline: linksUntil });
  // The decision by timeout lands when the notice said; runs recorded before waited that long after it was sent.
  const deadline = patched(APPROVAL_DEADLINE_PATCH) ? announcedDeadline : Date.now() + approval.timeoutMinutes * 60_000;
  try {
    for (;;) {
      const left = deadline - Date.now();
      if (left > 0 && (await condition(() => run.nudges.has(actionRunId), left))) {
        run.nudges.delete(actionRunId);
        const recorded = await localDb.readApproval({ actionRunId });
        if (recorded) return recorded;
        log.warn('approval signal without a recorded approval ignored', { actionRunId });
        continue;
      }
      const settled = await localDb.settleApproval({ actionRunId, onTimeout: approval.onTimeout });
      if (settled.actor === 'timeout') await announce(run.input, { kind: 'approval_timed_out', actionRunId, actionId: action.id, onTimeout: approval.onTimeout });
      return settled;
    }
  } finally {
    run.awaitingApproval = null;
  }
}

/**
 * The side effect: an agent script on the environment's queue, anything else on the main worker. A
 * cancellation waits for the activity to stop: scripts always did, every other type from revision 2 on
 * (which heartbeat, so the cancel reaches them).
 */
async function execute(run: RuleRun, action: RenderedAction, actionRunId: string) {
  const { plan, incidentId } = run.input;
  if (action.refused !== undefined && patched(SCRIPT_ARGS_PATCH)) throw ApplicationFailure.nonRetryable(action.refused, 'ScriptNotAllowedError');
  const raiseCap = firstPauseOverSaasCap(action.type, action.retry) && patched(SAAS_RETRY_CAP_PATCH);
  const options = optionsForAction(action.type, action.timeoutSeconds, action.retry, action.idempotent, raiseCap);
  // The side effect is asked for now (nothing is scheduled in a cancelled scope): cancelled later, it may
  // have started (cancelRest keeps its start).
  const scheduling = () => {
    if (!CancellationScope.current().consideredCancelled) run.executed.add(actionRunId);
  };
  if (action.type === 'script.agent') {
    const taskQueue = String(action.params.agentTaskQueue ?? '');
    const onAgent = (more: Partial<ActivityOptions>) => {
      scheduling();
      return proxyActivities<Activities>({ ...options, ...more, taskQueue, cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED }).runAgentScript({
        script: String(action.params.script),
        args: (action.params.args as string[] | undefined) ?? [],
        env: (action.params.environment as Record<string, string> | undefined) ?? {},
        timeoutSeconds: action.timeoutSeconds ?? SCRIPT_DEFAULT_TIMEOUT_SECONDS,
        context: { incidentId, ruleId: plan.ruleId, actionRunId },
        // The rule's team, pinned by the planner (absent in plans made before it was): the agent checks it.
        ...(typeof action.params.agentTeam === 'string' ? { team: action.params.agentTeam } : {}),
      });
    };
    // The agent's answer is untrusted (it runs in the environment it serves): reduced to the documented shape.
    if (checksEveryAttempt(run.input)) return agentOutcome(await attemptsOnAgent(run, action, taskQueue, options, onAgent));
    return agentOutcome(waitsForAgent(run.input) ? await whenAgentPresent(run, taskQueue, Date.now() + AGENT_SCRIPT_PICKUP_SECONDS * 1000, onAgent, undefined, agentTeamOf(action), String(action.params.script)) : await onAgent({}));
  }
  const script = action.type.startsWith('script.');
  const waits = script || waitsForActions(run.input);
  const heartbeat = !script && waitsForActions(run.input) ? { heartbeatTimeout: actionHeartbeatTimeout } : {};
  scheduling();
  return proxyActivities<Activities>({ ...options, ...heartbeat, ...(waits ? { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED } : {}) }).executeAction(
    actionInputOf(run.input, actionRunId, action, run.outcomes),
  );
}

/**
 * Revision 5: the agent script's attempts, each one made by whenAgentPresent (an agent answered, the target
 * checked) as an activity of one attempt. A failure Temporal would have retried under the action's policy is
 * retried after its pause, until the attempts are spent; the last failure is the action's, as Temporal's
 * retries gave it. A retry waits for its agent what is left of the pickup time, AGENT_CLAIMED_PICKUP_SECONDS
 * at least (a retry Temporal queued waited as long); one refused fails the action naming the attempt before.
 */
async function attemptsOnAgent(
  run: RuleRun,
  action: RenderedAction,
  taskQueue: string,
  options: ActivityOptions,
  onAgent: (more: Partial<ActivityOptions>) => Promise<unknown>,
): Promise<unknown> {
  const attempts = scriptAttempts(action.retry, action.idempotent);
  // One attempt per activity; every other field of the policy stays (its non-retryable error types decide
  // the retry state the failure comes back with).
  const retry = { ...options.retry, maximumAttempts: 1 };
  let deadline = Date.now() + AGENT_SCRIPT_PICKUP_SECONDS * 1000;
  let before: string | undefined;
  for (let attempt = 1; ; attempt++) {
    const of = `attempt ${attempt} of ${attempts.maximumAttempts}`;
    // The attempts are separate activities in Temporal's UI, each saying which it is.
    const summary = `${action.id}: ${String(action.params.script)}, ${of}`;
    try {
      return await whenAgentPresent(run, taskQueue, deadline, (pickup) => onAgent({ ...pickup, retry, summary }), before === undefined ? undefined : { of, before }, agentTeamOf(action), String(action.params.script));
    } catch (err) {
      if (attempt >= attempts.maximumAttempts || !retriedByPolicy(err)) throw err;
      // Kept across the pause and quoted in the next attempt's refusal: bounded as any error kept.
      before = `attempt ${attempt} failed: ${errorText(messageOf(err))}`;
      await sleep(retryPauseMs(attempts, attempt), { summary: `${action.id}: pause before attempt ${attempt + 1} of ${attempts.maximumAttempts}` });
      deadline = Math.max(deadline, Date.now() + AGENT_CLAIMED_PICKUP_SECONDS * 1000);
    }
  }
}

/**
 * Whether Temporal would have retried this failure of a one-attempt activity under the action's policy: it
 * says so itself (its attempts ran out, not a non-retryable failure). A pickup that timed out is not retried,
 * as Temporal never retries one.
 */
function retriedByPolicy(err: unknown): boolean {
  return err instanceof ActivityFailure && err.retryState === RetryState.MAXIMUM_ATTEMPTS_REACHED && !pickupTimedOut(err);
}

/** The rule's team an agent action was pinned for (absent in plans made before it was): the agent checks it. */
const agentTeamOf = (action: RenderedAction): string | undefined => (typeof action.params.agentTeam === 'string' ? action.params.agentTeam : undefined);

/**
 * Revision 4: the agent script, queued once an agent on `taskQueue` has answered and the rule's team still
 * has an environment there (else it fails without running, saying so). No agent by `deadline` fails as a
 * script nobody picked up always did. A retry (revision 5) says which attempt was not run and why the one
 * before failed.
 */
async function whenAgentPresent(
  run: RuleRun,
  taskQueue: string,
  deadline: number,
  onAgent: (pickup: Partial<ActivityOptions>) => Promise<unknown>,
  retry: { of: string; before: string } | undefined,
  team: string | undefined,
  script: string,
): Promise<unknown> {
  const waited = Math.round((deadline - Date.now()) / 1000);
  const refusal = (why: string) => (retry ? `${retry.of} not run: ${why.replace(/^not run: /, '')}; ${retry.before}` : why);
  for (;;) {
    const answer = await agentAnswers(taskQueue, deadline, team);
    if (answer === 'offline') {
      throw ApplicationFailure.nonRetryable(refusal(`no Doctor agent picked the script up on ${taskQueue} within ${waited} s (agent offline?)`), 'AgentOfflineError');
    }
    // Naming the script as a job target's refusal does (a retry names its attempt instead).
    if (answer === 'refused') throw ApplicationFailure.nonRetryable(retry ? refusal(presenceRefused(taskQueue)) : `${script} was not run: ${presenceRefused(taskQueue)}`, 'AgentTeamRefusedError');
    // A retry is checked for its rule stopped (disabled, deleted) as well: the first attempt's claim was,
    // before its wait for the agent, and the first attempt is checked again now (AGENT_WAIT_STOP_PATCH).
    const { plan } = run.input;
    const check = await localDb.agentTargetCheck({ ruleId: plan.ruleId, taskQueue, ...(retry ? { retrying: true } : { firstAttempt: { ruleVersion: plan.ruleVersion } }) });
    if (check.stopped !== undefined && patched(AGENT_WAIT_STOP_PATCH)) throw ApplicationFailure.nonRetryable(check.stopped, RULE_STOPPED_WHILE_WAITING);
    if (check.refused !== undefined) throw ApplicationFailure.nonRetryable(refusal(check.refused), 'AgentTargetChangedError');
    try {
      return await onAgent({ scheduleToStartTimeout: `${claimedPickupSeconds(deadline)} seconds` });
    } catch (err) {
      if (!pickupTimedOut(err) || Date.now() >= deadline) throw err;
    }
  }
}

/** Revision 6: why the verification's check must not run now (verifyCheckMayRun), undefined when it may. */
async function mayCheck(input: RuleRunInput): Promise<string | undefined> {
  const { plan, incidentId } = input;
  return (await localDb.verifyCheckMayRun({ incidentId, matchId: plan.matchId, ruleId: plan.ruleId, ruleVersion: plan.ruleVersion })).refused;
}

/**
 * After the last action (or a cancellation): the breaker, the notices, the summary note, the lease, and
 * the incident workflow told. Runs whatever happened, cancellation included.
 */
async function wrapUp(run: RuleRun, ended: RuleRunResult['ended']): Promise<void> {
  const { plan, incidentId } = run.input;
  if (ended !== 'claimed_elsewhere') {
    if (plan.decision === 'run') {
      const ran = scored(run, run.outcomes).filter((o) => o.status === 'succeeded' || o.status === 'failed');
      // An unverified remediation counts as a failure (issue 22). A verification settled at once comes along
      // (revision 1): verifyRemediation settles one only for a run that reaches this branch. A run whose
      // remediation a pause stopped half way proves nothing either way, unless something failed; nor does one
      // whose check was stopped before anything proved it (revision 6): not a failure, not a success either.
      const failed = run.verification?.status === 'unverified' || ran.some((o) => o.status === 'failed');
      const proves = ran.length > 0 && run.paused === undefined && run.verification?.stopped === undefined;
      const outcome = failed ? 'failed' : proves ? 'succeeded' : 'inconclusive';
      const breaker = await localDb.recordRuleOutcome({ ruleId: plan.ruleId, matchId: plan.matchId, outcome, trial: plan.breakerTrial, ...unrecordedVerification(run) });
      // Re-opened by a failed trial, or opened by failures in a row: as the outcome was counted (a trial begun
      // at the approved start of its fix was not planned as one; a trial overtaken counted as an ordinary run).
      // Results recorded before `trial` was kept go by the plan, as they did.
      const trial = breaker.trial ?? Boolean(plan.breakerTrial);
      if (breaker.opened) await announce(run.input, { kind: 'breaker_opened', failures: breaker.failures, threshold: breaker.threshold, trial });
    }
    if (ended === 'cancelled') await announce(run.input, { kind: 'cancelled_by_resolve', notRun: run.outcomes.filter((o) => o.status === 'cancelled' || o.status === 'skipped').map((o) => o.actionId) });
    // A dry run touches nothing outside Self-healing, PagerDuty included.
    if (plan.decision !== 'dry_run' && plan.writeBack && run.outcomes.length > 0) {
      try {
        const v = run.verification;
        await api.writeBackNote({ incidentId, plan, outcomes: run.outcomes, cancelled: ended === 'cancelled', ...(v ? { verification: { status: v.status, detail: v.detail } } : {}) });
      } catch (err) {
        log.warn('PagerDuty summary note not written', { incidentId, error: messageOf(err) });
      }
    }
  }
  if (plan.leaseId) await localDb.releaseLease({ leaseId: plan.leaseId });
  try {
    await getExternalWorkflowHandle(run.input.parentWorkflowId).signal(ruleRunFinishedSignal, { id: workflowInfo().workflowId, ended });
  } catch (err) {
    log.warn('incident workflow not told that the rule run ended', { error: messageOf(err) });
  }
}

/** The outcomes a run is scored on: its remediation's when SCORE_REMEDIATION_PATCH applies, else all of them. */
function scored(run: RuleRun, outcomes: readonly ActionOutcome[]): ActionOutcome[] {
  return outcomes.filter((o) => !run.remediationOnly || isRemediationType(o.type));
}

/**
 * Whether the run is scored on its remediation alone: the rule has remediation actions, and counting only
 * them changes the outcome or the verification (so the patch is asked, and marked, only then).
 */
function scoresRemediationOnly(run: RuleRun, ended: RuleRunResult['ended']): boolean {
  const { plan } = run.input;
  if (ended === 'claimed_elsewhere' || plan.decision !== 'run' || !plan.actions.some((a) => isRemediationType(a.type))) return false;
  const ran = run.outcomes.filter((o) => o.status === 'succeeded' || o.status === 'failed');
  const fixes = ran.filter((o) => isRemediationType(o.type));
  const failed = (list: ActionOutcome[]) => list.some((o) => o.status === 'failed');
  const differs = fixes.length > 0 !== ran.length > 0 || failed(fixes) !== failed(ran);
  return differs && patched(SCORE_REMEDIATION_PATCH);
}

/** The verification the rule outcome records with the breaker, if it was settled at once and not yet recorded. */
function unrecordedVerification(run: RuleRun): { verification?: { matchId: string; status: VerificationStatus; detail: string } } {
  const v = run.verification;
  return v?.unrecorded ? { verification: { matchId: run.input.plan.matchId, status: v.status, detail: v.detail } } : {};
}

function messageOf(err: unknown): string {
  const cause = err instanceof ActivityFailure && err.cause ? err.cause : err;
  return cause instanceof Error ? cause.message : String(cause);
}

/**
 * Render an action's templates just before it runs, so `results.<actionId>` holds the outcomes of the
 * earlier actions. Pure and deterministic; rendered values are data (argv, JSON), never shell.
 */
export function render(action: PlannedAction, plan: MatchPlan, previous: ActionOutcome[]): RenderedAction {
  const results = Object.fromEntries(
    previous.map((o) => [o.actionId, { status: o.status, exitCode: o.exitCode ?? null, outputExcerpt: o.outputExcerpt ?? '', link: o.link ?? '', error: o.error ?? '' }]),
  );
  // The pinned targets are the planner's, not the rule's: kept as they are, never rendered.
  const { agentTaskQueue, agentTeam, sshEnvironment, ...raw } = action.params;
  const rendered = renderAction({ ...raw, id: action.id, type: action.type } as unknown as Action, { ...plan.context, results }) as unknown as Record<string, unknown>;
  const { id: _id, type: _type, ...params } = rendered;
  const refused = checksArgs(action.type) ? optionFromData(raw.args, params.args) : undefined;
  const pinned = {
    ...(agentTaskQueue !== undefined ? { agentTaskQueue } : {}),
    ...(agentTeam !== undefined ? { agentTeam } : {}),
    ...(sshEnvironment !== undefined ? { sshEnvironment } : {}),
  };
  return { ...action, params: { ...params, ...pinned }, ...(refused !== undefined ? { refused } : {}) };
}
