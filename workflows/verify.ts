// Verified remediation (issue 22), a step of the rule-run workflow: after the rule's actions succeeded,
// wait durably (timers, so a worker restart changes nothing) for the incident to resolve, or for the rule's
// check script to exit 0 after each settle delay, until `verify.within` passes. The incident workflow
// cancels its rule runs on resolve (policies.cancelOnResolve, the default): that cancellation is the
// resolve arriving. Between delays the incident's status is read from Postgres too, so a rule that keeps
// running after a resolve sees it at the next probe. Outcome on the rule match: verified, unverified (then
// onUnverified runs once and the run counts as failed for the breaker) or not_applicable. From rule-run
// revision 6 the check is asked for before each run (hooks.mayCheck): once refused (automation paused, the
// rule no longer live, its environment gone) it runs no more, and only a resolve can still verify; without
// one the verification is not_applicable, naming why the check stopped, and counts neither way.
import { CancellationScope, isCancellation, log, patched, sleep } from '@temporalio/workflow';
import type { ActionOutcome, PlannedAction, RuleRunInput, VerificationStatus } from '../src/contracts/index.js';
import { MAX_VERIFY_PASSES } from '../src/contracts/plan.js';
import { localDb } from './activities.js';

/**
 * The patch marking rule runs that verify (runs recorded before it replay without the step). Only runs
 * started without a revision ask for it: from RULE_RUN_REVISION 1 on, every run verifies, no marker.
 */
export const VERIFY_PATCH = 'verify-remediation-v1';


/**
 * A script that timed out failed, whatever exit code it ended with: one that traps SIGTERM (sent at the
 * deadline) and exits 0 was recorded succeeded, so its onSuccess chain (a pagerduty.resolve) ran after a
 * fix that never finished, and a verify.check that hung and then exited 0 proved a remediation. Runs
 * recorded before keep their verdicts when replayed.
 */
export const TIMED_OUT_FAILS_PATCH = 'timed-out-script-fails-v1';

/**
 * A check the run's cancellation (the incident's resolve) stopped while it ran is no failed check: the
 * cancellation goes on to end the wait, as one during a delay does. Before, the check was recorded as run and
 * failed ("failed: Activity task cancelled"), and the wait ended only at the next delay, or not at all when
 * `within` had passed (then a merge or our own resolve did not ask the check once more). Asked for only when a
 * check was cancelled, so every other history replays as it was recorded.
 */
export const CHECK_CANCEL_ENDS_WAIT_PATCH = 'verify-check-cancel-ends-wait-v1';

/** Whether a script result that says it timed out counts as failed (in runs that took the patch). */
export const timedOutFails = (r: { timedOut?: boolean | undefined }): boolean => r.timedOut === true && patched(TIMED_OUT_FAILS_PATCH);

export interface VerifyHooks {
  /** Run an onUnverified action as the rule run runs its actions (claimed, recorded, templated). */
  run(action: PlannedAction, actionRunId: string): Promise<ActionOutcome | 'claimed_elsewhere'>;
  /** Run the check once; exit code 0 = healthy. */
  check(action: PlannedAction, actionRunId: string): Promise<{ exitCode?: number | null | undefined; error?: string | undefined; timedOut?: boolean | undefined }>;
  /**
   * Why the check must not run now (automation paused where the incident is, its rule not live at the
   * planned version, its environment no longer the rule team's); undefined when it may. Absent: not asked
   * (runs before revision 6).
   */
  mayCheck?: (() => Promise<string | undefined>) | undefined;
}

export interface Verified {
  status: VerificationStatus;
  detail: string;
  /** Outcomes of the onUnverified actions (for the summary note). */
  outcomes: ActionOutcome[];
  /** Settled at once and not recorded yet: the rule outcome records it, in its transaction. */
  unrecorded?: boolean;
  /** Why the check stopped before anything proved the remediation (not_applicable): the run proves nothing. */
  stopped?: string;
}

export interface VerifyOptions {
  /**
   * Leave an outcome settled before any wait (not_applicable) to the caller, which records it along with
   * the rule outcome (revision 1). Runs without a revision record it here, as they did.
   */
  deferSettled?: boolean;
  /** Why the rest of the remediation did not run (an approved one did not start): nothing to verify. */
  stopped?: string | undefined;
}

/**
 * Verify the run's remediation; null when the match ran no action (nothing to verify, nothing recorded).
 * `outcomes` are the ones the run is scored on (its remediation's, workflows/rule-run.ts).
 */
export async function verifyRemediation(input: RuleRunInput, outcomes: readonly ActionOutcome[], ended: string, hooks: VerifyHooks, options: VerifyOptions = {}): Promise<Verified | null> {
  const { plan, incidentId, eventId } = input;
  const ran = outcomes.filter((o) => o.status === 'succeeded' || o.status === 'failed');
  if (plan.decision !== 'run' || ran.length === 0 || ended === 'claimed_elsewhere') return null;
  const record = (status: VerificationStatus, detail: string) =>
    CancellationScope.nonCancellable(() => localDb.recordVerification({ matchId: plan.matchId, status, detail, ...(status === 'pending' ? { incidentId } : {}) }));
  const settled = async (status: VerificationStatus, detail: string): Promise<Verified> => {
    await record(status, detail);
    return { status, detail, outcomes: [] };
  };
  const settledAtOnce = (detail: string): Promise<Verified> =>
    options.deferSettled ? Promise.resolve({ status: 'not_applicable', detail, outcomes: [], unrecorded: true }) : settled('not_applicable', detail);
  const verify = plan.verify;
  if (!verify) return settledAtOnce('the rule declares no verify');
  if (ended !== 'completed') return settledAtOnce('the incident resolved before the actions finished');
  if (ran.some((o) => o.status === 'failed')) return settledAtOnce('an action failed: nothing to verify (the failure counts for the circuit breaker)');
  if (options.stopped !== undefined) return settledAtOnce('the remediation stopped before it finished (an approved action did not start): nothing to verify');

  const atStart = await record('pending', `waiting up to ${verify.withinSeconds} s for incident.resolved${verify.check ? ` or check ${String(verify.check.params.script)} to exit 0` : ''}`);
  // Resolved before the wait began, by someone else than Self-healing (a person while the fix still ran,
  // the rule keeping on after a resolve with cancelOnResolve: false, or a rule on incident.resolved): that
  // resolve came before the remediation ended, so it proves nothing; only the check can. Without one,
  // there is nothing to verify, as when the resolve cancels the run before its actions finish.
  const resolvedBefore = atStart?.resolved === true && !atStart.ownWrite;
  if (resolvedBefore && !verify.check) {
    return settled('not_applicable', `the incident was resolved (at ${atStart.at ?? 'an unknown time'}) before the actions finished, and the rule has no verify.check: nothing can verify the remediation`);
  }
  const started = Date.now();
  const deadline = started + verify.withinSeconds * 1000;
  const settleMs = Math.max(verify.settleSeconds * 1000, Math.ceil((verify.withinSeconds * 1000) / MAX_VERIFY_PASSES));
  let healthy: string | undefined;
  let lastCheck: string | undefined;
  let checks = 0;
  let resolvedByCancel = false;
  // Why the check was refused (hooks.mayCheck): it runs no more, and only a resolve can still prove the remediation.
  let stopped: string | undefined;
  // Resolved by Self-healing's own write-back (this rule's or another's `pagerduty.resolve`): no proof that
  // the remediation worked, so only the check can still prove it. (Results recorded before this existed
  // carry no `ownWrite`, so their runs replay as they ran.)
  let ownResolve = false;
  // Resolved by a person's merge of the incident into another (PagerDuty's resolve_reason; the id of that
  // one, '' unnamed): no proof either, its problem goes on there, so it is taken as our own resolve is. Only
  // results that say `merged` take this way, and none recorded before it existed does: they replay as they ran.
  let mergedInto: string | undefined;
  const resolvedProof = (r: { resolved: boolean; at?: string | undefined; ownWrite?: boolean | undefined; merged?: string | undefined }): string | undefined => {
    // The resolve from before the wait, still standing (one after a reopen is another, and counts).
    if (!r.resolved || (resolvedBefore && r.at === atStart.at)) return undefined;
    if (r.ownWrite || r.merged !== undefined) {
      ownResolve = true;
      mergedInto = r.ownWrite ? undefined : r.merged;
      return undefined;
    }
    return `incident.resolved at ${r.at ?? 'an unknown time'} (seen ${Math.round((Date.now() - started) / 1000)} s after the actions ended)`;
  };
  const notProof = (): string =>
    mergedInto !== undefined
      ? `the incident was merged into ${mergedInto === '' ? 'another incident' : mergedInto} in PagerDuty`
      : "the incident was resolved by Self-healing's own pagerduty.resolve";
  const probe = async (check: PlannedAction): Promise<void> => {
    if (stopped !== undefined) return;
    const refused = await hooks.mayCheck?.();
    if (refused !== undefined) {
      stopped = refused;
      return;
    }
    checks += 1;
    const result = await hooks.check(check, `${incidentId}:${plan.ruleId}:verify-check-${checks}:${eventId}`).catch((err: unknown) => {
      if ((isCancellation(err) || isCancellation((err as { cause?: unknown }).cause)) && patched(CHECK_CANCEL_ENDS_WAIT_PATCH)) {
        lastCheck = 'cancelled while it ran';
        throw err;
      }
      return { exitCode: null, error: messageOf(err), timedOut: false };
    });
    if (result.exitCode === 0 && !timedOutFails(result)) healthy = `check ${String(check.params.script)} exited 0 (run ${checks})`;
    else if (result.timedOut === true) lastCheck = `timed out (exit code ${result.exitCode ?? 'none'})`;
    else lastCheck = result.exitCode !== undefined && result.exitCode !== null ? `exited ${result.exitCode}` : `failed: ${(result.error ?? 'no exit code').split('\n')[0]!.slice(0, 200)}`;
  };
  try {
    while (!healthy && Date.now() < deadline) {
      await sleep(Math.min(settleMs, deadline - Date.now()));
      healthy = resolvedProof(await localDb.incidentResolution({ incidentId }));
      if (healthy) break;
      // Resolved by our own write and nothing else to ask: no proof can come any more.
      if (ownResolve && (!verify.check || stopped !== undefined)) break;
      if (verify.check) await probe(verify.check);
    }
  } catch (err) {
    if (!isCancellation(err) && !isCancellation((err as { cause?: unknown }).cause)) throw err;
    resolvedByCancel = true;
  }

  return CancellationScope.nonCancellable(async () => {
    if (!healthy) {
      // The resolve may have cancelled the wait, or landed after the last probe: Postgres says.
      healthy = resolvedProof(await localDb.incidentResolution({ incidentId }));
      // Cancelled by a resolve of our own making before the check could decide: ask it once more.
      if (!healthy && ownResolve && resolvedByCancel && verify.check) await probe(verify.check);
      else if (!healthy && !ownResolve && !resolvedBefore && resolvedByCancel) log.warn('rule run cancelled during verification while the incident is not resolved', { incidentId, ruleId: plan.ruleId });
    }
    if (healthy) return settled('verified', healthy);
    if (stopped !== undefined) {
      // The check could not finish its work: nothing is proved either way, so onUnverified does not run and
      // the breaker does not count a failure (nor a success: workflows/rule-run.ts wrapUp).
      const script = String(verify.check?.params.script);
      const ran = checks > 0 ? `after run ${checks} (${lastCheck ?? 'not healthy'})` : 'before its first run';
      const why = resolvedBefore
        ? 'the incident was resolved before the actions finished, which proves nothing'
        : ownResolve
          ? `${notProof()}, which proves nothing`
          : `no incident.resolved within ${verify.withinSeconds} s`;
      const detail = `check ${script} stopped ${ran}: ${stopped}; ${why}: not verified, and not counted as a failure`;
      await record('not_applicable', detail);
      return { status: 'not_applicable' as const, detail, outcomes: [], stopped };
    }
    const checked = verify.check ? `; check ${String(verify.check.params.script)} ${lastCheck ?? 'never ran'}${checks > 0 ? ` (${checks} runs)` : ''}` : '';
    const detail = resolvedBefore
      ? `the incident was resolved before the actions finished, which proves nothing about the remediation${checked}`
      : ownResolve
        ? `${notProof()}, which proves nothing about the remediation${verify.check ? checked : '; the rule has no verify.check to prove it'}`
        : `no incident.resolved within ${verify.withinSeconds} s${checked}`;
    await record('unverified', detail);
    const extra: ActionOutcome[] = [];
    for (const action of verify.onUnverified) {
      const outcome = await hooks.run(action, `${incidentId}:${plan.ruleId}:${action.id}:${eventId}`);
      if (outcome !== 'claimed_elsewhere') extra.push(outcome);
    }
    return { status: 'unverified' as const, detail, outcomes: extra };
  });
}

function messageOf(err: unknown): string {
  const cause = (err as { cause?: unknown }).cause ?? err;
  return cause instanceof Error ? cause.message : String(cause);
}
