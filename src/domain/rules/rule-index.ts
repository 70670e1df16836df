/**
 * Index of rules by PagerDuty service id and event type, so matching an incident only looks at the
 * rules that can apply to it. Rules come out ordered by priority (lower first), then name, then id.
 *
 * Pure: no I/O, safe inside Temporal workflow code.
 */
import { evaluateRule, type EvaluationContext, type Explanation } from './evaluate.js';
import type { Rule } from './schema.js';
import { DEFAULT_TEAM } from '../teams.js';

const ANY = '*';

/** Deterministic order: priority, then name, then id (plain code-unit comparison, no locale). */
export function compareRules(a: Rule, b: Rule): number {
  if (a.priority !== b.priority) return a.priority - b.priority;
  if (a.name !== b.name) return a.name < b.name ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  return 0;
}

/** Merges sorted lists (each already ordered by {@link compareRules}), dropping duplicates. */
function mergeSorted(lists: Rule[][]): Rule[] {
  const nonEmpty = lists.filter((list) => list.length > 0);
  if (nonEmpty.length === 0) return [];
  if (nonEmpty.length === 1) return (nonEmpty[0] as Rule[]).slice();
  const heads = nonEmpty.map(() => 0);
  const out: Rule[] = [];
  const seen = new Set<Rule>();
  for (;;) {
    let best = -1;
    let bestRule: Rule | undefined;
    for (let i = 0; i < nonEmpty.length; i++) {
      const rule = (nonEmpty[i] as Rule[])[heads[i] as number];
      if (rule !== undefined && (bestRule === undefined || compareRules(rule, bestRule) < 0)) {
        best = i;
        bestRule = rule;
      }
    }
    if (bestRule === undefined) return out;
    heads[best] = (heads[best] as number) + 1;
    if (!seen.has(bestRule)) {
      seen.add(bestRule);
      out.push(bestRule);
    }
  }
}

export class RuleIndex {
  /** service id (or '*') → event type (or '*') → rules in order */
  private readonly buckets = new Map<string, Map<string, Rule[]>>();
  private readonly memo = new Map<string, Rule[]>();
  readonly size: number;

  /** Disabled rules are indexed too (candidates include them); {@link matchRules} skips them. */
  constructor(rules: readonly Rule[]) {
    const sorted = [...rules].sort(compareRules);
    for (const rule of sorted) {
      const services = rule.services.includes(ANY) ? [ANY] : [...new Set(rule.services)];
      const eventTypes: readonly string[] = rule.eventTypes.includes(ANY) ? [ANY] : [...new Set(rule.eventTypes)];
      for (const service of services) {
        let byEvent = this.buckets.get(service);
        if (!byEvent) {
          byEvent = new Map();
          this.buckets.set(service, byEvent);
        }
        for (const eventType of eventTypes) {
          const bucket = byEvent.get(eventType);
          if (bucket) bucket.push(rule);
          else byEvent.set(eventType, [rule]);
        }
      }
    }
    this.size = sorted.length;
  }

  /** Rules that apply to this service and event type, ordered by priority then name. */
  candidates(serviceId: string | undefined, eventType: string | undefined): Rule[] {
    const key = `${serviceId ?? ''}\u0000${eventType ?? ''}`;
    const hit = this.memo.get(key);
    if (hit) return hit.slice();
    const lists: Rule[][] = [];
    const services = serviceId === undefined || serviceId === ANY ? [ANY] : [serviceId, ANY];
    for (const service of services) {
      const byEvent = this.buckets.get(service);
      if (!byEvent) continue;
      const forEvent = eventType === undefined || eventType === ANY ? undefined : byEvent.get(eventType);
      if (forEvent) lists.push(forEvent);
      const forAny = byEvent.get(ANY);
      if (forAny) lists.push(forAny);
    }
    const merged = mergeSorted(lists);
    if (this.memo.size >= 10_000) this.memo.clear();
    this.memo.set(key, merged);
    return merged.slice();
  }
}

export interface RuleMatch {
  rule: Rule;
  explanation: Explanation;
}

function targetOf(ctx: EvaluationContext): { serviceId: string | undefined; eventType: string | undefined } {
  const service = ctx.incident.service;
  const serviceId =
    typeof service === 'object' && service !== null && typeof (service as Record<string, unknown>).id === 'string'
      ? ((service as Record<string, unknown>).id as string)
      : typeof ctx.incident.serviceId === 'string'
        ? ctx.incident.serviceId
        : undefined;
  const eventType = typeof ctx.event.type === 'string' ? ctx.event.type : undefined;
  return { serviceId, eventType };
}

/**
 * Rules matching the incident in `ctx` (service from `incident.service.id`, event type from
 * `event.type`), in priority order. Disabled rules are skipped. After a matching rule with
 * `stopOnMatch`, no further rule of its team is evaluated; other teams' rules are (found in review: one
 * team's catch-all rule with stopOnMatch silenced every other team's automation, which that team could
 * not even see). A dry run never stops the rules after it: it must not change what really runs.
 */
export function matchRules(index: RuleIndex, ctx: EvaluationContext, now: Date): RuleMatch[] {
  const { serviceId, eventType } = targetOf(ctx);
  const matches: RuleMatch[] = [];
  const stopped = new Set<string>();
  for (const rule of index.candidates(serviceId, eventType)) {
    if (!rule.enabled || stopped.has(ruleTeam(rule))) continue;
    const { matched, reasons } = evaluateRule(rule, ctx, now);
    if (!matched) continue;
    matches.push({ rule, explanation: reasons });
    if (rule.stopOnMatch && !rule.dryRun) stopped.add(ruleTeam(rule));
  }
  return matches;
}

/** The team a rule belongs to, as stopOnMatch scopes it: `default` when it names none. */
export const ruleTeam = (rule: { team?: string | undefined }): string => rule.team ?? DEFAULT_TEAM;
