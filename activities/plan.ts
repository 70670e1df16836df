// Planning an incident event: match the enabled rules against the incident, decide each match with the
// safety policies (src/domain/policies.ts: the same pure decision the backtest simulates with), record
// the match once, take the target's lease for a run, and return what the workflow runs. The facts a
// decision reads come from the repositories, under per-rule and per-target advisory locks.
import type { Kysely, Transaction } from 'kysely';
import type { Database, Incident } from '../src/db/database.js';
import { listEnabledRules, rulesStamp } from '../src/db/repositories/enabled-rules.js';
import { agentQueueOf, environmentPlanning } from '../src/db/repositories/environment-settings.js';
import { findEventPayload, findIncident } from '../src/db/repositories/incidents.js';
import { countActiveLeases, findLeaseOfMatch, leaseTakenSince, releaseLease, takeLease } from '../src/db/repositories/leases.js';
import { advisoryXactLock, inTransaction } from '../src/db/repositories/transactions.js';
import { beginBreakerTrial, lockBreaker, readBreaker, readBreakerTrial, saveBreaker } from '../src/db/repositories/rule-breakers.js';
import { countRunDecisionsSince, findMatch, insertMatch, listRecordedMatchRules, recordBreakerOutcome, recordMatchNotStarted } from '../src/db/repositories/rule-matches.js';
import { releaseUnstartedRemediation } from '../src/db/repositories/guards.js';
import {
  BREAKER_TRIAL_NOTE,
  breakerAfterOutcome,
  CLOSED_BREAKER,
  DEFAULT_BREAKER_THRESHOLD,
  decidePolicies,
  isCurrentTrial,
  leaseSeconds,
  NOTIFY_ONLY_TYPES,
  policyWindows,
  targetOf,
  type PolicyInput,
  type PolicyState,
} from '../src/domain/policies.js';
import { boundContext, contextEssentials, MAX_CONTEXT_BYTES, MAX_PLANS_CONTEXT_BYTES } from '../src/domain/rules/context-budget.js';
import { jsonBytes } from '../src/domain/text.js';
import { incidentContext, type IncidentFacts } from '../src/domain/rules/incident-context.js';
import { matchRules, RuleIndex, ruleTeam } from '../src/domain/rules/rule-index.js';
import { carriesTemplates } from '../src/domain/shell-words.js';
import type { Action, Rule } from '../src/domain/rules/schema.js';
import type { Logger } from '../src/logger.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../src/domain/guards.js';
import { createGuards } from './guards.js';
import { pinnedParams, type TargetPins } from './verification.js';
import { isOwnWrite } from './own-writes.js';
import { verifyPlanOf } from './verification.js';
import type { MatchDecision, MatchPlan, PlannedAction } from './types.js';

/** A plan as matching makes it; triage adds whether PagerDuty write-back is on. */
export type RulePlan = Omit<MatchPlan, 'writeBack'>;
/** A plan before its context is added (withContexts). */
type PlanDraft = Omit<RulePlan, 'context'>;

export interface PlanDeps {
  db: Kysely<Database>;
  logger: Logger;
  now?: () => Date;
  /** Fleet guards and flapping (issue 22); absent: defaults (flapping only). */
  guards?: GuardConfig | undefined;
  /** Send the pages and notes guards owe an incident, after the match's transaction (activities/guards.ts). */
  deliverAlerts?: ((scope: { incidentId: string }) => Promise<number>) | undefined;
}

/** Alerts carried in the template context (the workflow history holds it). */
const MAX_CONTEXT_ALERTS = 5;
/**
 * UTF-8 bytes of JSON the plans of one triage may take together. They travel twice in one workflow task:
 * in the triage local activity's result (a marker, refused past 2 MB) and in the rule runs' starts, all
 * in one request (refused past 4 MB, "GRPC message too large": the task then failed for ever and the
 * incident took no later event). The contexts share MAX_PLANS_CONTEXT_BYTES of it; a plan that still does
 * not fit (a rule whose own actions are that large) is recorded failed and not started.
 */
export const MAX_TRIAGE_PLANS_BYTES = 1024 * 1024;

/** Whether the incident workflow starts a rule run for the plan (workflows/incident-steps.ts startRuleRuns). */
const startsRun = (p: Pick<RulePlan, 'decision' | 'actions'>): boolean => p.decision !== 'skipped' && p.actions.length > 0;

interface PlanInput {
  incidentId: string;
  eventId: string;
  eventType: string;
}

/** A match's decision as the plan carries it (recorded now, or read back on a retry). */
interface MatchDecided {
  decision: MatchDecision;
  reason?: string | undefined;
  breakerTrial?: boolean | undefined;
}

/** Enabled rules, reloaded only when a rule changed (cheap check per incident). */
export function createRuleCache(db: Kysely<Database>) {
  let stamp = '';
  let index = new RuleIndex([]);
  return async function current(): Promise<RuleIndex> {
    const next = await rulesStamp(db);
    if (next !== stamp) {
      index = new RuleIndex(await listEnabledRules(db));
      stamp = next;
    }
    return index;
  };
}

/**
 * Everything {@link decidePolicies} reads for one match, from Postgres. Runs under the rule's and the
 * target's advisory locks, so what it counts cannot change before the match and its lease are recorded.
 */
export async function gatherPolicyFacts(
  trx: Transaction<Database>,
  rule: Rule,
  incident: Incident,
  eventType: string,
  target: string | undefined,
  at: Date,
): Promise<{ input: PolicyInput; state: PolicyState }> {
  const envName = (incident.environment as Record<string, unknown>).environment;
  const windows = policyWindows(rule, at, target);
  const env = typeof envName === 'string' ? await environmentPlanning(trx, envName) : undefined;
  const input: PolicyInput = {
    rule,
    at,
    eventType,
    incidentStatus: incident.status,
    target,
    environmentWindows: env?.windows ?? [],
    environmentTeam: env && typeof envName === 'string' ? { name: envName, team: env.team } : undefined,
  };
  const state: PolicyState = {
    breaker: (await readBreaker(trx, rule.id)) ?? CLOSED_BREAKER,
    runsInRateWindow: windows.rateLimitSince ? await countRunDecisionsSince(trx, rule.id, windows.rateLimitSince) : 0,
    lastRunOnTarget: windows.cooldownSince && target ? await leaseTakenSince(trx, rule.id, target, windows.cooldownSince) : null,
    activeOnTarget: windows.concurrency && target ? await countActiveLeases(trx, target, at) : 0,
  };
  return { input, state };
}

export function createPlanActivities(deps: PlanDeps) {
  const { db } = deps;
  const rules = createRuleCache(db);
  const now = deps.now ?? (() => new Date());
  const guards = createGuards({ guards: deps.guards ?? DEFAULT_GUARD_CONFIG, logger: deps.logger });

  /** Match enabled rules against the incident, apply safety policies, record each match once, return what to run. */
  async function planIncidentActions(input: PlanInput): Promise<RulePlan[]> {
    const incident = await findIncident(db, input.incidentId);
    if (!incident) throw new Error(`incident ${input.incidentId} not stored`);
    return planEvent(input, incident, await findEventPayload(db, input.eventId));
  }

  /**
   * {@link planIncidentActions} for an incident row and event triage holds already (no reading them back).
   * `retry`: this step already ran for the event in this workflow run (a retry after a crash or an error
   * part way), so some matches may be recorded already.
   */
  async function planEvent(input: PlanInput, incident: Incident, event: Record<string, unknown>, opts: { retry?: boolean } = {}): Promise<RulePlan[]> {
    // What an earlier attempt recorded stands, on the rule version it was decided for, even when the rules
    // changed in between or match differently now (a later clock, a disabled rule): otherwise a match
    // recorded `run` would hold its lease with no run to use or release it.
    const earlier = opts.retry ? await recordedRules(input) : new Map<string, Rule | null>();
    // Whether the event is the echo of our own write is asked afresh, and a write sent between two attempts
    // can make a retry say yes where the first attempt said no: matches recorded mean the first attempt
    // found it was not, and that answer stands too.
    if (earlier.size === 0 && (await isOwnWrite(db, input.incidentId, event))) return [];

    const ctx = incidentContext(incident as IncidentFacts, event, input.eventType);
    const at = now();
    const matches = matchRules(await rules(), ctx, at);
    const plans: PlanDraft[] = [];
    // Whether this planning wrote an alert (a guard crossed, a flapping host). A retried step may have
    // written one before it failed, so it delivers too.
    const raised = { alert: opts.retry === true };
    for (const { rule, explanation } of matches) {
      const decided = earlier.get(rule.id);
      earlier.delete(rule.id);
      if (decided === null) continue;
      plans.push(await inTransaction(db, (trx) => planMatch(trx, incident, input, decided ?? rule, explanation, at, raised)));
    }
    for (const rule of earlier.values()) {
      if (rule) plans.push(await inTransaction(db, (trx) => planMatch(trx, incident, input, rule, null, at, raised)));
    }
    // Alerts are delivered from here only when this planning raised one, right after its transaction, and
    // only this incident's. What else is owed (a channel that failed, a worker that died) is the worker's
    // sweep's (src/worker.ts, every minute): delivering the backlog from a triage put a channel outage's
    // timeouts on that event's path, 50 alerts at a time.
    if (raised.alert) await deps.deliverAlerts?.({ incidentId: input.incidentId });
    return withContexts(input, plans, ctx);
  }

  /**
   * Each plan with what its templates see, within the bound of what travels through Temporal: the plans
   * that start a rule run share MAX_PLANS_CONTEXT_BYTES, or what the plans' own actions leave of
   * MAX_TRIAGE_PLANS_BYTES when that is less (each at most MAX_CONTEXT_BYTES; the others carry only the
   * incident's and event's essentials), cut as src/domain/rules/context-budget.ts says, so no number of
   * matched rules multiplies what PagerDuty's alerts put in. A plan that would take the plans past
   * MAX_TRIAGE_PLANS_BYTES all the same (rules whose own actions are that large) is recorded failed and
   * starts nothing.
   */
  async function withContexts(input: PlanInput, drafts: PlanDraft[], ctx: ReturnType<typeof incidentContext>): Promise<RulePlan[]> {
    const full = { ...ctx, alerts: ctx.alerts.slice(0, MAX_CONTEXT_ALERTS) } as unknown as Record<string, unknown>;
    const essentials = contextEssentials(full);
    const runs = drafts.filter(startsRun).length;
    const own = drafts.reduce((n, d) => n + jsonBytes(d) + jsonBytes(essentials) + 64, 0);
    const shared = Math.max(0, Math.min(MAX_PLANS_CONTEXT_BYTES, MAX_TRIAGE_PLANS_BYTES - own));
    const share = Math.min(MAX_CONTEXT_BYTES, Math.floor(shared / Math.max(1, runs)));
    const bounded = runs > 0 ? boundContext(full, share) : undefined;
    if (bounded?.cut) deps.logger.warn({ incidentId: input.incidentId, eventId: input.eventId, plans: runs, bytes: bounded.bytes, budget: share, cut: bounded.cut }, 'template context cut to its budget');
    const plans: RulePlan[] = [];
    let total = 0;
    for (const draft of drafts) {
      const rule = { id: draft.ruleId, name: draft.ruleName, version: draft.ruleVersion };
      let plan: RulePlan = { ...draft, context: { ...(startsRun(draft) && bounded ? bounded.context : essentials), rule } };
      let bytes = jsonBytes(plan);
      if (startsRun(plan) && total + bytes > MAX_TRIAGE_PLANS_BYTES) {
        const reason = `not started: its plan is ${bytes} bytes, and the plans of this event may take ${MAX_TRIAGE_PLANS_BYTES} bytes together (${total} taken); what a rule run's start carries through Temporal is bounded`;
        plan = await notStarted(input, plan, reason);
        bytes = jsonBytes(plan);
      }
      total += bytes;
      plans.push(plan);
    }
    return plans;
  }

  /**
   * A plan decided to run that is not started: its match is recorded `failed` with the reason, its lease
   * released, its remediation no longer counted by the guards, and a circuit-breaker trial it was left for
   * the next match (as a run that ran nothing). It comes back with no actions and the essentials only.
   */
  async function notStarted(input: PlanInput, plan: RulePlan, reason: string): Promise<RulePlan> {
    const at = now();
    await inTransaction(db, async (trx) => {
      await releaseUnstartedRemediation(trx, { matchId: plan.matchId, at, runEnded: true });
      await recordMatchNotStarted(trx, plan.matchId, reason);
      if (plan.leaseId) await releaseLease(trx, plan.leaseId, at);
      if (!plan.breakerTrial) return;
      const stored = await lockBreaker(trx, plan.ruleId);
      if (!stored || !isCurrentTrial({ state: stored.breaker.state, trialMatch: stored.trialMatch }, plan.matchId, true)) return;
      const threshold = stored.failureThreshold ?? DEFAULT_BREAKER_THRESHOLD;
      const { opened, ...next } = breakerAfterOutcome(stored.breaker, 'inconclusive', { threshold, trial: true, at });
      await saveBreaker(trx, plan.ruleId, next);
      await recordBreakerOutcome(trx, plan.matchId, { breaker: next.state, opened, failures: next.consecutiveFailures, threshold });
    });
    deps.logger.error({ incidentId: input.incidentId, eventId: input.eventId, ruleId: plan.ruleId, matchId: plan.matchId, reason }, 'rule run not started: its plan is too large');
    const { leaseId: _lease, breakerTrial: _trial, verify: _verify, ...rest } = plan;
    return { ...rest, decision: 'failed', skipReason: reason, actions: [], context: { ...contextEssentials(plan.context), rule: plan.context.rule } };
  }

  /**
   * The rules an earlier attempt recorded matches of, by id, as they stood when decided; null for a rule
   * whose definition is no longer kept, whose lease (if any) is released here since it can never run.
   */
  async function recordedRules(input: PlanInput): Promise<Map<string, Rule | null>> {
    const recorded = new Map<string, Rule | null>();
    for (const m of await listRecordedMatchRules(db, input)) {
      if (m.definition === null) {
        const leaseId = await findLeaseOfMatch(db, m.matchId);
        if (leaseId) await releaseLease(db, leaseId, now());
        deps.logger.warn({ incidentId: input.incidentId, ruleId: m.ruleId, version: m.version }, 'recorded match of a rule version no longer kept; not run');
        recorded.set(m.ruleId, null);
        continue;
      }
      recorded.set(m.ruleId, { ...(m.definition as Omit<Rule, 'id' | 'version'>), id: m.ruleId, version: m.version, ...(m.team ? { team: m.team } : {}) } as Rule);
    }
    return recorded;
  }

  /** The decision for one match: the recorded one when this step is retried, else decided and recorded now. */
  async function decideMatch(
    trx: Transaction<Database>,
    incident: Incident,
    input: PlanInput,
    rule: Rule,
    explanation: unknown,
    target: string | undefined,
    at: Date,
    raised: { alert: boolean },
  ): Promise<{ decided: MatchDecided; matchId: string; leaseId: string | undefined; target: string | undefined }> {
    const existing = await findMatch(trx, { incidentId: input.incidentId, eventId: input.eventId, ruleId: rule.id });
    if (existing) {
      // A retry of this step (the match is recorded once): the same decision, the same lease.
      const matchId = String(existing.id);
      const breaker = await readBreakerTrial(trx, rule.id);
      const breakerTrial = breaker !== undefined && isCurrentTrial(breaker, matchId, existing.decision === 'run' && Boolean(existing.skip_reason?.startsWith(BREAKER_TRIAL_NOTE)));
      return {
        decided: { decision: existing.decision as MatchDecision, reason: existing.skip_reason ?? undefined, breakerTrial },
        matchId,
        leaseId: await findLeaseOfMatch(trx, matchId),
        // The target it was decided (and its lease taken) for, even if the environment reads differently now.
        target: existing.target ?? undefined,
      };
    }
    if (target) await advisoryXactLock(trx, `target:${target}`);
    const facts = await gatherPolicyFacts(trx, rule, incident, input.eventType, target, at);
    const policy = decidePolicies(facts.input, facts.state);
    // Fleet blast radius and flapping (activities/guards.ts), checked and recorded in this transaction.
    const env = incident.environment as Record<string, unknown>;
    const guard = await guards.checkGuards(trx, {
      rule,
      decided: { decision: policy.decision, skipReason: policy.reason, breakerTrial: policy.breakerTrial },
      incidentId: input.incidentId,
      target,
      host: typeof env.host === 'string' ? env.host : undefined,
      environment: typeof env.environment === 'string' ? env.environment : undefined,
      environmentTeam: facts.input.environmentTeam?.team,
      at,
    });
    raised.alert ||= guard.alerted;
    const decided = guard.decided.decision === policy.decision ? policy : { decision: guard.decided.decision, reason: guard.decided.skipReason, takesLease: false, breakerTrial: false };
    const matchId = await insertMatch(trx, {
      incidentId: input.incidentId,
      eventId: input.eventId,
      ruleId: rule.id,
      ruleVersion: rule.version,
      ruleName: rule.name,
      explanation,
      decision: decided.decision,
      skipReason: decided.reason ?? null,
      target: target ?? null,
    });
    if (decided.breakerTrial) await beginBreakerTrial(trx, rule.id, at, matchId);
    await guard.record(matchId);
    // The lease is what cooldown and concurrency count: taken here, in the match's transaction, under the
    // target's lock; released when the run ends; expiring on its own if the run dies.
    const leaseId =
      decided.takesLease && target
        ? await takeLease(trx, { target, ruleId: rule.id, matchId, incidentId: input.incidentId, at, expiresAt: new Date(at.getTime() + leaseSeconds(rule) * 1000) })
        : undefined;
    deps.logger.info({ incidentId: input.incidentId, ruleId: rule.id, decision: decided.decision, skipReason: decided.reason, target }, 'rule matched');
    return { decided, matchId, leaseId, target };
  }

  async function planMatch(
    trx: Transaction<Database>,
    incident: Incident,
    input: PlanInput,
    rule: Rule,
    explanation: unknown,
    at: Date,
    raised: { alert: boolean },
  ): Promise<PlanDraft> {
    // Serialise policy checks per rule (rate limit, breaker), then per target (cooldown, concurrency, which
    // span every rule acting on the host), always in that order, across every worker.
    await advisoryXactLock(trx, `rule:${rule.id}`);
    const env = incident.environment as Record<string, unknown>;
    const { decided, matchId, leaseId, target } = await decideMatch(trx, incident, input, rule, explanation, targetOf(env), at, raised);
    const agentQueue = typeof env.environment === 'string' ? await agentQueueOf(trx, env.environment) : undefined;
    // Where the scripts run is decided here, with the policies, the team check and the approval notice: a
    // later event re-extracting another environment for the incident does not move a planned script.
    const pins: TargetPins = { agentQueue, sshEnvironment: typeof env.environment === 'string' ? env.environment : undefined, team: ruleTeam(rule) };
    const { decision } = decided;
    // A match recorded failed (a retried triage: its run was not started) runs nothing either.
    const actions =
      decision === 'skipped' || decision === 'failed'
        ? []
        : rule.actions.map((a, index) => plannedAction(a, index, pins)).filter((a) => decision !== 'notify_only' || NOTIFY_ONLY_TYPES.has(a.type));
    return {
      matchId,
      ruleId: rule.id,
      ruleName: rule.name,
      ruleVersion: rule.version,
      decision,
      skipReason: decided.reason,
      target,
      cancelOnResolve: rule.policies?.cancelOnResolve ?? true,
      ...(decided.breakerTrial ? { breakerTrial: true } : {}),
      ...(leaseId ? { leaseId } : {}),
      ...verifyPlanOf(rule, decision, pins),
      actions,
    };
  }

  return { planIncidentActions, planEvent };
}

function plannedAction(action: Action, index: number, pins: TargetPins): PlannedAction {
  const { id, type, when, timeoutSeconds, retry, approval: _approval, ...params } = action as Action & Record<string, unknown>;
  return {
    index,
    id,
    type,
    when,
    params: pinnedParams(type, params, pins),
    timeoutSeconds,
    retry,
    idempotent: 'idempotent' in action ? Boolean(action.idempotent) : undefined,
    approval: approvalOf(action),
    ...(action.type === 'script.ssh' && action.command !== undefined ? { commandTakesData: carriesTemplates(action) } : {}),
  };
}

/**
 * The action's approval gate. A shell command (`script.ssh` with `command`) always has one that rejects
 * on timeout: the rule schema demands it when a rule is saved, and a definition that reached the table
 * another way gets it here anyway.
 */
function approvalOf(action: Action): PlannedAction['approval'] {
  const { approval } = action;
  if (action.type === 'script.ssh' && action.command !== undefined) return { timeoutMinutes: approval?.timeoutMinutes ?? 60, onTimeout: 'reject' };
  return approval ? { timeoutMinutes: approval.timeoutMinutes, onTimeout: approval.onTimeout } : undefined;
}

