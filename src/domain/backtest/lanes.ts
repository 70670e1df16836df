// Building what the engine simulates: a rule definition as one version for the whole window (the
// candidate, treated as enabled), or a stored rule's versions as they were (enabled, disabled, deleted),
// and how long before the window the simulation must start for the policies to have their state. Pure.
import { leaseSeconds } from '../policies.js';
import { parseRuleInput, type Rule, type RuleInput } from '../rules/schema.js';
import type { LaneSpec, RuleVersionSpan } from './types.js';

/** Longest warm-up: policies looking further back than this start empty (said in the docs). */
export const MAX_WARMUP_SECONDS = 7 * 24 * 3600;

/**
 * One definition for the whole window. It is simulated as enabled (a backtest asks what the rule would
 * do); `asLive` also simulates a dry-run rule as if it ran for real, policies included.
 */
export function definitionLane(definition: RuleInput, ids: { id: string; version: number; team?: string | undefined }, opts: { asLive?: boolean } = {}): LaneSpec {
  // The team as the live planner sees it: the stored rule's column, else what the definition says.
  const team = definition.team ?? ids.team;
  const rule = { ...definition, id: ids.id, version: ids.version, enabled: true, ...(team !== undefined ? { team } : {}), ...(opts.asLive ? { dryRun: false } : {}) } as Rule;
  return { versions: [{ from: null, rule, live: true }] };
}

export interface StoredVersion {
  version: number;
  createdAt: Date;
  change: string;
  definition: unknown;
}

/** A stored definition with today's defaults; one that no longer parses is taken as stored. */
function storedRule(id: string, v: StoredVersion, team: string | undefined): Rule {
  const parsed = parseRuleInput(v.definition);
  const definition = parsed.ok ? parsed.value : (v.definition as RuleInput);
  return { ...definition, id, version: v.version, ...(team !== undefined ? { team } : {}) } as Rule;
}

/**
 * A stored rule's versions as they were: each from its creation, live while enabled and not deleted. The
 * version at an instant is the last, in version order, before the first one created after it; given only
 * the versions a span meets (loadRuleVersions), the lane is the same at every instant of that span.
 */
export function versionsLane(ruleId: string, versions: readonly StoredVersion[], team?: string): LaneSpec {
  const sorted = [...versions].sort((a, b) => a.version - b.version);
  const spans: RuleVersionSpan[] = sorted.map((v) => {
    const rule = storedRule(ruleId, v, team);
    return { from: v.createdAt, rule, live: v.change !== 'delete' && rule.enabled !== false };
  });
  return { versions: spans };
}

/** Seconds of history before the window that the policies of these rules look back on. */
export function warmupSeconds(lanes: readonly (LaneSpec | undefined)[]): number {
  let longest = 0;
  for (const lane of lanes) {
    for (const { rule } of lane?.versions ?? []) {
      const p = rule.policies ?? {};
      longest = Math.max(longest, p.rateLimit?.windowSeconds ?? 0, p.cooldownSeconds ?? 0, p.concurrencyPerTarget ? leaseSeconds(rule) : 0);
    }
  }
  return Math.min(longest, MAX_WARMUP_SECONDS);
}
