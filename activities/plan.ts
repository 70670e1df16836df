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
import { beginBreakerTrial, readBreaker, readBreakerTrial } from '../src/db/repositories/rule-breakers.js';
import { countRunDecisionsSince, findMatch, insertMatch, listRecordedMatchRules } from '../src/db/repositories/rule-matches.js';
import {
  BREAKER_TRIAL_NOTE,
  CLOSED_BREAKER,
  decidePolicies,
  isCurrentTrial,
  leaseSeconds,
  NOTIFY_ONLY_TYPES,
  policyWindows,
  targetOf,
  type PolicyInput,
  type PolicyState,
} from '../src/domain/policies.js';
import { incidentContext, type IncidentFacts } from '../src/domain/rules/incident-context.js';
import { matchRules, RuleIndex } from '../src/domain/rules/rule-index.js';
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
    const plans: RulePlan[] = [];
    // Whether this planning wrote an alert (a guard crossed, a flapping host). A retried step may have
    // written one before it failed, so it delivers too.
    const raised = { alert: opts.retry === true };
    for (const { rule, explanation } of matches) {
      const decided = earlier.get(rule.id);
      earlier.delete(rule.id);
      if (decided === null) continue;
      plans.push(await inTransaction(db, (trx) => planMatch(trx, incident, input, decided ?? rule, explanation, ctx, at, raised)));
    }
    for (const rule of earlier.values()) {
      if (rule) plans.push(await inTransaction(db, (trx) => planMatch(trx, incident, input, rule, null, ctx, at, raised)));
    }
    // Alerts are delivered from here only when this planning raised one, right after its transaction, and
    // only this incident's. What else is owed (a channel that failed, a worker that died) is the worker's
    // sweep's (src/worker.ts, every minute): delivering the backlog from a triage put a channel outage's
    // timeouts on that event's path, 50 alerts at a time.
    if (raised.alert) await deps.deliverAlerts?.({ incidentId: input.incidentId });
    return plans;
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
    ctx: ReturnType<typeof incidentContext>,
    at: Date,
    raised: { alert: boolean },
  ): Promise<RulePlan> {
    // Serialise policy checks per rule (rate limit, breaker), then per target (cooldown, concurrency, which
    // span every rule acting on the host), always in that order, across every worker.
    await advisoryXactLock(trx, `rule:${rule.id}`);
    const env = incident.environment as Record<string, unknown>;
    const { decided, matchId, leaseId, target } = await decideMatch(trx, incident, input, rule, explanation, targetOf(env), at, raised);
    const agentQueue = typeof env.environment === 'string' ? await agentQueueOf(trx, env.environment) : undefined;
    // Where the scripts run is decided here, with the policies, the team check and the approval notice: a
    // later event re-extracting another environment for the incident does not move a planned script.
    const pins: TargetPins = { agentQueue, sshEnvironment: typeof env.environment === 'string' ? env.environment : undefined };
    const { decision } = decided;
    const actions =
      decision === 'skipped'
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
      context: { ...ctx, alerts: ctx.alerts.slice(0, MAX_CONTEXT_ALERTS), rule: { id: rule.id, name: rule.name, version: rule.version } },
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

