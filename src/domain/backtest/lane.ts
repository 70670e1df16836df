// One simulated rule over the replayed history: its versions, and the policy state as it would have
// evolved — its runs for the rate limit, its leases per target for cooldown and concurrency (next to the
// runs other rules really made on the same targets), and its circuit breaker, fed when each simulated run
// ends with the outcome recorded for that incident on that target. Decisions come from
// src/domain/policies.ts, the same function the live planner is to call. Pure.
import {
  breakerAfterOutcome,
  breakerAtTrial,
  breakerThreshold,
  CLOSED_BREAKER,
  decidePolicies,
  leaseSeconds,
  NOTIFY_ONLY_TYPES,
  type BreakerState,
  type PolicyDecision,
  type RunOutcome,
} from '../policies.js';
import { compareRules, evaluateRule, ruleApplies, ruleTeam, type EvaluationContext, type Explanation } from '../rules/index.js';
import type { Rule } from '../rules/schema.js';
import type { TimeWindow } from '../rules/time-window.js';
import { otherRuleKey, type HistoryEvent, type LaneSpec, type OtherRule, type OutcomeKnown, type RecordedMatch, type RuleVersionSpan } from './types.js';

/** Runs other rules really made, by target: when each stops holding it. Shared by every lane of one backtest. */
export class RecordedHolds {
  private readonly ends = new Map<string, number[]>();

  add(target: string, end: number): void {
    const list = this.ends.get(target);
    if (list) list.push(end);
    else this.ends.set(target, [end]);
  }

  /** Holds still active at `at` (pruning the ended ones). */
  active(target: string, at: number): number {
    const list = this.ends.get(target);
    if (!list) return 0;
    const live = list.filter((end) => end > at);
    if (live.length === 0) this.ends.delete(target);
    else if (live.length !== list.length) this.ends.set(target, live);
    return live.length;
  }
}

interface PendingEnd {
  end: number;
  outcome: OutcomeKnown;
  trial: boolean;
}

export interface LaneEventInput {
  ev: HistoryEvent;
  at: Date;
  /** The evaluation context, built on first use (most events are of a type the rule does not take). */
  ctx: () => EvaluationContext;
  serviceId: string | undefined;
  incidentStatus: string;
  target: string | undefined;
  environmentWindows: readonly TimeWindow[];
  /** The environment's team, as the live planner checks it against the rule's. */
  environmentTeam?: { name: string; team: string } | undefined;
}

export interface LaneDecision {
  evaluated: boolean;
  skippedBecause?: string;
  span?: RuleVersionSpan;
  applies: boolean;
  matched: boolean;
  explanation?: Explanation;
  policy?: PolicyDecision;
  /** Actions planned, as written (rendered only for the items reported). */
  actions?: Rule['actions'];
  /** Actions on the success path (`when` success or always). */
  successPathActions?: number;
  outcome?: OutcomeKnown;
  outcomeFrom?: 'this rule' | 'same target' | 'none recorded';
  holdSeconds?: number;
  holdFrom?: 'recorded' | 'assumed';
}

export class Lane {
  private breaker: BreakerState = CLOSED_BREAKER;
  /** Times of this rule's run decisions, ascending (for the rate limit). */
  private runs: number[] = [];
  private readonly lastLease = new Map<string, number>();
  private readonly ownHolds = new RecordedHolds();
  /** Simulated runs not yet ended, by end time ascending. */
  private pending: PendingEnd[] = [];
  private readonly longestRateWindowMs: number;
  /** Some version limits concurrency: holds on targets are kept (and only then). */
  readonly needsHolds: boolean;

  constructor(
    private readonly spec: LaneSpec,
    private readonly opts: { ruleId: string | undefined; otherRules: ReadonlyMap<string, OtherRule>; assumedRunSeconds: number; external: RecordedHolds },
  ) {
    this.longestRateWindowMs = Math.max(0, ...spec.versions.map((v) => (v.rule.policies?.rateLimit?.windowSeconds ?? 0) * 1000));
    this.needsHolds = spec.versions.some((v) => v.rule.policies?.concurrencyPerTarget !== undefined);
  }

  /** The version current at `at` (the spans are in time order). */
  private spanAt(at: number): RuleVersionSpan | undefined {
    let found: RuleVersionSpan | undefined;
    for (const span of this.spec.versions) {
      if (span.from === null || span.from.getTime() <= at) found = span;
      else break;
    }
    return found;
  }

  /** Ends the simulated runs that ended by `at`: their outcomes reach the circuit breaker in end order. */
  private advance(at: number): void {
    while (this.pending.length > 0 && this.pending[0]!.end <= at) {
      const done = this.pending.shift()!;
      if (done.outcome === 'unknown') {
        if (done.trial && this.breaker.state === 'half_open') this.breaker = { ...this.breaker, state: 'open' };
        continue;
      }
      const span = this.spanAt(done.end);
      this.breaker = breakerAfterOutcome(this.breaker, done.outcome, { threshold: span ? breakerThreshold(span.rule) : 3, trial: done.trial, at: new Date(done.end) });
    }
  }

  private addPending(p: PendingEnd): void {
    let i = this.pending.length;
    while (i > 0 && this.pending[i - 1]!.end > p.end) i--;
    this.pending.splice(i, 0, p);
  }

  private runsSince(since: number): number {
    // `runs` is ascending: binary search for the first at or after `since`.
    let lo = 0;
    let hi = this.runs.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.runs[mid]! < since) lo = mid + 1;
      else hi = mid;
    }
    return this.runs.length - lo;
  }

  /**
   * A higher-priority rule of the same team that matched this event first and stops matching (the live
   * matcher stops there; another team's stopOnMatch does not reach this rule).
   */
  private stoppedBy(rule: Rule, matches: readonly RecordedMatch[]): OtherRule | undefined {
    for (const m of matches) {
      if (m.ruleId === rule.id) continue;
      // The version that matched then (its stopOnMatch, priority and name), not the rule as it is now.
      const other = this.opts.otherRules.get(otherRuleKey(m.ruleId, m.ruleVersion)) ?? this.opts.otherRules.get(m.ruleId);
      if (!other || !other.stopOnMatch || other.dryRun || other.team !== ruleTeam(rule)) continue;
      if (compareRules({ priority: other.priority, name: other.name, id: other.id } as Rule, rule) < 0) return other;
    }
    return undefined;
  }

  /** The run recorded for this incident event: this rule's own, else any rule's on the same target. */
  private recordedRun(ev: HistoryEvent, ruleId: string, target: string | undefined) {
    const own = ev.matches.find((m) => m.ruleId === ruleId && m.run);
    if (own) return { match: own, from: 'this rule' as const };
    const same = ev.matches.find((m) => m.run && m.decision === 'run' && (m.target ?? undefined) === target);
    return same ? { match: same, from: 'same target' as const } : undefined;
  }

  decide(input: LaneEventInput): LaneDecision {
    const atMs = input.at.getTime();
    this.advance(atMs);
    if (this.longestRateWindowMs > 0 && this.runs.length > 0 && this.runs[0]! < atMs - this.longestRateWindowMs) {
      this.runs = this.runs.slice(this.runsSinceIndex(atMs - this.longestRateWindowMs));
    }
    const span = this.spanAt(atMs);
    const serviceId = input.serviceId;
    if (!span) return { evaluated: false, skippedBecause: 'the rule did not exist yet', applies: false, matched: false };
    const rule = span.rule;
    const applies = ruleApplies(rule, { serviceId, eventType: input.ev.eventType });
    if (!span.live) return { evaluated: false, skippedBecause: `version ${rule.version} was disabled or deleted`, span, applies, matched: false };
    if (!applies) return { evaluated: false, span, applies, matched: false };
    const stopper = this.stoppedBy(rule, input.ev.matches);
    if (stopper) return { evaluated: false, skippedBecause: `rule ${stopper.name} matched first and stops matching (stopOnMatch)`, span, applies, matched: false };

    const { matched, reasons } = evaluateRule(rule, input.ctx(), input.at);
    if (!matched) return { evaluated: true, span, applies, matched, explanation: reasons };

    const target = input.target;
    const p = rule.policies ?? {};
    const decided = decidePolicies(
      { rule, at: input.at, eventType: input.ev.eventType, incidentStatus: input.incidentStatus, target, environmentWindows: input.environmentWindows, environmentTeam: input.environmentTeam },
      {
        breaker: this.breaker,
        runsInRateWindow: p.rateLimit ? this.runsSince(atMs - p.rateLimit.windowSeconds * 1000) : 0,
        lastRunOnTarget: target !== undefined && this.lastLease.has(target) ? new Date(this.lastLease.get(target)!) : null,
        activeOnTarget: target !== undefined && p.concurrencyPerTarget ? this.ownHolds.active(target, atMs) + this.opts.external.active(target, atMs) : 0,
      },
    );
    const out: LaneDecision = { evaluated: true, span, applies, matched, explanation: reasons, policy: decided };
    if (decided.decision === 'skipped') return out;
    const actions = decided.decision === 'notify_only' ? rule.actions.filter((a) => NOTIFY_ONLY_TYPES.has(a.type)) : rule.actions;
    out.actions = actions;
    out.successPathActions = actions.filter((a) => a.when !== 'failure').length;
    if (decided.decision !== 'run') return out;

    // A run: it counts for the rate limit, takes a lease on its target, and ends with an outcome.
    if (this.longestRateWindowMs > 0) this.runs.push(atMs);
    if (decided.breakerTrial) this.breaker = breakerAtTrial(this.breaker, input.at);
    const recorded = this.recordedRun(input.ev, rule.id, target);
    const run = recorded?.match.run;
    let durationMs: number;
    if (run && (run.endedAt || run.open)) {
      durationMs = run.open || !run.endedAt ? Infinity : Math.max(0, run.endedAt.getTime() - recorded.match.matchedAt.getTime());
      out.holdFrom = 'recorded';
    } else {
      durationMs = this.opts.assumedRunSeconds * 1000;
      out.holdFrom = 'assumed';
    }
    const outcome: OutcomeKnown = run && !run.open ? (run.outcome as RunOutcome) : 'unknown';
    out.outcome = outcome;
    out.outcomeFrom = recorded && run && !run.open ? recorded.from : 'none recorded';
    if (decided.takesLease && target !== undefined) {
      this.lastLease.set(target, atMs);
      const held = Math.min(durationMs, leaseSeconds(rule) * 1000);
      if (this.needsHolds) this.ownHolds.add(target, atMs + held);
      out.holdSeconds = Math.round(held / 1000);
    } else {
      delete out.holdFrom;
    }
    this.addPending({ end: Number.isFinite(durationMs) ? atMs + durationMs : Infinity, outcome, trial: Boolean(decided.breakerTrial) });
    return out;
  }

  private runsSinceIndex(since: number): number {
    return this.runs.length - this.runsSince(since);
  }
}
