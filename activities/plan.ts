import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Incident } from '../src/db/database.js';
import { matchRules, RuleIndex } from '../src/domain/rules/rule-index.js';
import { buildContext } from '../src/domain/rules/evaluate.js';
import type { Action, Rule } from '../src/domain/rules/schema.js';
import { inTimeWindow, type TimeWindow } from '../src/domain/rules/time-window.js';
import type { Logger } from '../src/logger.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../src/domain/guards.js';
import { createGuards } from './guards.js';
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
  /** Send the pages and notes guards owe, after the match's transaction (activities/guards.ts). */
  deliverAlerts?: (() => Promise<number>) | undefined;
}

/** Types that still run while a rule's circuit breaker is open: tell people, never touch systems. */
/** Alerts carried in the template context (the workflow history holds it). */
const MAX_CONTEXT_ALERTS = 5;

const NOTIFY_ONLY_TYPES = new Set(['notify.slack', 'notify.email', 'notify.webhook', 'pagerduty.note', 'pagerduty.escalate', 'workitem']);

/** Enabled rules, reloaded only when a rule changed (cheap check per incident). */
export function createRuleCache(db: Kysely<Database>) {
  let stamp = '';
  let index = new RuleIndex([]);
  return async function current(): Promise<RuleIndex> {
    const s = await db
      .selectFrom('rules')
      .select([sql<string>`coalesce(max(updated_at)::text, '')`.as('at'), sql<string>`count(*)::text`.as('n')])
      .executeTakeFirstOrThrow();
    const next = `${s.at}|${s.n}`;
    if (next !== stamp) {
      const rows = await db.selectFrom('rules').select(['id', 'version', 'definition']).where('deleted_at', 'is', null).where('enabled', '=', true).execute();
      index = new RuleIndex(rows.map((r) => ({ ...(r.definition as Omit<Rule, 'id' | 'version'>), id: r.id, version: r.version }) as Rule));
      stamp = next;
    }
    return index;
  };
}

export function createPlanActivities(deps: PlanDeps) {
  const { db } = deps;
  const rules = createRuleCache(db);
  const now = deps.now ?? (() => new Date());
  const guards = createGuards({ guards: deps.guards ?? DEFAULT_GUARD_CONFIG, logger: deps.logger });

  /** Match enabled rules against the incident, apply safety policies, record each match once, return what to run. */
  async function planIncidentActions(input: { incidentId: string; eventId: string; eventType: string }): Promise<RulePlan[]> {
    const incident = await db.selectFrom('incidents').selectAll().where('id', '=', input.incidentId).executeTakeFirstOrThrow();
    const eventRow = await db.selectFrom('incident_events').select('payload').where('event_id', '=', input.eventId).executeTakeFirst();
    const event = (eventRow?.payload as { event?: Record<string, unknown> } | undefined)?.event ?? {};
    if (await isOwnWrite(db, input.incidentId, event)) return [];

    const ctx = incidentContext(incident, event, input.eventType);
    const at = now();
    const matches = matchRules(await rules(), ctx, at);
    const plans: RulePlan[] = [];
    for (const { rule, explanation } of matches) {
      plans.push(await db.transaction().execute((trx) => decide(trx, incident, input, rule, explanation, ctx, at)));
    }
    await deps.deliverAlerts?.();
    return plans;
  }

  async function decide(
    trx: Transaction<Database>,
    incident: Incident,
    input: { incidentId: string; eventId: string; eventType: string },
    rule: Rule,
    explanation: unknown,
    ctx: ReturnType<typeof buildContext>,
    at: Date,
  ): Promise<RulePlan> {
    // Serialise policy checks per rule (rate limit, breaker), then per target (cooldown, concurrency, which
    // span every rule acting on the host), always in that order, across every worker.
    await advisoryLock(trx, `rule:${rule.id}`);
    const existing = await trx
      .selectFrom('rule_matches')
      .selectAll()
      .where('incident_id', '=', input.incidentId)
      .where('event_id', '=', input.eventId)
      .where('rule_id', '=', rule.id)
      .executeTakeFirst();
    const env = incident.environment as Record<string, unknown>;
    const target = typeof env.host === 'string' ? env.host : typeof env.environment === 'string' ? env.environment : undefined;

    let decided: PolicyDecision;
    let matchId: string;
    let leaseId: string | undefined;
    if (existing) {
      // A retry of this step (the match is recorded once): the same decision, the same lease.
      decided = { decision: existing.decision as MatchDecision, skipReason: existing.skip_reason ?? undefined };
      matchId = String(existing.id);
      const lease = await trx.selectFrom('target_leases').select('id').where('match_id', '=', matchId).executeTakeFirst();
      leaseId = lease ? String(lease.id) : undefined;
      decided.breakerTrial = (await trx.selectFrom('rules').select('breaker_state').where('id', '=', rule.id).executeTakeFirst())?.breaker_state === 'half_open' && existing.decision === 'run' && Boolean(existing.skip_reason?.startsWith(TRIAL_NOTE));
    } else {
      if (target) await advisoryLock(trx, `target:${target}`);
      decided = await applyPolicies(trx, rule, incident, input.eventType, target, at);
      // Fleet blast radius and flapping (activities/guards.ts), checked and recorded in this transaction.
      const guard = await guards.checkGuards(trx, { rule, decided, incidentId: input.incidentId, target, host: typeof env.host === 'string' ? env.host : undefined, environment: typeof env.environment === 'string' ? env.environment : undefined, at });
      decided = guard.decided;
      const row = await trx
        .insertInto('rule_matches')
        .values({
          incident_id: input.incidentId,
          event_id: input.eventId,
          rule_id: rule.id,
          rule_version: rule.version,
          rule_name: rule.name,
          explanation: JSON.stringify(explanation),
          decision: decided.decision,
          skip_reason: decided.skipReason ?? null,
          target: target ?? null,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      matchId = String(row.id);
      await guard.record(matchId);
      if (decided.decision === 'run' && target) {
        // The lease is what cooldown and concurrency count: taken here, in the match's transaction, under
        // the target's lock; released when the run ends; expiring on its own if the run dies.
        const lease = await trx
          .insertInto('target_leases')
          .values({ target, rule_id: rule.id, match_id: matchId, incident_id: input.incidentId, acquired_at: at, expires_at: new Date(at.getTime() + leaseSeconds(rule) * 1000) })
          .returning('id')
          .executeTakeFirstOrThrow();
        leaseId = String(lease.id);
      }
      deps.logger.info({ incidentId: input.incidentId, ruleId: rule.id, decision: decided.decision, skipReason: decided.skipReason, target }, 'rule matched');
    }

    const agentQueue = await agentQueueFor(trx, env);
    const { decision, skipReason } = decided;
    const actions =
      decision === 'skipped'
        ? []
        : rule.actions.map((a, index) => plannedAction(a, index, agentQueue)).filter((a) => decision !== 'notify_only' || NOTIFY_ONLY_TYPES.has(a.type));
    return {
      matchId,
      ruleId: rule.id,
      ruleName: rule.name,
      ruleVersion: rule.version,
      decision,
      skipReason,
      target,
      cancelOnResolve: rule.policies?.cancelOnResolve ?? true,
      ...(decided.breakerTrial ? { breakerTrial: true } : {}),
      ...(leaseId ? { leaseId } : {}),
      ...verifyPlanOf(rule, decision, agentQueue),
      actions,
      context: { ...ctx, alerts: ctx.alerts.slice(0, MAX_CONTEXT_ALERTS), rule: { id: rule.id, name: rule.name, version: rule.version } },
    };
  }

  async function applyPolicies(
    trx: Transaction<Database>,
    rule: Rule,
    incident: Incident,
    eventType: string,
    target: string | undefined,
    at: Date,
  ): Promise<PolicyDecision> {
    const p = rule.policies ?? {};
    if (incident.status === 'resolved' && eventType !== 'incident.resolved') return { decision: 'skipped', skipReason: 'incident already resolved' };
    const windows = [...(p.maintenanceWindows ?? [])] as TimeWindow[];
    const envName = (incident.environment as Record<string, unknown>).environment;
    if (typeof envName === 'string') {
      const envRow = await trx.selectFrom('environments').select('maintenance_windows').where('name', '=', envName).executeTakeFirst();
      windows.push(...((envRow?.maintenance_windows ?? []) as TimeWindow[]));
    }
    if (windows.some((w) => inTimeWindow(w, at))) return { decision: 'skipped', skipReason: 'maintenance window' };
    if (rule.dryRun) return { decision: 'dry_run' };

    // Circuit breaker: open → only notifications, until resetSeconds after it opened (or after the last
    // trial began); then one half-open trial run, whose outcome closes or re-opens it.
    const state = await trx.selectFrom('rules').select(['breaker_state', 'breaker_opened_at']).where('id', '=', rule.id).executeTakeFirst();
    const resetSeconds = p.circuitBreaker?.resetSeconds ?? DEFAULT_BREAKER_RESET_SECONDS;
    let trial = false;
    if (state && state.breaker_state !== 'closed') {
      const since = state.breaker_opened_at ? (at.getTime() - state.breaker_opened_at.getTime()) / 1000 : Infinity;
      if (since < resetSeconds) {
        const until = state.breaker_opened_at ? new Date(state.breaker_opened_at.getTime() + resetSeconds * 1000).toISOString() : 'a reset';
        return {
          decision: 'notify_only',
          skipReason:
            state.breaker_state === 'half_open'
              ? `circuit breaker half-open: a trial run is in progress; only notifications run until it ends`
              : `circuit breaker open: only notifications run until a half-open trial at ${until} (or POST /api/rules/${rule.id}/reset-breaker)`,
        };
      }
      trial = true;
    }

    if (p.rateLimit) {
      const since = new Date(at.getTime() - p.rateLimit.windowSeconds * 1000);
      const n = await countRuns(trx, rule.id, since);
      if (n >= p.rateLimit.max) return { decision: 'skipped', skipReason: `rate limit: ${n} runs in the last ${p.rateLimit.windowSeconds} s (max ${p.rateLimit.max})` };
    }
    const targeted = p.cooldownSeconds !== undefined || p.concurrencyPerTarget !== undefined;
    if (targeted && !target) {
      if ((p.unknownTarget ?? 'skip') === 'skip') {
        return {
          decision: 'skipped',
          skipReason: 'target unknown: no host or environment was extracted, so cooldown and concurrency cannot be applied (policies.unknownTarget: skip)',
        };
      }
    }
    if (p.cooldownSeconds && target) {
      const since = new Date(at.getTime() - p.cooldownSeconds * 1000);
      const recent = await trx.selectFrom('target_leases').select('acquired_at').where('rule_id', '=', rule.id).where('target', '=', target).where('acquired_at', '>', since).executeTakeFirst();
      if (recent) return { decision: 'skipped', skipReason: `cooldown: ${target} was remediated by this rule less than ${p.cooldownSeconds} s ago` };
    }
    if (p.concurrencyPerTarget && target) {
      const running = await trx
        .selectFrom('target_leases')
        .select(sql<string>`count(*)::text`.as('n'))
        .where('target', '=', target)
        .where('released_at', 'is', null)
        .where('expires_at', '>', at)
        .executeTakeFirstOrThrow();
      if (Number(running.n) >= p.concurrencyPerTarget) return { decision: 'skipped', skipReason: `concurrency: ${running.n} remediation(s) already running on ${target} (max ${p.concurrencyPerTarget})` };
    }
    if (trial) {
      await trx.updateTable('rules').set({ breaker_state: 'half_open', breaker_opened_at: at }).where('id', '=', rule.id).execute();
      return { decision: 'run', skipReason: `${TRIAL_NOTE}: the breaker was open for ${resetSeconds} s; this run decides whether it closes`, breakerTrial: true };
    }
    return { decision: 'run' };
  }

  return { planIncidentActions };
}

interface PolicyDecision {
  decision: MatchDecision;
  skipReason?: string | undefined;
  breakerTrial?: boolean | undefined;
}

/** How a half-open trial run is marked in its match's reason. */
const TRIAL_NOTE = 'circuit breaker half-open trial';

/** Seconds an open breaker waits before its half-open trial when the rule's policy does not say. */
export const DEFAULT_BREAKER_RESET_SECONDS = 3600;

async function advisoryLock(trx: Transaction<Database>, key: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext(${key}))`.execute(trx);
}

/**
 * How long a run of `rule` can take at most: every action's approval wait, attempts at its timeout and
 * the pauses between them, an agent's pickup, and a margin. A lease expires after it, so a run that died
 * (a terminated workflow) stops blocking its host by then at the latest.
 */
export function leaseSeconds(rule: Rule): number {
  let total = 300;
  for (const a of rule.actions) {
    const script = a.type.startsWith('script.');
    const timeout = a.timeoutSeconds ?? (script ? 300 : 30);
    const attempts = a.retry?.maximumAttempts ?? (script ? ('idempotent' in a && a.idempotent ? 3 : 1) : 8);
    total += (a.approval ? a.approval.timeoutMinutes * 60 : 0) + (timeout + 5) * attempts + 60 * (attempts - 1) + (a.type === 'script.agent' ? 300 : 0);
  }
  return total;
}

async function countRuns(trx: Transaction<Database>, ruleId: string, since: Date, target?: string): Promise<number> {
  let q = trx
    .selectFrom('rule_matches')
    .select(sql<string>`count(*)::text`.as('n'))
    .where('rule_id', '=', ruleId)
    .where('decision', '=', 'run')
    .where('matched_at', '>=', since);
  if (target) q = q.where('target', '=', target);
  const row = await q.executeTakeFirstOrThrow();
  return Number(row.n);
}

async function agentQueueFor(trx: Transaction<Database>, env: Record<string, unknown>): Promise<string | undefined> {
  if (typeof env.environment !== 'string') return undefined;
  const row = await trx.selectFrom('environments').select('agent_task_queue').where('name', '=', env.environment).executeTakeFirst();
  return row?.agent_task_queue ?? undefined;
}

function plannedAction(action: Action, index: number, agentQueue: string | undefined): PlannedAction {
  const { id, type, when, timeoutSeconds, retry, approval: _approval, ...params } = action as Action & Record<string, unknown>;
  return {
    index,
    id,
    type,
    when,
    params: { ...params, ...(type === 'script.agent' ? { agentTaskQueue: agentQueue ?? '' } : {}) },
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

export function incidentContext(incident: Incident, event: Record<string, unknown>, eventType: string) {
  const environment = { ...(incident.environment as Record<string, unknown>) };
  delete environment.sources;
  return buildContext({
    incident: {
      id: incident.id,
      number: incident.number,
      title: incident.title,
      description: incident.description,
      status: incident.status,
      urgency: incident.urgency,
      priority: incident.priority ? { summary: incident.priority } : null,
      service: { id: incident.service_id, name: incident.service_name, summary: incident.service_name },
      escalationPolicy: { id: incident.escalation_policy_id, name: incident.escalation_policy_name },
      assignees: incident.assignees,
      htmlUrl: incident.html_url,
      html_url: incident.html_url,
      incidentKey: incident.incident_key,
    },
    environment,
    alerts: (incident.alerts ?? []) as unknown[],
    event: { ...event, type: eventType },
  });
}
