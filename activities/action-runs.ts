import type { Kysely, Transaction } from 'kysely';
import type { Database } from '../src/db/database.js';
import type { Db } from '../src/db/repositories/db.js';
import {
  countAttempt,
  findApproval,
  findDecisionState,
  findActionRun,
  findRuleStopped,
  runWaitedForApproval,
  FINISHED_RUN_STATUSES,
  findClaim,
  findPlannedRemediation,
  insertClaim,
  insertSkippedRun,
  recordApprovalIfNone,
  recordRunOutcome,
  RESOLVED_BEFORE_START,
  setApprovalDeadline,
  startApprovedRun,
  APPROVAL_WAITED,
  type ActionRunKey,
} from '../src/db/repositories/action-runs.js';
import { lockGuards, NOT_STARTED_RUN_STATUSES, releaseUnstartedRemediation } from '../src/db/repositories/guards.js';
import { countOtherActiveLeases, extendLease, findRunLease, releaseLease as releaseTargetLease } from '../src/db/repositories/leases.js';
import { beginBreakerTrialIfOpen, lockBreaker, readBreakerOfRun, saveBreaker } from '../src/db/repositories/rule-breakers.js';
import { findBreakerOutcome, recordBreakerOutcome, recordMatchTrialBegun, recordMatchVerification } from '../src/db/repositories/rule-matches.js';
import { advisoryXactLock, inTransaction, tryAdvisoryXactLock } from '../src/db/repositories/transactions.js';
import { approvedTrialReason, breakerAfterOutcome, breakerStopsStart, DEFAULT_BREAKER_RESET_SECONDS, DEFAULT_BREAKER_THRESHOLD, isCurrentTrial, leaseSeconds, leaseSecondsFrom, startBeginsTrial } from '../src/domain/policies.js';
import type { Rule } from '../src/domain/rules/schema.js';
import { DEFAULT_GUARD_CONFIG, isRemediationType, type GuardConfig, type RuleGuards } from '../src/domain/guards.js';
import { errorText, outputText, safeLink } from '../src/domain/agent-result.js';
import { saasRetryPauses } from '../src/domain/retry-pause.js';
import type { Logger } from '../src/logger.js';
import type { Integrations } from './actions.js';
import { createAlertDelivery, createGuards } from './guards.js';
import type { OwnWritesClient } from './own-writes.js';
import { afterAskedPause, usesRetryPauses } from './side-effects.js';
import type { ActionOutcome, ActionStatus, MatchPlan, PlannedAction } from './types.js';
import type { MatchVerification } from './verification.js';

/** An approved action run to start (startApprovedAction). */
interface ApprovedStart {
  actionRunId: string;
  owner: string;
  incidentId?: string | undefined;
  cancelIfResolved?: boolean | undefined;
  action?: { id: string; type: string } | undefined;
}

export interface ActionRunDeps {
  db: Kysely<Database>;
  logger: Logger;
  /** Present when PAGERDUTY_API_TOKEN is set: write-back of notes (and of the guards' alerts). */
  pagerduty?: Pick<OwnWritesClient, 'addNote'> | undefined;
  /** Fleet guards, checked again when an approved remediation starts (issue 22); absent: defaults. */
  guards?: GuardConfig | undefined;
  /** Where a guard crossed at an approved start pages (as the planner's guards do). */
  integrations?: Integrations | undefined;
  env?: NodeJS.ProcessEnv | undefined;
  now?: () => Date;
}

/**
 * What an action run records of a text, null when empty: of its output the end (outputText), of its error
 * the start (`errorText`), each bounded in JSON bytes whatever it holds (NUL and other control characters
 * shown as U+FFFD: Postgres text cannot hold NUL). The rule run gets back exactly this and keeps it.
 */
export function excerpt(s: string | undefined | null, keep: (text: string) => string = outputText): string | null {
  return s ? keep(s) || null : null;
}

/** The key columns of an action run of `plan`; the id doubles as its idempotency key. */
function runKey(actionRunId: string, incidentId: string, plan: MatchPlan, action: PlannedAction): ActionRunKey {
  return {
    id: actionRunId,
    incidentId,
    matchId: plan.matchId,
    ruleId: plan.ruleId,
    ruleVersion: plan.ruleVersion,
    actionIndex: action.index,
    actionId: action.id,
    actionType: action.type,
    target: plan.target ?? null,
  };
}

/**
 * Whether the run's actions must not start once the incident is resolved: the rule is cancelled by a
 * resolve (policies.cancelOnResolve), and the run was started by an event before it (not by the resolve
 * itself, nor by an event on an incident already resolved, which a resolve never cancels).
 */
export function cancelledByResolve(plan: MatchPlan): boolean {
  const context = plan.context as { incident?: { status?: unknown }; event?: { type?: unknown } };
  return plan.cancelOnResolve && context.incident?.status !== 'resolved' && context.event?.type !== 'incident.resolved';
}

/** Whether this action of the run does not start once the incident resolved: the rule's own actions (onUnverified runs after a resolve by design). */
export const cancelIfResolved = (plan: MatchPlan, actionId: string): boolean => cancelledByResolve(plan) && plan.actions.some((a) => a.id === actionId);


/** What a claim found: this run owns the action (maybe finished already), or another run does. */
export type Claim =
  | {
      owned: true;
      status: string;
      finished?: ActionOutcome | undefined;
      /** The action does not start once the incident resolved (absent in claims recorded before it was said). */
      cancelIfResolved?: boolean | undefined;
    }
  | { owned: false; status: string; claimedBy: string | null };

/** The decision recorded for a gated action run, as read back from Postgres. */
export interface RecordedApproval {
  decision: 'approve' | 'reject';
  actor: string;
  at: string;
  comment?: string | undefined;
}

/** The actor of a decision taken because nobody answered in time. */
export const TIMEOUT_ACTOR = 'timeout';

/**
 * Whether an action of a run acts on its target, for concurrency: a remediation, or a webhook (which may
 * start automation there, why notices never go to one: workflows/notices.ts). Notifications to people
 * (Slack, email, PagerDuty notes and escalations, work items) do not.
 */
const actsOnTarget = (type: string): boolean => type === 'notify.webhook' || isRemediationType(type);

export function createActionRunActivities(deps: ActionRunDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const guardConfig = deps.guards ?? DEFAULT_GUARD_CONFIG;
  const guards = createGuards({ guards: guardConfig, logger: deps.logger });
  const deliverAlerts = createAlertDelivery({ db, logger: deps.logger, guards: guardConfig, integrations: deps.integrations, pagerduty: deps.pagerduty, env: deps.env });

  const outcomeOf = (actionRunId: string, action: { id: string; type: string }, row: { status: string; exit_code: number | null; output_excerpt: string | null; link: string | null; error: string | null }): ActionOutcome => ({
    actionRunId,
    actionId: action.id,
    type: action.type,
    status: row.status as ActionStatus,
    exitCode: row.exit_code,
    // Bounded again: a row recorded before the bound in JSON bytes may hold 4,000 control characters (24 KB).
    outputExcerpt: excerpt(row.output_excerpt) ?? undefined,
    link: row.link ?? undefined,
    error: excerpt(row.error, errorText) ?? undefined,
  });

  /**
   * The match's remediation stops counting in the guards' windows if it is settled without any of its
   * remediation actions having started (repositories/guards.ts `releaseUnstartedRemediation`, under the
   * guards' lock): in the caller's transaction when given one (the status write that settled it), else in
   * one of its own.
   */
  const releaseRemediation = (m: { matchId: string } | { actionRunId: string }, o: { trx?: Transaction<Database> | undefined; runEnded?: boolean } = {}): Promise<boolean> => {
    const release = (trx: Transaction<Database>) => releaseUnstartedRemediation(trx, { ...m, at: now(), runEnded: o.runEnded });
    return o.trx ? release(o.trx) : inTransaction(db, release);
  };

  /**
   * A status write that may settle the match's remediation (a remediation action rejected, skipped or
   * cancelled): the guards' lock first, as an approved start takes it before its own write (the same order,
   * so the two never wait on each other), then the write and the release in one transaction. Other writes
   * go as they are.
   */
  const settling = async <T>(type: string, status: string, write: (db: Db) => Promise<T>, release: (trx: Transaction<Database>) => Promise<unknown>): Promise<T> => {
    if (!isRemediationType(type) || !NOT_STARTED_RUN_STATUSES.includes(status)) return write(db);
    return inTransaction(db, async (trx) => {
      await lockGuards(trx);
      const written = await write(trx);
      await release(trx);
      return written;
    });
  };

  /**
   * The run's target lease, held on as its action `index` starts (or is claimed to wait for its approval):
   * until `at` plus what the rest of the run may still take (policies.ts `leaseSecondsFrom`: that action,
   * its approval wait unless `approved`, the later ones, the verification, the margin), under the target's
   * lock the planner decides concurrency under. The lease was sized when the run was planned; a delay before
   * the action (an approval-timeout notice retried through a channel outage, a claim held up by Postgres)
   * would otherwise let it expire under the running action, and another run onto the host. One that expired
   * already is taken on again only when the host has room under the rule's `concurrencyPerTarget`; else the
   * reason the action must not start is returned. No lease (no target), or released: nothing to do.
   */
  async function holdLease(trx: Transaction<Database>, of: { matchId: string } | { actionRunId: string }, o: { index?: number | undefined; approved: boolean; at: Date }): Promise<string | undefined> {
    const found = await findRunLease(trx, of);
    if (!found || found.released_at !== null) return undefined;
    await advisoryXactLock(trx, `target:${found.target}`);
    // Read again under the lock: what a planner deciding for this host sees.
    const lease = (await findRunLease(trx, of))!;
    const rule = lease.definition as (Pick<Rule, 'actions' | 'verify' | 'policies'>) | null;
    if (lease.released_at !== null || !rule) return undefined;
    const limit = rule.policies?.concurrencyPerTarget;
    if (lease.expires_at.getTime() <= o.at.getTime() && limit) {
      const others = await countOtherActiveLeases(trx, lease.target, o.at, lease.id);
      if (others >= limit) {
        return `not run: concurrency: this run's lease on ${lease.target} expired at ${lease.expires_at.toISOString()} before the action started, and ${others} other run(s) hold the host now (max ${limit})`;
      }
    }
    const index = o.index ?? lease.actionIndex ?? 0;
    await extendLease(trx, lease.id, new Date(o.at.getTime() + leaseSecondsFrom(rule, index, { approved: o.approved }) * 1000));
    return undefined;
  }

  /**
   * An action run this run recorded `running` (its claim, or its approved start) in a step that runs again
   * because its worker died before the workflow task completed: the side effect, asked for in that task,
   * was never asked for, so a stop found now (`error`) keeps it from starting, as it would have kept the
   * first run of the step. Recorded skipped with its start cleared, its remediation no longer counted when
   * none of it started (under the guards' lock, in the transaction of the write). What the row says when
   * another run of the step finished it first; undefined when it is not finished.
   */
  async function skipTakenOver(actionRunId: string, owner: string, action: { id: string; type: string }, error: string): Promise<ActionOutcome | undefined> {
    const written = await settling(
      action.type,
      'skipped',
      (tx) => recordRunOutcome(tx, actionRunId, owner, { status: 'skipped', exitCode: null, outputExcerpt: null, link: null, error, at: now(), clearStart: true }),
      (trx) => releaseRemediation({ actionRunId }, { trx }),
    );
    if (written) {
      deps.logger.warn({ actionRunId, reason: error }, 'action taken over after a crash not run');
      return outcomeOf(actionRunId, action, { status: 'skipped', exit_code: null, output_excerpt: null, link: null, error });
    }
    const row = await findClaim(db, actionRunId);
    return row.claimed_by === owner && FINISHED_RUN_STATUSES.includes(row.status) ? outcomeOf(actionRunId, action, row) : undefined;
  }

  /**
   * Claim an action run before any side effect: `insert … on conflict do nothing returning`. The row's
   * `claimed_by` names the claiming run (`<workflowId>/<runId>`); a claim found taken by another run is
   * never executed by this one. Finding its own claim (a retried step, a replayed task after a crash
   * between the claim and the side effect) the run goes on: nothing of it was recorded past the claim;
   * unless it is a remediation whose rule was disabled or deleted meanwhile, which is recorded skipped.
   */
  async function claimAction(input: {
    actionRunId: string;
    incidentId: string;
    plan: MatchPlan;
    action: PlannedAction;
    owner: string;
    workflowId: string;
    reason: string;
    awaitingApproval: boolean;
  }): Promise<Claim> {
    const { plan, action } = input;
    const status = input.awaitingApproval ? 'awaiting_approval' : 'running';
    const guard = cancelIfResolved(plan, action.id);
    const key = runKey(input.actionRunId, input.incidentId, plan, action);
    const at = now();
    const claimed = await inTransaction(db, async (trx) => {
      // The run's lease held on from now for the rest of the run, in the claim's transaction. The rule's
      // verification actions count only what is left of it (the verification).
      const index = plan.actions.some((a) => a.id === action.id) ? action.index : Number.MAX_SAFE_INTEGER;
      const leaseStop = plan.leaseId ? await holdLease(trx, { matchId: plan.matchId }, { index, approved: false, at }) : undefined;
      // Its lease expired before this action started and another run holds the host: what acts on the host
      // does not start (a gated one is checked when it is approved; a notification to people goes on).
      if (leaseStop !== undefined && !input.awaitingApproval && actsOnTarget(action.type)) {
        const found = await findActionRun(trx, input.actionRunId);
        if (!found) {
          await insertSkippedRun(trx, key, { reason: input.reason, owner: input.owner, at, error: leaseStop });
          if (isRemediationType(action.type)) await releaseRemediation({ matchId: plan.matchId }, { trx });
          return { refused: leaseStop as string };
        }
        // Its own claim found again: the worker died after the claim committed and before its workflow task
        // completed, so the side effect, asked for in that task, was never asked for. The lease expired while
        // no worker ran it and another run took the host: it does not start either, as a first claim would
        // not. Before, it ran beside that run. The guards' lock before the write, as `settling` takes it.
        if (found.claimed_by === input.owner && found.status === 'running') {
          if (isRemediationType(action.type)) await lockGuards(trx);
          await recordRunOutcome(trx, input.actionRunId, input.owner, { status: 'skipped', exitCode: null, outputExcerpt: null, link: null, error: leaseStop, at, clearStart: true });
          if (isRemediationType(action.type)) await releaseRemediation({ matchId: plan.matchId }, { trx });
          return { refused: leaseStop as string };
        }
      }
      // A remediation whose run waited for a decision on an earlier action (a gated notification, up to
      // days) starts as an approved one does, checked now: not while automation is paused where it runs or
      // its rule's circuit breaker is open, not after its rule was disabled, deleted or replaced, its
      // environment given to another team, nor across a fleet guard or flapping counted from now. It was
      // planned before that wait, and the checks at planning were all it had: a fix behind an approved
      // notification ran on a paused fleet.
      const firstRemediation = !input.awaitingApproval && isRemediationType(action.type) && !(await findActionRun(trx, input.actionRunId));
      const behindApproval = firstRemediation && (await runWaitedForApproval(trx, plan.matchId));
      // An admin who disables or deletes a rule stops its runs in flight: a remediation of it that has not
      // started does not start (a run that waited for nobody; one behind an approval is checked as an
      // approved start, below). Before, a chain's next script ran after its rule was disabled. Notifications
      // still go as their `when` says; a pause does not stop such a run (the guards counted it when it was
      // planned), nor does an edit (the run finishes the version that planned it).
      const stopped = firstRemediation && !behindApproval ? await findRuleStopped(trx, plan.ruleId) : undefined;
      if (stopped !== undefined) {
        const error = `not run: its rule was ${stopped} while the run went on (version ${plan.ruleVersion} planned it)`;
        await insertSkippedRun(trx, key, { reason: input.reason, owner: input.owner, at, error });
        await releaseRemediation({ matchId: plan.matchId }, { trx });
        return { refused: error };
      }
      const inserted = await insertClaim(trx, key, {
        status: behindApproval ? 'awaiting_approval' : status,
        rendered: action.params,
        startedAt: input.awaitingApproval || behindApproval ? null : at,
        reason: input.reason,
        owner: input.owner,
        workflowId: input.workflowId,
        cancelIfResolved: guard,
      });
      if (!behindApproval || inserted !== 'awaiting_approval') return { inserted };
      // Never seen waiting: the claim and its start are one transaction.
      const start = await startApprovedIn(trx, { actionRunId: input.actionRunId, owner: input.owner, incidentId: input.incidentId, cancelIfResolved: guard, action }, at, 'the run waited for the approval of an earlier action');
      return { inserted: start.row?.status, stopped: start.row?.status === 'running' ? undefined : start.row, paged: start.paged };
    });
    if (claimed.paged) await deliverAlerts({ incidentId: input.incidentId });
    if (claimed.refused !== undefined) {
      deps.logger.warn({ actionRunId: input.actionRunId, incidentId: input.incidentId, reason: claimed.refused }, 'action not run');
      return { owned: true, status: 'skipped', finished: outcomeOf(input.actionRunId, action, { status: 'skipped', exit_code: null, output_excerpt: null, link: null, error: claimed.refused }) };
    }
    if (claimed.stopped) {
      const { status: stoppedAs, error } = claimed.stopped;
      deps.logger.warn({ actionRunId: input.actionRunId, incidentId: input.incidentId, status: stoppedAs, reason: error }, 'remediation after an approved action not run');
      return { owned: true, status: stoppedAs, finished: outcomeOf(input.actionRunId, action, { status: stoppedAs, exit_code: null, output_excerpt: null, link: null, error }) };
    }
    const { inserted } = claimed;
    if (inserted === 'cancelled') {
      // A flapping alert: the resolve was stored before this action started, and its cancellation of the
      // run has not landed yet. The action is not run; it is recorded as the cancellation would have. Its
      // remediation, when none of it started and none is left to come, no longer counts in the guards.
      deps.logger.info({ actionRunId: input.actionRunId, incidentId: input.incidentId }, 'action not run: the incident resolved before it started');
      if (isRemediationType(action.type)) await releaseRemediation({ matchId: plan.matchId });
      return { owned: true, status: inserted, finished: outcomeOf(input.actionRunId, action, { status: inserted, exit_code: null, output_excerpt: null, link: null, error: RESOLVED_BEFORE_START }) };
    }
    // The deadline the rule run is about to announce, known to Postgres, which refuses a decision after it
    // (set again when this claim runs again: the rule run announces its deadline from then).
    const deadline = () => (action.approval ? setApprovalDeadline(db, input.actionRunId, input.owner, { minutes: action.approval.timeoutMinutes, onTimeout: action.approval.onTimeout }) : undefined);
    if (inserted) {
      if (inserted === 'awaiting_approval') await deadline();
      return { owned: true, status, cancelIfResolved: guard };
    }
    const row = await findClaim(db, input.actionRunId);
    if (row.claimed_by !== input.owner) {
      deps.logger.warn({ actionRunId: input.actionRunId, claimedBy: row.claimed_by, owner: input.owner }, 'action run claimed by another run; not executed here');
      return { owned: false, status: row.status, claimedBy: row.claimed_by };
    }
    if (row.status === 'awaiting_approval') await deadline();
    await countAttempt(db, input.actionRunId);
    // Its own claim of a remediation, taken again: the worker died after the claim committed and before its
    // workflow task completed, so the side effect, asked for in that task, was never asked for. A rule
    // disabled or deleted meanwhile (the workers down for as long as that lasted) stops it as it stops a
    // first claim: recorded skipped, never started. Before, the fix ran on the host once a worker was back.
    if (row.status === 'running' && !input.awaitingApproval && isRemediationType(action.type)) {
      const stopped = await findRuleStopped(db, plan.ruleId);
      const finished = stopped === undefined ? undefined : await skipTakenOver(input.actionRunId, input.owner, action, `not run: its rule was ${stopped} while the run went on (version ${plan.ruleVersion} planned it)`);
      if (finished) return { owned: true, status: finished.status, cancelIfResolved: guard, finished };
    }
    return { owned: true, status: row.status, cancelIfResolved: guard, ...(FINISHED_RUN_STATUSES.includes(row.status) ? { finished: outcomeOf(input.actionRunId, action, row) } : {}) };
  }

  /** The decision recorded for a gated action run (by the API, with the authenticated actor), if any. */
  async function readApproval(input: { actionRunId: string }): Promise<RecordedApproval | null> {
    return ((await findApproval(db, input.actionRunId)) as RecordedApproval | null) ?? null;
  }

  /**
   * At the approval deadline: record the rule's `onTimeout` decision unless a person's decision was
   * recorded first (atomically, against the API's own conditional write), and return whichever holds.
   */
  async function settleApproval(input: { actionRunId: string; onTimeout: 'approve' | 'reject' }): Promise<RecordedApproval> {
    const timeout: RecordedApproval = { decision: input.onTimeout, actor: TIMEOUT_ACTOR, at: new Date().toISOString() };
    await recordApprovalIfNone(db, input.actionRunId, timeout);
    const recorded = await readApproval(input);
    return recorded ?? timeout;
  }

  /**
   * The gate opened: the action runs now (status `running`). A rejection is recorded as its outcome. It does
   * not start, returned as finished with the reason recorded:
   * - `cancelled` when the rule is cancelled by a resolve (`cancelIfResolved`, as its claim was) and the
   *   incident resolved while the action waited, as the cancellation on its way would have;
   * - `skipped` when the rule that planned it is disabled, deleted or at another version now (an admin
   *   stopping a rule stops its waiting approvals, `onTimeout: approve` included), and for a remediation when
   *   automation is paused where it runs, its rule's circuit breaker is open (or half-open for another run's
   *   trial), its host started flapping while it waited, or starting it now
   *   would cross a fleet guard: flapping and the guards are checked again, at this moment, under their lock
   *   (the planner counted it when it was planned, maybe days ago); flapping pages and crossing a guard
   *   pauses automation as the planner does. A remediation that starts counts from now.
   */
  async function startApprovedAction(input: ApprovedStart): Promise<{ status?: string | undefined; finished?: ActionOutcome | undefined }> {
    const at = now();
    const { row: started, paged, leaseStop } = await inTransaction(db, (trx) => startApprovedIn(trx, input, at));
    if (paged) await deliverAlerts({ incidentId: input.incidentId });
    if (started === undefined) {
      // Not awaiting approval any more: this call ran before (a local activity runs again when the worker
      // died before its workflow task completed, or a retry after a lost commit reply). Its first answer is
      // read back from the row: a run it recorded cancelled must not be started now, on a resolved incident.
      const row = await findClaim(db, input.actionRunId);
      if (row.claimed_by === input.owner && FINISHED_RUN_STATUSES.includes(row.status) && input.action) {
        return { status: row.status, finished: outcomeOf(input.actionRunId, input.action, row) };
      }
      // Started by that first run, whose worker died before its workflow task completed: the side effect,
      // asked for in that task, was never asked for. A rule disabled, deleted or replaced meanwhile stops it
      // as it would have stopped the start: recorded skipped, never started. Before, it ran once a worker was back.
      // So does a lease that expired while no worker ran it, its host taken by another run meanwhile
      // (startApprovedIn held it on, as for a first start, when it had not).
      if (row.claimed_by === input.owner && row.status === 'running' && input.action) {
        const concurrency = leaseStop !== undefined && actsOnTarget(input.action.type) ? leaseStop.replace(/^not run:/, 'not run when approved:') : undefined;
        const state = concurrency === undefined ? await findDecisionState(db, input.actionRunId) : undefined;
        const planned = state?.ruleNotLive ? await findActionRun(db, input.actionRunId) : undefined;
        const why = concurrency ?? (planned ? `not run: its rule was ${state!.ruleNotLive} while ${APPROVAL_WAITED} (version ${planned.rule_version ?? '?'} planned it)` : undefined);
        const finished = why === undefined ? undefined : await skipTakenOver(input.actionRunId, input.owner, input.action, why);
        if (finished) return { status: finished.status, finished };
      }
      return { status: undefined };
    }
    const { status, error } = started;
    if (status === 'running' || !input.action) return { status };
    deps.logger.warn({ actionRunId: input.actionRunId, incidentId: input.incidentId, status, reason: error }, 'approved action not run');
    return { status, finished: outcomeOf(input.actionRunId, input.action, { status, exit_code: null, output_excerpt: null, link: null, error }) };
  }

  /**
   * startApprovedAction's checks and start, in `trx`: the run `awaiting_approval` becomes `running`, or is
   * recorded skipped or cancelled saying why; `paged` when crossing a guard paused automation (its alerts
   * are delivered after the commit). Also the start of a remediation claimed after an earlier action of its
   * run was decided (claimAction), with `waited` naming that wait in the reasons.
   */
  async function startApprovedIn(
    trx: Transaction<Database>,
    input: ApprovedStart,
    at: Date,
    waited?: string,
  ): Promise<{ row: { status: string; error: string | null } | undefined; paged: boolean; leaseStop?: string | undefined }> {
    const guarded = input.cancelIfResolved && input.incidentId !== undefined ? input.incidentId : undefined;
    // A pause stops what is planned after it; the runs the guards let through before it finish (their budget).
    // An approval, though, is decided later, up to days: given (or timed out to approve) while remediation is
    // paused where the incident is, it starts nothing.
    const pausable = input.action !== undefined && input.incidentId !== undefined && isRemediationType(input.action.type) ? input.incidentId : undefined;
    let paged = false;
    // The target's lock first, as the planner takes it before the guards' lock (never the other way round).
    const leaseStop = await holdLease(trx, { actionRunId: input.actionRunId }, { approved: true, at });
    const planned = pausable !== undefined ? await findPlannedRemediation(trx, input.actionRunId) : undefined;
    const check = planned
      ? await guards.checkApprovedStart(trx, {
          matchId: planned.match_id,
          ruleId: planned.rule_id,
          incidentId: planned.incident_id,
          target: planned.target,
          environment: planned.environment,
          team: planned.team ?? undefined,
          environmentTeam: planned.environment_team ?? undefined,
          actions: planned.actions,
          plannedAt: planned.at,
          released: planned.released_at !== null,
          ruleGuards: (planned.guards ?? undefined) as RuleGuards | undefined,
          at,
        })
      : undefined;
    // The rule's circuit breaker, as the planner deciding now would read it (README: "then only
    // notifications"): a remediation planned while it was closed (or as its trial) and approved after it
    // opened starts nothing, unless it is the half-open trial the breaker waits on or an admin reset it
    // meanwhile. Read as committed, without a lock: the planner's lock on the rule would come here after
    // the target's, the reverse of its order (a deadlock), and the rule's row lock is the outcomes'. None is
    // needed: an outcome that opens the breaker and commits after this read meets this start as it meets
    // any run already started, which finishes; a reset committed after it meets a start refused a moment
    // before it. Before the guards' reason, so a start the breaker stops never pauses automation.
    let breaker = pausable !== undefined ? await readBreakerOfRun(trx, input.actionRunId) : undefined;
    const resetSeconds = breaker?.resetSeconds ?? DEFAULT_BREAKER_RESET_SECONDS;
    // Open and due for its half-open trial: this start is the trial, as the next new match would be. The
    // planner reads the breaker and begins a trial under its lock on the rule, so this start takes that lock
    // too (else both begin one, and two fixes run where the breaker lets one), read again under it. Without
    // waiting: the planner takes it before the target's lock, which this transaction holds already. Not
    // taken, a match of the rule is being decided right now: the whole start is rolled back and retried
    // (the activity's retries), which frees the target's lock the planner may be waiting for; the retry
    // reads the breaker as that match left it (half-open for it: not run; still due: this start takes the
    // trial). Stopping the start there instead lost the approval for good whenever that match did not run
    // (held by this run's own lease, or a decision it only read back).
    // So too half-open on a trial begun longer ago than a run of the rule may take (breakerTrialSeconds, as
    // the planner waits): its run ended without a verdict or was lost (its worker died, it was terminated),
    // and this start takes its place as the next new match would, instead of being skipped for good.
    const trialOf = (b: NonNullable<typeof breaker>) => ({
      matchId: b.matchId,
      plannedAsTrial: b.plannedAsTrial,
      resetSeconds,
      trialSeconds: Math.max(resetSeconds, leaseSeconds(b.rule)),
      at,
    });
    if (breaker && startBeginsTrial(breaker.breaker, trialOf(breaker))) {
      if (!(await tryAdvisoryXactLock(trx, `rule:${breaker.ruleId}`))) throw new BreakerTrialContendedError(breaker.ruleId);
      breaker = await readBreakerOfRun(trx, input.actionRunId);
    }
    const breakerStop = breaker ? breakerStopsStart(breaker.breaker, { ...trialOf(breaker), ruleId: breaker.ruleId, waited: waited ?? APPROVAL_WAITED }) : undefined;
    const beginsTrial = breaker !== undefined && breakerStop === undefined && startBeginsTrial(breaker.breaker, trialOf(breaker));
    const guardStop = check?.crossed !== undefined ? `not run when approved: ${check.crossed}` : undefined;
    // Its lease expired while it waited and another run holds the host: what acts on the host does not
    // start then (a notification to people goes on).
    const concurrencyStop = input.action && actsOnTarget(input.action.type) && leaseStop !== undefined ? leaseStop.replace(/^not run:/, 'not run when approved:') : undefined;
    const row = await startApprovedRun(trx, input.actionRunId, input.owner, at, { cancelIfResolvedOf: guarded, stopIfPausedFor: pausable, breakerStop, guardStop: guardStop ?? concurrencyStop, waited });
    // Started as the trial: recorded as the planner records one, in the transaction of the start, so that
    // this run's outcome alone closes or re-opens the breaker (isCurrentTrial: the trial's match) and no
    // other fix starts meanwhile. A start stopped for another reason begins no trial.
    // The trial it took over as lost may be alive after all (a run of the rule as stored now may take less
    // than when it began): its outcome is counted under the rule's row lock, not the planner's lock, and
    // when it committed after the read above the breaker is no longer as read (re-opened, or closed). Then
    // this start decided `running` on a breaker that is gone: the whole start is rolled back and retried,
    // and decides on the breaker as that outcome left it. Not by taking the row lock before the read: the
    // compare-and-set below takes it anyway, at the same point of the lock order (after the target's and
    // the guards' locks, as recordRuleOutcome takes it after the guards'), and needs no wait before it.
    const took = row?.status === 'running' && beginsTrial && (await beginBreakerTrialIfOpen(trx, breaker!.ruleId, at, breaker!.matchId, breaker!.breaker));
    if (row?.status === 'running' && beginsTrial && !took && breaker!.breaker.state === 'half_open') throw new BreakerTrialContendedError(breaker!.ruleId, "the outcome of the trial it was taking over was counted meanwhile");
    if (took) {
      const b = breaker!;
      const stale = b.breaker.state === 'half_open' ? { trialMatch: b.breaker.trialMatch, trialSeconds: trialOf(b).trialSeconds } : undefined;
      // Its match says so, as a match planned as the trial does: before, it read as an ordinary run.
      await recordMatchTrialBegun(trx, b.matchId, approvedTrialReason(resetSeconds, waited ?? APPROVAL_WAITED, stale));
      if (stale) deps.logger.warn({ ruleId: b.ruleId, matchId: b.matchId, staleTrialMatch: stale.trialMatch, actionRunId: input.actionRunId }, 'circuit breaker half-open trial never ended; an approved fix starts as the next trial');
      else deps.logger.info({ ruleId: b.ruleId, matchId: b.matchId, actionRunId: input.actionRunId }, 'circuit breaker half-open: an approved fix starts as its trial');
    }
    if (row?.status === 'running') await check?.record();
    if (row?.status === 'skipped' && guardStop !== undefined && row.error === guardStop) {
      await check?.pause();
      paged = true;
    }
    // Not started (skipped, cancelled): its remediation no longer counts when none of it started and none
    // is left to come; under the guards' lock checkApprovedStart took, in the transaction of the write.
    if (planned && row && NOT_STARTED_RUN_STATUSES.includes(row.status)) await releaseRemediation({ matchId: planned.match_id }, { trx });
    return { row, paged, leaseStop };
  }

  /** The outcome of a claimed action; only its owner writes it. */
  async function recordActionOutcome(input: ActionOutcome & { owner: string; neverStarted?: boolean | undefined }): Promise<ActionOutcome> {
    const { owner, neverStarted, ...given } = input;
    // Work-item URLs come from the tracker's answer, script links from an agent: kept only when safe. The
    // texts as recorded, and only those, go back to the run (its history, the later actions' inputs, the
    // summary note): whatever a script printed or an agent or a failure said, a few KB.
    const outputExcerpt = excerpt(given.outputExcerpt);
    const error = excerpt(given.error, errorText);
    const outcome: ActionOutcome = { ...given, link: safeLink(given.link), outputExcerpt: outputExcerpt ?? undefined, error: error ?? undefined };
    // A remediation rejected (by a person, or at its deadline) or cancelled before it started may settle
    // its match's remediation, which then no longer counts in the guards (in the same transaction).
    const written = await settling(
      outcome.type,
      outcome.status,
      (tx) =>
        recordRunOutcome(tx, outcome.actionRunId, owner, {
          status: outcome.status,
          exitCode: outcome.exitCode ?? null,
          outputExcerpt,
          link: outcome.link ?? null,
          error,
          at: new Date(),
          // Cancelled (or skipped: its rule stopped while it waited for its agent) before its side effect was
          // scheduled (the rule run knows): its claim or approved start recorded a start that never
          // happened, and a start keeps a remediation counting in the guards.
          clearStart: neverStarted === true && (outcome.status === 'cancelled' || outcome.status === 'skipped'),
        }),
      (trx) => releaseRemediation({ actionRunId: outcome.actionRunId }, { trx }),
    );
    if (written) return outcome;
    // Finished already (a retried write, or the outcome recorded before a cancellation was): what the row
    // says stands, and the run goes on with it.
    const row = await findActionRun(db, outcome.actionRunId);
    if (row && row.claimed_by === owner && FINISHED_RUN_STATUSES.includes(row.status)) return outcomeOf(outcome.actionRunId, { id: outcome.actionId, type: outcome.type }, row);
    return outcome;
  }

  /** An action its `when` (or the rule's cancellation) skipped, with the reason. */
  async function recordActionSkipped(input: {
    actionRunId: string;
    incidentId: string;
    plan: MatchPlan;
    action: PlannedAction;
    reason: string;
    owner: string;
  }): Promise<ActionOutcome> {
    const { plan, action } = input;
    // A remediation skipped may settle its match's remediation (the last one of a fix rejected, or stopped at
    // its approved start): it then no longer counts in the guards (in the same transaction).
    await settling(
      action.type,
      'skipped',
      (tx) => insertSkippedRun(tx, runKey(input.actionRunId, input.incidentId, plan, action), { reason: input.reason, owner: input.owner, at: new Date() }),
      (trx) => releaseRemediation({ matchId: plan.matchId }, { trx }),
    );
    return { actionRunId: input.actionRunId, actionId: action.id, type: action.type, status: 'skipped', error: input.reason };
  }

  /**
   * Circuit breaker bookkeeping: K consecutive failed runs open the breaker; a success resets the count,
   * and a half-open trial's success closes it (its failure re-opens it). An inconclusive run (nothing ran:
   * cancelled, rejected, skipped) changes nothing, except that a trial ending so leaves the breaker open for
   * the next match to try again. Says whether this outcome opened the breaker. A verification settled
   * before any wait (not_applicable) comes along and is recorded in the same transaction: one local
   * activity fewer per run.
   */
  async function recordRuleOutcome(input: {
    ruleId: string;
    /** The run's match: its outcome counts once, however often this step runs (absent in older runs). */
    matchId?: string | undefined;
    outcome: 'succeeded' | 'failed' | 'inconclusive';
    trial?: boolean | undefined;
    verification?: MatchVerification | undefined;
  }): Promise<RuleOutcomeResult> {
    const v = input.verification;
    const result = await inTransaction(db, async (trx) => {
      // The run is over: a remediation none of whose actions started (each rejected, skipped or cancelled
      // before it started) no longer counts in the guards, whichever step recorded it (at the latest here).
      // Before the rule's row lock: the guards' lock, when taken, comes first, as in the planner.
      if (input.matchId) await releaseRemediation({ matchId: input.matchId }, { trx, runEnded: true });
      // The rule's row lock serialises every count for the rule, this match's retries included.
      const stored = await lockBreaker(trx, input.ruleId);
      // Counted already by an earlier run of this step (committed, then the worker died before the
      // workflow took the result): the same answer, nothing counted twice.
      const counted = input.matchId ? await findBreakerOutcome(trx, input.matchId) : undefined;
      if (counted) return counted;
      // Whether or not the rule still exists (a deleted rule has no breaker to update).
      if (v) await recordMatchVerification(trx, v.matchId, { status: v.status, detail: v.detail, at: new Date() });
      if (!stored) return { breaker: 'closed', opened: false, failures: 0, threshold: DEFAULT_BREAKER_THRESHOLD };
      const threshold = stored.failureThreshold ?? DEFAULT_BREAKER_THRESHOLD;
      // Only the run the half-open breaker waits on decides it: a trial left running across an admin's
      // reset (or overtaken after its lease) ends as an ordinary run.
      const trial = isCurrentTrial({ state: stored.breaker.state, trialMatch: stored.trialMatch }, input.matchId, Boolean(input.trial));
      const { opened, ...next } = breakerAfterOutcome(stored.breaker, input.outcome, { threshold, trial, at: new Date() });
      await saveBreaker(trx, input.ruleId, next);
      if (trial && next.state === 'closed') deps.logger.info({ ruleId: input.ruleId }, 'circuit breaker closed after a successful trial');
      if (opened) deps.logger.warn({ ruleId: input.ruleId, failures: next.consecutiveFailures, trial }, 'circuit breaker opened');
      const outcome = { breaker: next.state, opened, failures: next.consecutiveFailures, threshold, trial };
      if (input.matchId) await recordBreakerOutcome(trx, input.matchId, outcome);
      return outcome;
    });
    if (v) deps.logger.info({ matchId: v.matchId, verification: v.status }, 'remediation verification recorded');
    return result;
  }

  /** The run ended: its lease stops counting for concurrency (cooldown counts from the lease's start). */
  async function releaseLease(input: { leaseId: string }): Promise<void> {
    await releaseTargetLease(db, input.leaseId, new Date());
  }

  /** A note on the PagerDuty incident saying what ran and how it went. */
  async function writeBackNote(input: {
    incidentId: string;
    plan: MatchPlan;
    outcomes: ActionOutcome[];
    cancelled?: boolean | undefined;
    verification?: { status: string; detail: string } | undefined;
  }): Promise<{ posted: boolean }> {
    if (!deps.pagerduty || input.outcomes.length === 0) return { posted: false };
    const verification = input.verification ? `\n- verification: ${input.verification.status} — ${input.verification.detail}` : '';
    // Run under the SaaS preset's retry policy (workflows/rule-run.ts: externalApiOptions).
    usesRetryPauses(saasRetryPauses());
    try {
      await deps.pagerduty.addNote(input.incidentId, summariseRun(input.plan, input.outcomes, input.cancelled) + verification);
    } catch (err) {
      // A 429 (or 503) with Retry-After: retried, not before the pause PagerDuty asked for (capped) nor before
      // the retry policy's own.
      throw afterAskedPause(err);
    }
    return { posted: true };
  }

  return {
    claimAction,
    readApproval,
    settleApproval,
    startApprovedAction,
    recordActionOutcome,
    recordActionSkipped,
    recordRuleOutcome,
    releaseLease,
    writeBackNote,
  };
}

export interface RuleOutcomeResult {
  breaker: string;
  /** True when this outcome opened (or re-opened) the breaker. */
  opened: boolean;
  failures: number;
  threshold: number;
  /**
   * Whether this run was counted as the breaker's half-open trial (its failure re-opens the breaker), whoever
   * began it: the planner, or the approved start of its fix. Absent in results recorded before it was kept.
   */
  trial?: boolean | undefined;
}

/** The note text; it starts with a marker so the resulting `incident.annotated` event is never acted on. */
export const NOTE_MARKER = '[self-healing]';

export function summariseRun(plan: MatchPlan, outcomes: ActionOutcome[], cancelled = false): string {
  const lines = [
    `${NOTE_MARKER} Rule "${plan.ruleName}" (v${plan.ruleVersion})${plan.decision === 'dry_run' ? ' [dry-run]' : ''}${plan.target ? ` on ${plan.target}` : ''}${cancelled ? ' was cancelled when the incident resolved' : ''}:`,
  ];
  for (const o of outcomes) {
    const bits = [`${o.actionId} (${o.type}): ${o.status}`];
    if (o.exitCode !== undefined && o.exitCode !== null) bits.push(`exit ${o.exitCode}`);
    const link = safeLink(o.link);
    if (link) bits.push(link);
    if (o.error && o.status !== 'succeeded') bits.push(o.error.split('\n')[0]!.slice(0, 200));
    lines.push(`- ${bits.join(' — ')}`);
  }
  return lines.join('\n').slice(0, 25_000);
}

/**
 * An approved start found its rule's breaker due for its half-open trial while a match of the rule was being
 * decided (the planner holds its lock on the rule), or the stale trial it was taking over had its outcome
 * counted meanwhile: retried, the start reads the breaker as that match (or outcome) left it.
 */
export class BreakerTrialContendedError extends Error {
  constructor(ruleId: string, why = 'a match of the rule is being decided at this moment') {
    super(`rule ${ruleId}'s circuit breaker is due for its half-open trial and ${why}; the start is retried`);
    this.name = 'BreakerTrialContendedError';
  }
}
