import { sql, type Kysely, type Transaction } from 'kysely';
import type { Database, Incident } from '../src/db/database.js';
import { matchRules, RuleIndex } from '../src/domain/rules/rule-index.js';
import { buildContext } from '../src/domain/rules/evaluate.js';
import type { Action, Rule } from '../src/domain/rules/schema.js';
import { inTimeWindow, type TimeWindow } from '../src/domain/rules/time-window.js';
import type { Logger } from '../src/logger.js';
import { NOTE_MARKER } from './action-runs.js';
import type { MatchDecision, MatchPlan, PlannedAction } from './types.js';

/** A plan as matching makes it; triage adds whether PagerDuty write-back is on. */
export type RulePlan = Omit<MatchPlan, 'writeBack'>;

export interface PlanDeps {
  db: Kysely<Database>;
  logger: Logger;
  now?: () => Date;
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

  /** Match enabled rules against the incident, apply safety policies, record each match once, return what to run. */
  async function planIncidentActions(input: { incidentId: string; eventId: string; eventType: string }): Promise<RulePlan[]> {
    const incident = await db.selectFrom('incidents').selectAll().where('id', '=', input.incidentId).executeTakeFirstOrThrow();
    const eventRow = await db.selectFrom('incident_events').select('payload').where('event_id', '=', input.eventId).executeTakeFirst();
    const event = (eventRow?.payload as { event?: Record<string, unknown> } | undefined)?.event ?? {};
    if (isOwnNote(event)) return [];

    const ctx = incidentContext(incident, event, input.eventType);
    const at = now();
    const matches = matchRules(await rules(), ctx, at);
    const plans: RulePlan[] = [];
    for (const { rule, explanation } of matches) {
      plans.push(await db.transaction().execute((trx) => decide(trx, incident, input, rule, explanation, ctx, at)));
    }
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
    // Serialise policy checks per rule across every worker.
    await sql`select pg_advisory_xact_lock(hashtext(${`rule:${rule.id}`}))`.execute(trx);
    const existing = await trx
      .selectFrom('rule_matches')
      .selectAll()
      .where('incident_id', '=', input.incidentId)
      .where('event_id', '=', input.eventId)
      .where('rule_id', '=', rule.id)
      .executeTakeFirst();
    const env = incident.environment as Record<string, unknown>;
    const target = typeof env.host === 'string' ? env.host : typeof env.environment === 'string' ? env.environment : undefined;

    let decision: MatchDecision;
    let skipReason: string | undefined;
    if (existing) {
      decision = existing.decision as MatchDecision;
      skipReason = existing.skip_reason ?? undefined;
    } else {
      ({ decision, skipReason } = await applyPolicies(trx, rule, incident, input.eventType, target, at));
      await trx
        .insertInto('rule_matches')
        .values({
          incident_id: input.incidentId,
          event_id: input.eventId,
          rule_id: rule.id,
          rule_version: rule.version,
          rule_name: rule.name,
          explanation: JSON.stringify(explanation),
          decision,
          skip_reason: skipReason ?? null,
          target: target ?? null,
        })
        .execute();
      deps.logger.info({ incidentId: input.incidentId, ruleId: rule.id, decision, skipReason }, 'rule matched');
    }
    const matchRow = existing ?? (await trx.selectFrom('rule_matches').select('id').where('incident_id', '=', input.incidentId).where('event_id', '=', input.eventId).where('rule_id', '=', rule.id).executeTakeFirstOrThrow());

    const agentQueue = await agentQueueFor(trx, env);
    const actions =
      decision === 'skipped'
        ? []
        : rule.actions.map((a, index) => plannedAction(a, index, agentQueue)).filter((a) => decision !== 'notify_only' || NOTIFY_ONLY_TYPES.has(a.type));
    return {
      matchId: String(matchRow.id),
      ruleId: rule.id,
      ruleName: rule.name,
      ruleVersion: rule.version,
      decision,
      skipReason,
      target,
      cancelOnResolve: rule.policies?.cancelOnResolve ?? true,
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
  ): Promise<{ decision: MatchDecision; skipReason?: string }> {
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

    const state = await trx.selectFrom('rules').select(['breaker_state']).where('id', '=', rule.id).executeTakeFirst();
    if (state?.breaker_state === 'open') return { decision: 'notify_only', skipReason: 'circuit breaker open: only notifications run until an SRE resets it' };

    if (p.rateLimit) {
      const since = new Date(at.getTime() - p.rateLimit.windowSeconds * 1000);
      const n = await countRuns(trx, rule.id, since);
      if (n >= p.rateLimit.max) return { decision: 'skipped', skipReason: `rate limit: ${n} runs in the last ${p.rateLimit.windowSeconds} s (max ${p.rateLimit.max})` };
    }
    if (p.cooldownSeconds && target) {
      const since = new Date(at.getTime() - p.cooldownSeconds * 1000);
      const n = await countRuns(trx, rule.id, since, target);
      if (n > 0) return { decision: 'skipped', skipReason: `cooldown: ${target} was remediated by this rule less than ${p.cooldownSeconds} s ago` };
    }
    if (p.concurrencyPerTarget && target) {
      const running = await trx
        .selectFrom('action_runs')
        .select(sql<string>`count(distinct match_id)::text`.as('n'))
        .where('target', '=', target)
        .where('status', 'in', ['running', 'awaiting_approval'])
        .executeTakeFirstOrThrow();
      if (Number(running.n) >= p.concurrencyPerTarget) return { decision: 'skipped', skipReason: `concurrency: ${running.n} remediation(s) already running on ${target}` };
    }
    return { decision: 'run' };
  }

  return { planIncidentActions };
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
  const { id, type, when, timeoutSeconds, retry, approval, ...params } = action as Action & Record<string, unknown>;
  return {
    index,
    id,
    type,
    when,
    params: { ...params, ...(type === 'script.agent' ? { agentTaskQueue: agentQueue ?? '' } : {}) },
    timeoutSeconds,
    retry,
    idempotent: 'idempotent' in action ? Boolean(action.idempotent) : undefined,
    approval: approval ? { timeoutMinutes: approval.timeoutMinutes, onTimeout: approval.onTimeout } : undefined,
  };
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

function isOwnNote(event: Record<string, unknown>): boolean {
  if (event.event_type !== 'incident.annotated') return false;
  const content = (event.data as { content?: unknown } | undefined)?.content;
  return typeof content === 'string' && content.startsWith(NOTE_MARKER);
}
