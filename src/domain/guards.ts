/**
 * Fleet blast radius, flapping and verification as pure decisions (issue 22).
 *
 * - Guards: the operator's limits (SELFHEAL_GUARD_*) and a rule's own `guards` become a list of
 *   {@link GuardSpec}s; the planner counts each in Postgres under one lock and {@link guardViolation}
 *   says whether this remediation would cross it. Crossing one pauses automation (fleet-wide, or for the
 *   environment when the guard is a share of its hosts) until an admin resumes. What is counted is what
 *   automation did or may still do: a remediation settled without any of its actions starting (rejected,
 *   skipped, cancelled before it started) is released and counts no more (src/db/repositories/guards.ts).
 * - Flapping: the same target remediated K times by any rule within a window → {@link flappingViolation}.
 * - Verification: durations of `verify` and what a probe found → {@link verificationAfterProbe}.
 *
 * Pure: no I/O, no clock (times are passed in).
 */
import { NOTIFY_ONLY_TYPES } from './rules/action-kinds.js';

// ---- durations -----------------------------------------------------------------------------------------

const DURATION = /^(\d{1,7})(s|m|h|d)$/;
const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;

/** `90s`, `10m`, `2h`, `1d` (or a bare number of seconds) → seconds; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (/^\d{1,7}$/.test(t)) return Number(t);
  const m = DURATION.exec(t);
  return m ? Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS] : undefined;
}

/** Seconds as the shortest exact duration text (`600` → `10m`). */
export function formatDuration(seconds: number): string {
  if (seconds > 0 && seconds % 86400 === 0) return `${seconds / 86400}d`;
  if (seconds > 0 && seconds % 3600 === 0) return `${seconds / 3600}h`;
  if (seconds > 0 && seconds % 60 === 0) return `${seconds / 60}m`;
  return `${seconds}s`;
}

// ---- what counts as remediation ---------------------------------------------------------------------------

/** An action that changes a system (scripts, PagerDuty state): what guards limit and pauses stop. */
export const isRemediationType = (type: string): boolean => !NOTIFY_ONLY_TYPES.has(type);

// ---- configuration ---------------------------------------------------------------------------------------

/** The operator's guards (src/config.ts); 0 or absent = that guard is off. */
export interface GuardConfig {
  /** SELFHEAL_GUARD_MAX_TARGETS: distinct targets remediated fleet-wide within the window. */
  maxTargets: number;
  /** SELFHEAL_GUARD_MAX_TARGET_PERCENT: share of an environment's known hosts remediated within the window. */
  maxTargetPercent: number;
  /** SELFHEAL_GUARD_WINDOW, in seconds. */
  windowSeconds: number;
  /** SELFHEAL_GUARD_MAX_ACTIONS_PER_MINUTE: remediation actions fleet-wide in any 60 s. */
  maxActionsPerMinute: number;
  /** SELFHEAL_FLAPPING_MAX / SELFHEAL_FLAPPING_WINDOW: remediations of one target that make it flapping. */
  flapping: { max: number; windowSeconds: number };
  /** Where a guard or flapping pages (SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF, SELFHEAL_GUARD_PAGE_EMAIL). */
  page: { slackWebhookRef?: string | undefined; email: string[] };
}

export const DEFAULT_GUARD_CONFIG: GuardConfig = Object.freeze({
  maxTargets: 0,
  maxTargetPercent: 0,
  windowSeconds: 3600,
  maxActionsPerMinute: 0,
  flapping: { max: 5, windowSeconds: 3600 },
  page: { email: [] },
}) as GuardConfig;

/** A rule's own `guards` block, as parsed (durations in text). */
export interface RuleGuards {
  maxTargets?: number | undefined;
  maxTargetPercent?: number | undefined;
  window?: string | undefined;
  flapping?: { max: number; window: string } | undefined;
}

export type GuardScope = 'fleet' | 'environment';
export type GuardKind = 'targets' | 'target_percent' | 'actions_per_minute';

/** One limit to count and compare: its name appears in skip reasons, pauses and pages. */
export interface GuardSpec {
  /** e.g. `fleet.maxTargets`, `environment.maxTargetPercent`, `rule.maxTargets`. */
  name: string;
  kind: GuardKind;
  limit: number;
  windowSeconds: number;
  /** What a crossing pauses. */
  scope: GuardScope;
  /** Count only this rule's remediations (a rule's own guard). */
  ruleOnly: boolean;
}

/** The guards that apply to a remediation in `environment` (undefined: none is known). */
export function guardSpecs(config: GuardConfig, rule: RuleGuards | undefined, environment: string | undefined): GuardSpec[] {
  const specs: GuardSpec[] = [];
  const w = config.windowSeconds;
  if (config.maxTargets > 0) specs.push({ name: 'fleet.maxTargets', kind: 'targets', limit: config.maxTargets, windowSeconds: w, scope: 'fleet', ruleOnly: false });
  if (config.maxTargetPercent > 0 && environment) {
    specs.push({ name: 'environment.maxTargetPercent', kind: 'target_percent', limit: config.maxTargetPercent, windowSeconds: w, scope: 'environment', ruleOnly: false });
  }
  if (config.maxActionsPerMinute > 0) specs.push({ name: 'fleet.maxActionsPerMinute', kind: 'actions_per_minute', limit: config.maxActionsPerMinute, windowSeconds: 60, scope: 'fleet', ruleOnly: false });
  if (rule) {
    const rw = (rule.window !== undefined ? parseDuration(rule.window) : undefined) ?? w;
    if (rule.maxTargets) specs.push({ name: 'rule.maxTargets', kind: 'targets', limit: rule.maxTargets, windowSeconds: rw, scope: 'fleet', ruleOnly: true });
    if (rule.maxTargetPercent && environment) {
      specs.push({ name: 'rule.maxTargetPercent', kind: 'target_percent', limit: rule.maxTargetPercent, windowSeconds: rw, scope: 'environment', ruleOnly: true });
    }
  }
  return specs;
}

/** What was counted for a spec, inside the window (since the last resume of its scope at the earliest). */
export interface GuardCount {
  /** Distinct targets remediated (targets, target_percent), or remediation actions (actions_per_minute). */
  count: number;
  /** True when this remediation's target is already among the counted ones (it adds no new target). */
  targetAlreadyCounted: boolean;
  /** Known hosts of the environment (target_percent). */
  knownHosts: number;
}

export interface GuardViolation {
  guard: string;
  scope: GuardScope;
  reason: string;
}

/** Would this remediation (its target, its `actions` remediation actions) cross the guard? */
export function guardViolation(spec: GuardSpec, counted: GuardCount, run: { target: string | undefined; actions: number; environment: string | undefined }): GuardViolation | undefined {
  const window = formatDuration(spec.windowSeconds);
  const where = spec.scope === 'environment' ? `environment ${run.environment}` : 'the fleet';
  const whose = spec.ruleOnly ? 'by this rule' : 'by any rule';
  const pause = spec.scope === 'environment' ? `automation paused for environment ${run.environment}` : 'automation paused fleet-wide';
  const after = `${pause} until an admin resumes it (POST /api/automation/resume)`;
  switch (spec.kind) {
    case 'targets': {
      const next = counted.count + (run.target && !counted.targetAlreadyCounted ? 1 : 0);
      if (next <= spec.limit) return undefined;
      return { guard: spec.name, scope: spec.scope, reason: `guard ${spec.name}: ${counted.count} distinct targets remediated ${whose} in the last ${window} (max ${spec.limit}); ${after}` };
    }
    case 'target_percent': {
      const hosts = Math.max(counted.knownHosts, 1);
      const next = counted.count + (run.target && !counted.targetAlreadyCounted ? 1 : 0);
      if (next * 100 <= spec.limit * hosts) return undefined;
      return {
        guard: spec.name,
        scope: spec.scope,
        reason: `guard ${spec.name}: remediating ${run.target ?? 'this target'} would make ${next} of ${hosts} known hosts of ${where} in the last ${window} (max ${spec.limit} %); ${after}`,
      };
    }
    case 'actions_per_minute': {
      if (counted.count + run.actions <= spec.limit) return undefined;
      return { guard: spec.name, scope: spec.scope, reason: `guard ${spec.name}: ${counted.count} remediation actions ${whose} in the last minute (max ${spec.limit}); ${after}` };
    }
  }
}

/** The reason a remediation is refused while a pause is in force. */
export function pausedReason(p: { scope: GuardScope; environment: string; guard: string; pausedAt: Date }): string {
  const what = p.scope === 'environment' ? `for environment ${p.environment}` : 'fleet-wide';
  return `guard ${p.guard}: automation paused ${what} since ${p.pausedAt.toISOString()}; only notifications run until an admin resumes it (POST /api/automation/resume)`;
}

// ---- flapping ----------------------------------------------------------------------------------------------

/** The flapping limit for a rule: its own override, else the operator's default (max 0 = off). */
export function flappingLimit(config: GuardConfig, rule: RuleGuards | undefined): { max: number; windowSeconds: number } {
  const own = rule?.flapping;
  if (own) return { max: own.max, windowSeconds: parseDuration(own.window) ?? config.flapping.windowSeconds };
  return config.flapping;
}

/** `remediated`: remediations of the target by any rule within the window. K of them → stop. */
export function flappingViolation(limit: { max: number; windowSeconds: number }, target: string | undefined, remediated: number): string | undefined {
  if (!target || limit.max <= 0 || remediated < limit.max) return undefined;
  return `flapping: ${target} was remediated ${remediated} times in the last ${formatDuration(limit.windowSeconds)} (max ${limit.max}); remediation of it stops and a person is paged`;
}

// ---- verification ---------------------------------------------------------------------------------------

export type VerificationOutcome = 'pending' | 'verified' | 'unverified' | 'not_applicable';

/** Settle delay when `verify.settle` is absent: a tenth of `within`, between 1 s and 60 s. */
export function settleSeconds(withinSeconds: number, settle: number | undefined): number {
  return Math.min(settle ?? Math.max(1, Math.min(60, Math.floor(withinSeconds / 10))), withinSeconds);
}
