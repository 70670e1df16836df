/**
 * A rule's safety policies as one pure decision: given the rule, the time, the incident's status and
 * target, the maintenance windows of its environment and the policy state (the rule's recent runs, the
 * remediations holding the target, the circuit breaker), what happens to a match — run, dry-run,
 * notifications only, or skipped, and by which policy.
 *
 * Two callers decide with it, so they decide the same:
 * - the backtest (src/domain/backtest/) keeps the state itself over simulated time;
 * - the live planner reads the state from Postgres under its locks: {@link policyWindows} says what to
 *   count, {@link decidePolicies} decides, and after the run {@link breakerAfterOutcome} says what the
 *   breaker becomes.
 *
 * The semantics are those of issue 19 ("trust runs"): cooldown and concurrency are per-target leases taken
 * with the match (a lease counts for concurrency until its run ends or it expires after
 * {@link leaseSeconds}); a match whose target is unknown follows `policies.unknownTarget` (default skip,
 * said so) when the rule has a cooldown or a concurrency limit; an open breaker half-opens for one trial
 * run `circuitBreaker.resetSeconds` after it opened. The reason texts are the planner's.
 *
 * Pure: no I/O, no clock (the time is passed in).
 */
import { ACTION_SLACK_SECONDS, AGENT_SCRIPT_PICKUP_SECONDS, SAAS_ATTEMPT_SECONDS, SAAS_MAX_ATTEMPTS, SAAS_PAUSE_CAP_SECONDS, SCRIPT_DEFAULT_TIMEOUT_SECONDS, SCRIPT_STOP_SLACK_SECONDS } from './attempt-slack.js';
import { parseDuration } from './guards.js';
import type { Action, Rule, Verify } from './rules/schema.js';
import { inTimeWindow, type TimeWindow } from './rules/time-window.js';

export type PolicyDecisionKind = 'run' | 'dry_run' | 'skipped' | 'notify_only';

/** Which policy decided, when one did (a run decided by nothing has none). */
export type PolicyKind =
  | 'resolved'
  | 'maintenance_window'
  | 'dry_run'
  | 'breaker_open'
  | 'breaker_half_open'
  | 'breaker_trial'
  | 'rate_limit'
  | 'unknown_target'
  | 'cooldown'
  | 'concurrency'
  | 'other';

export const POLICY_KINDS: readonly PolicyKind[] = [
  'resolved',
  'maintenance_window',
  'dry_run',
  'breaker_open',
  'breaker_half_open',
  'breaker_trial',
  'rate_limit',
  'unknown_target',
  'cooldown',
  'concurrency',
  'other',
];

/** Consecutive failed runs that open a breaker when the rule's policy does not say (every rule has one). */
export const DEFAULT_BREAKER_THRESHOLD = 3;
/** Seconds an open breaker waits before its half-open trial when the rule's policy does not say. */
export const DEFAULT_BREAKER_RESET_SECONDS = 3600;

/** Action types that still run while a rule's breaker is open (defined in rules/action-kinds.ts, which rule validation and workflow code read too). */
export { NOTIFY_ONLY_TYPES } from './rules/action-kinds.js';

/** How the trial run of a half-open breaker is marked in its match's reason. */
export const BREAKER_TRIAL_NOTE = 'circuit breaker half-open trial';

export type BreakerStateName = 'closed' | 'open' | 'half_open';

export interface BreakerState {
  state: BreakerStateName;
  /** When it opened, or when the current trial began (half-open). */
  openedAt: Date | null;
  consecutiveFailures: number;
}

export const CLOSED_BREAKER: BreakerState = Object.freeze({ state: 'closed', openedAt: null, consecutiveFailures: 0 }) as BreakerState;

/** The policies a decision reads; `unknownTarget` is issue 19's field (absent from older schemas: skip). */
/** `verify`: the rule's verification, whose `check` is a script too, run where the rule's scripts run. */
export type PolicyRule = Pick<Rule, 'id' | 'dryRun' | 'actions' | 'verify'> & {
  /** The owning team (issue 24); absent where teams do not matter (a backtest's unsaved rule). */
  team?: string | undefined;
  policies: Rule['policies'] & { unknownTarget?: 'skip' | 'run' | undefined };
};

export interface PolicyInput {
  rule: PolicyRule;
  /** When the match is decided. */
  at: Date;
  eventType: string;
  /** The incident's status after the event was recorded. */
  incidentStatus: string;
  /** `environment.host`, else `environment.environment`, as extracted; undefined when neither was. */
  target: string | undefined;
  /** Maintenance windows of the incident's environment (the environments table). */
  environmentWindows: readonly TimeWindow[];
  /** The incident's registered environment and its team (issue 24); undefined when none is registered. */
  environmentTeam?: { name: string; team: string } | undefined;
}

/** A team skip reason as decidePolicies words it (below): the environment, its team, the rule's team, what it may not do. */
const TEAM_REASON = /^environment (\S+) belongs to team (\S+): a rule of team (\S+) may not (.*)$/s;

/**
 * A skip reason as a reader may see it: the team skip (below) names the environment's team and the rule's,
 * and a team the reader cannot read is said to be "another team" instead. Team names are hidden from who
 * cannot read the team (GET /api/teams leaves it out, its environments are 404), and these reasons reach
 * such readers: a backtest over every service, and an incident's matches, which span teams (found in review:
 * beta's viewer learnt from a backtest that environment pay-vault belongs to team alpha). Stored as written
 * (GET /api/stats counts them as one policy, test/security/stats-teams.test.ts); any other reason is kept.
 */
export function reasonFor<T extends string | null | undefined>(reason: T, canRead: (team: string) => boolean): T {
  const m = typeof reason === 'string' ? TEAM_REASON.exec(reason) : null;
  if (!m) return reason;
  const [, environment, envTeam, ruleTeam, what] = m as unknown as [string, string, string, string, string];
  const env = canRead(envTeam) ? `environment ${environment} belongs to team ${envTeam}` : `environment ${environment} is another team's environment`;
  const rule = canRead(ruleTeam) ? `a rule of team ${ruleTeam}` : "another team's rule";
  return `${env}: ${rule} may not ${what}` as T;
}

/**
 * The agent target check's refusal as it was worded before it left the rule's team out (activities/actions.ts,
 * 96c67e0): 'no environment of team alpha is served on agent queue …', '(rule deleted)' for a rule row gone.
 */
const TEAM_AGENT_REFUSAL = /no environment of team (\(rule deleted\)|[a-z0-9-]*)/g;

/**
 * The Doctor agent's team refusal as it was worded before it left the task's team out (activities/agent.ts,
 * checkAgentTeam, 5128275): '… was not run: this Doctor agent does not serve team alpha (its
 * SELFHEAL_AGENT_TEAMS …'. A verification detail keeps a check's error cut at 200 characters: the name may
 * be cut too, or end the text.
 */
const AGENT_TEAM_REFUSAL = /this Doctor agent does not serve team [a-z0-9-]*/g;

/**
 * Text stored from a refusal as a reader of any team may see it: the two refusals above named a team, and
 * they were stored where every reader of the incident reads them (an action run's error, a match's
 * verification detail: incidents span teams, team names do not). They say "the rule's team" and "the team
 * the task was sent for" now; text stored before is read in those words too. Anything else is kept.
 */
function withoutRefusalTeam<T extends string | null | undefined>(text: T): T {
  if (typeof text !== 'string') return text;
  return text
    .replace(TEAM_AGENT_REFUSAL, (_, team: string) => `no environment of the rule's team${team === '(rule deleted)' ? ' (the rule is gone)' : ''}`)
    .replace(AGENT_TEAM_REFUSAL, 'this Doctor agent does not serve the team the task was sent for') as T;
}

/**
 * An action run's error as any reader may see it: the agent target check's refusal named the rule's team
 * ('no environment of team alpha is served on agent queue …'), and the Doctor agent's the task's ('this
 * Doctor agent does not serve team alpha …'), and action runs reach every reader of the incident (incidents
 * span teams, team names do not). Read without the team (withoutRefusalTeam); any other error is kept.
 */
export function actionErrorFor<T extends string | null | undefined>(error: T): T {
  return withoutRefusalTeam(error);
}

/**
 * A match's verification detail as any reader may see it: it holds the last error of the verification's
 * check (workflows/verify.ts), which may be either refusal of actionErrorFor in its old words, and an
 * incident's matches reach every reader of the incident. Read without the team (withoutRefusalTeam).
 */
export function verificationDetailFor<T extends string | null | undefined>(detail: T): T {
  return withoutRefusalTeam(detail);
}

/** Types that run code on an environment (its Doctor agent or its management VM). */
const SCRIPT_TYPES: ReadonlySet<string> = new Set(['script.agent', 'script.ssh']);

/**
 * Whether the rule runs a script on the incident's environment: one of its actions, or its verification's
 * check (run on the same agent or management VM, without approval). Looking at the actions alone let a rule
 * with only a note and a `verify.check` run that script on another team's environment.
 */
export const runsScripts = (rule: Pick<PolicyRule, 'actions' | 'verify'>): boolean =>
  rule.actions.some((a) => SCRIPT_TYPES.has(a.type)) || (rule.verify?.check !== undefined && SCRIPT_TYPES.has(rule.verify.check.type));

/**
 * Types that change the incident in PagerDuty. Resolving one cancels every team's rule runs on it, waiting
 * approvals included (which is why marking one resolved by hand is a global admin's); acknowledging or
 * reprioritising it changes how its own team is paged.
 */
const INCIDENT_CHANGE_TYPES: ReadonlySet<string> = new Set(['pagerduty.acknowledge', 'pagerduty.resolve', 'pagerduty.priority']);

/** Whether the rule changes the incident itself in PagerDuty (see {@link INCIDENT_CHANGE_TYPES}). */
export const changesIncident = (rule: Pick<PolicyRule, 'actions'>): boolean => rule.actions.some((a) => INCIDENT_CHANGE_TYPES.has(a.type));

export interface PolicyState {
  breaker: BreakerState;
  /** Run decisions of this rule (any version) at or after {@link PolicyWindows.rateLimitSince}. */
  runsInRateWindow: number;
  /** When this rule last took a lease on the target, if after {@link PolicyWindows.cooldownSince}. */
  lastRunOnTarget: Date | null;
  /** Leases on the target that are held at `at` (not released, not expired), of every rule. */
  activeOnTarget: number;
}

export interface PolicyWindows {
  /** Count this rule's run decisions from here (inclusive); absent without a rate limit. */
  rateLimitSince?: Date;
  /** Look for this rule's lease on the target after this instant (exclusive); absent without a cooldown or target. */
  cooldownSince?: Date;
  /** Whether the target's active leases must be counted. */
  concurrency: boolean;
}

export interface PolicyDecision {
  decision: PolicyDecisionKind;
  /** The policy that decided (absent for a plain run). */
  policy?: PolicyKind;
  /** The reason recorded with the match (`rule_matches.skip_reason`). */
  reason?: string;
  /** This run is the half-open trial: record the breaker `half_open` with `openedAt = at`. */
  breakerTrial?: boolean;
  /** A lease on the target is taken with this match (a run with a known target). */
  takesLease?: boolean;
}

/** Where a match's cooldown, concurrency and lease apply: the extracted host, else the environment's name. */
export function targetOf(environment: Record<string, unknown>): string | undefined {
  return typeof environment.host === 'string' ? environment.host : typeof environment.environment === 'string' ? environment.environment : undefined;
}

/** What the live planner must read for {@link decidePolicies} at `at`. */
export function policyWindows(rule: PolicyRule, at: Date, target: string | undefined): PolicyWindows {
  const p = rule.policies ?? {};
  return {
    ...(p.rateLimit ? { rateLimitSince: new Date(at.getTime() - p.rateLimit.windowSeconds * 1000) } : {}),
    ...(p.cooldownSeconds && target ? { cooldownSince: new Date(at.getTime() - p.cooldownSeconds * 1000) } : {}),
    concurrency: Boolean(p.concurrencyPerTarget && target),
  };
}

export function breakerResetSeconds(rule: PolicyRule): number {
  return rule.policies?.circuitBreaker?.resetSeconds ?? DEFAULT_BREAKER_RESET_SECONDS;
}

/**
 * How long a half-open breaker waits on its trial: the longest the trial's run may take (its lease, approval
 * wait included), and never less than `resetSeconds`. A trial begun longer ago can no longer be running: its
 * run ended without a verdict or was lost (its worker died, it was terminated), and another may take its place.
 */
export function breakerTrialSeconds(rule: PolicyRule): number {
  return Math.max(breakerResetSeconds(rule), leaseSeconds(rule));
}

export function breakerThreshold(rule: PolicyRule): number {
  return rule.policies?.circuitBreaker?.failureThreshold ?? DEFAULT_BREAKER_THRESHOLD;
}

/** The first window containing `at`: the rule's own, then its environment's. */
export function activeWindow(rule: PolicyRule, environmentWindows: readonly TimeWindow[], at: Date): TimeWindow | undefined {
  return [...((rule.policies?.maintenanceWindows ?? []) as TimeWindow[]), ...environmentWindows].find((w) => inTimeWindow(w, at));
}

/**
 * The decision for one match. Order: incident already resolved, maintenance windows (the rule's and its
 * environment's), dry-run, circuit breaker, rate limit, unknown target, cooldown, concurrency.
 */
export function decidePolicies(input: PolicyInput, state: PolicyState): PolicyDecision {
  const { rule, at, target } = input;
  const p = rule.policies ?? {};
  if (input.incidentStatus === 'resolved' && input.eventType !== 'incident.resolved') {
    return { decision: 'skipped', policy: 'resolved', reason: 'incident already resolved' };
  }
  // Teams (issue 24): a rule runs scripts, and changes incidents, only on its own team's environments. A
  // team's editor could otherwise resolve every team's incidents (services "*"), cancelling their runs.
  const envTeam = input.environmentTeam;
  if (envTeam !== undefined && rule.team !== undefined && envTeam.team !== rule.team) {
    if (runsScripts(rule)) return { decision: 'skipped', policy: 'other', reason: `environment ${envTeam.name} belongs to team ${envTeam.team}: a rule of team ${rule.team} may not run scripts there` };
    if (changesIncident(rule)) {
      return { decision: 'skipped', policy: 'other', reason: `environment ${envTeam.name} belongs to team ${envTeam.team}: a rule of team ${rule.team} may not acknowledge, resolve or reprioritise its incidents` };
    }
  }
  if (activeWindow(rule, input.environmentWindows, at)) return { decision: 'skipped', policy: 'maintenance_window', reason: 'maintenance window' };
  if (rule.dryRun) return { decision: 'dry_run', policy: 'dry_run' };

  const resetSeconds = breakerResetSeconds(rule);
  let trial = false;
  if (state.breaker.state !== 'closed') {
    const openedAt = state.breaker.openedAt;
    const since = openedAt ? (at.getTime() - openedAt.getTime()) / 1000 : Infinity;
    // Half-open, a trial is going since openedAt: another starts only once that one cannot be running any
    // more (its lease: approval wait, retries, verification), not after resetSeconds alone. A trial waiting
    // an hour for its approval was overtaken by a second one, and their outcomes crossed.
    const wait = state.breaker.state === 'half_open' ? breakerTrialSeconds(rule) : resetSeconds;
    if (since < wait) {
      const until = openedAt ? new Date(openedAt.getTime() + resetSeconds * 1000).toISOString() : 'a reset';
      return state.breaker.state === 'half_open'
        ? { decision: 'notify_only', policy: 'breaker_half_open', reason: 'circuit breaker half-open: a trial run is in progress; only notifications run until it ends' }
        : {
            decision: 'notify_only',
            policy: 'breaker_open',
            reason: `circuit breaker open: only notifications run until a half-open trial at ${until} (or POST /api/rules/${rule.id}/reset-breaker)`,
          };
    }
    trial = true;
  }

  if (p.rateLimit && state.runsInRateWindow >= p.rateLimit.max) {
    return {
      decision: 'skipped',
      policy: 'rate_limit',
      reason: `rate limit: ${state.runsInRateWindow} runs in the last ${p.rateLimit.windowSeconds} s (max ${p.rateLimit.max})`,
    };
  }
  const targeted = p.cooldownSeconds !== undefined || p.concurrencyPerTarget !== undefined;
  if (targeted && !target && (p.unknownTarget ?? 'skip') === 'skip') {
    return {
      decision: 'skipped',
      policy: 'unknown_target',
      reason: 'target unknown: no host or environment was extracted, so cooldown and concurrency cannot be applied (policies.unknownTarget: skip)',
    };
  }
  if (p.cooldownSeconds && target && state.lastRunOnTarget && at.getTime() - state.lastRunOnTarget.getTime() < p.cooldownSeconds * 1000) {
    return { decision: 'skipped', policy: 'cooldown', reason: `cooldown: ${target} was remediated by this rule less than ${p.cooldownSeconds} s ago` };
  }
  if (p.concurrencyPerTarget && target && state.activeOnTarget >= p.concurrencyPerTarget) {
    return {
      decision: 'skipped',
      policy: 'concurrency',
      reason: `concurrency: ${state.activeOnTarget} remediation(s) already running on ${target} (max ${p.concurrencyPerTarget})`,
    };
  }
  const takesLease = target !== undefined;
  if (trial) {
    return {
      decision: 'run',
      policy: 'breaker_trial',
      reason: `${BREAKER_TRIAL_NOTE}: the breaker was open for ${resetSeconds} s; this run decides whether it closes`,
      breakerTrial: true,
      takesLease,
    };
  }
  return { decision: 'run', takesLease };
}

/**
 * Whether a run planned as a trial (`plannedAsTrial`, match `matchId`) is the breaker's current one: the
 * breaker is half-open and the trial it waits on is that match's. A trial not named by its match (begun
 * by a release before trials were; a run without a match id) is told by the plan alone, as then.
 */
export function isCurrentTrial(breaker: { state: BreakerStateName; trialMatch: string | null }, matchId: string | undefined, plannedAsTrial: boolean): boolean {
  if (breaker.state !== 'half_open') return false;
  // A trial named by its match is that match's run, whoever began it: the planner, or an approved start
  // that found the breaker due for its trial ({@link breakerStopsStart}) in a run not planned as one.
  if (breaker.trialMatch !== null && matchId !== undefined) return breaker.trialMatch === matchId;
  return plannedAsTrial;
}

/**
 * Whether an open breaker is due for its half-open trial at `at`: `resetSeconds` have passed since it
 * opened (or since its last trial began, which ended without a verdict) and no trial has begun since, as
 * {@link decidePolicies} lets a new match through as the trial.
 */
export function breakerTrialDue(breaker: BreakerState, resetSeconds: number, at: Date): boolean {
  if (breaker.state !== 'open') return false;
  return breaker.openedAt === null || at.getTime() - breaker.openedAt.getTime() >= resetSeconds * 1000;
}

/**
 * Whether a half-open breaker's trial can no longer be running at `at`: it began (`openedAt`) at least
 * `trialSeconds` ({@link breakerTrialSeconds}) ago, so its run ended without a verdict or was lost, and the
 * breaker, left half-open on it, would otherwise wait for it for ever. {@link decidePolicies} lets a new
 * match through as the next trial then; an approved start ({@link breakerStopsStart}) starts as it.
 */
export function breakerTrialStale(breaker: BreakerState, trialSeconds: number, at: Date): boolean {
  if (breaker.state !== 'half_open') return false;
  return breaker.openedAt === null || at.getTime() - breaker.openedAt.getTime() >= trialSeconds * 1000;
}

/**
 * Whether the approved start of run `run` begins a new half-open trial (its caller records it): the breaker
 * is open and due for its trial ({@link breakerTrialDue}), or half-open on another run's trial that can no
 * longer be running ({@link breakerTrialStale}).
 */
export function startBeginsTrial(
  breaker: BreakerState & { trialMatch: string | null },
  run: { matchId: string; plannedAsTrial: boolean; resetSeconds: number; trialSeconds: number; at: Date },
): boolean {
  if (breakerTrialDue(breaker, run.resetSeconds, run.at)) return true;
  return breakerTrialStale(breaker, run.trialSeconds, run.at) && !isCurrentTrial(breaker, run.matchId, run.plannedAsTrial);
}

/**
 * The reason recorded with a match whose run became the breaker's half-open trial at the approved start
 * of its remediation (activities/action-runs.ts), not when it was planned: what the match says instead of
 * nothing, as a match the planner lets through as the trial says {@link BREAKER_TRIAL_NOTE}. Worded so that
 * it does not begin with that note, which tells a trial the planner decided (`plannedAsTrial`, and the
 * backtest's reading of recorded decisions, {@link policyOfRecorded}): the planner decided a plain run.
 */
export function approvedTrialReason(resetSeconds: number, waited: string, stale?: { trialMatch: string | null; trialSeconds: number }): string {
  const why = stale
    ? `the breaker's previous trial${stale.trialMatch !== null ? ` (match ${stale.trialMatch})` : ''} began more than ${stale.trialSeconds} s ago, longer than its run may take, and never ended`
    : `the breaker had been open for at least ${resetSeconds} s (its resetSeconds) with no trial running`;
  return `half-open trial of the circuit breaker, begun when this run's remediation started after ${waited}: ${why}; this run decides whether it closes`;
}

/**
 * Why a remediation of rule `run.ruleId` that waited for a decision (its own approval, or an earlier
 * action's: `run.waited`) must not start at `run.at` for the rule's circuit breaker; undefined when it may.
 * It was planned while the breaker let it (closed, or as the half-open trial), maybe days before, and starts
 * under the breaker as it is now, as the planner deciding now would: closed (never opened, or reset by an
 * admin while it waited) it starts; half-open, it starts only as the trial the breaker waits on (the breaker
 * closes or re-opens on that run's outcome alone, so a trial waiting for its approval must be able to run),
 * or as a new trial when the breaker's trial can no longer be running ({@link breakerTrialStale}, with
 * `trialSeconds` = {@link breakerTrialSeconds} of the rule, as the planner waits);
 * open and due for its trial ({@link breakerTrialDue}), it starts as that trial, which its caller records
 * (the breaker half-open on this run's match, as the planner records a trial it lets through, under the
 * planner's lock on the rule); open otherwise, or half-open for another match's
 * trial that may still be running, only notifications run. Before, an open breaker stopped the start even once its trial was due, so
 * an approved fix was skipped where the next new match would have run.
 */
export function breakerStopsStart(
  breaker: BreakerState & { trialMatch: string | null },
  run: { ruleId: string; matchId: string; plannedAsTrial: boolean; resetSeconds: number; trialSeconds: number; waited: string; at: Date },
): string | undefined {
  if (breaker.state === 'closed' || isCurrentTrial(breaker, run.matchId, run.plannedAsTrial)) return undefined;
  const reset = `POST /api/rules/${run.ruleId}/reset-breaker`;
  // Half-open on a trial begun longer ago than its run may take (`trialSeconds`): that run ended without a
  // verdict or was lost, and this start takes its place, as the next new match would. Before, a lost trial
  // stopped every approved start until a new match came or an admin reset the breaker.
  if (breakerTrialStale(breaker, run.trialSeconds, run.at)) return undefined;
  if (breaker.state === 'half_open') {
    return `not run: the rule's circuit breaker opened while ${run.waited}, and its half-open trial is another run: only notifications run until that trial ends (or ${reset})`;
  }
  if (breakerTrialDue(breaker, run.resetSeconds, run.at)) return undefined;
  const due = breaker.openedAt ? ` (due ${new Date(breaker.openedAt.getTime() + run.resetSeconds * 1000).toISOString()})` : '';
  return `not run: the rule's circuit breaker opened while ${run.waited}: only notifications run until its half-open trial${due} or ${reset}`;
}

/** The breaker after a trial began at `at` (the planner records it with the match). */
export function breakerAtTrial(breaker: BreakerState, at: Date): BreakerState {
  return { ...breaker, state: 'half_open', openedAt: at };
}

export type RunOutcome = 'succeeded' | 'failed' | 'inconclusive';

/**
 * The breaker after a run of decision `run` ended with `outcome` at `at`: K consecutive failed runs open
 * it; a success resets the count, and a trial's success closes it (its failure re-opens it). An
 * inconclusive run (nothing ran: cancelled, rejected, skipped) changes nothing, except that a trial
 * ending so leaves the breaker open for the next match to try again.
 */
export function breakerAfterOutcome(breaker: BreakerState, outcome: RunOutcome, opts: { threshold: number; trial: boolean; at: Date }): BreakerState & { opened: boolean } {
  const trial = opts.trial && breaker.state === 'half_open';
  if (outcome === 'inconclusive') return { ...breaker, ...(trial ? { state: 'open' as const } : {}), opened: false };
  if (outcome === 'succeeded') {
    return trial ? { state: 'closed', openedAt: null, consecutiveFailures: 0, opened: false } : { ...breaker, consecutiveFailures: 0, opened: false };
  }
  const failures = breaker.consecutiveFailures + 1;
  const open = trial || (breaker.state === 'closed' && failures >= opts.threshold);
  return open ? { state: 'open', openedAt: opts.at, consecutiveFailures: failures, opened: true } : { ...breaker, consecutiveFailures: failures, opened: false };
}

/**
 * How long a run of `rule` can take at most: every action's approval wait, attempts at its timeout and
 * the pauses between them, an agent's pickup, its verification, and a margin. A lease expires after it, so a run that died
 * stops blocking its host by then at the latest.
 */
export function leaseSeconds(rule: Pick<Rule, 'actions'> & { verify?: Verify | undefined }): number {
  return leaseSecondsFrom(rule, 0, { approved: false });
}

/**
 * How long the rest of a run of `rule` can take at most from the moment its action `index` starts (or is
 * claimed to wait for its approval): that action (its approval wait unless `approved`), every later one,
 * the verification and the margin, as {@link leaseSeconds} counts them. A lease is held at least this long
 * from then (activities/action-runs.ts), so a delay before the action (a slow notice, a Postgres outage)
 * never leaves it running after its lease expired.
 */
export function leaseSecondsFrom(rule: Pick<Rule, 'actions'> & { verify?: Verify | undefined }, index: number, opts: { approved: boolean }): number {
  let total = 300;
  (rule.actions as Action[]).forEach((a, i) => {
    if (i > index || (i === index && !opts.approved)) total += actionSeconds(a);
    else if (i === index) total += actionSeconds({ ...a, approval: undefined } as Action);
  });
  // A verifying run holds its host until the verification ends: `within`, a check that started just
  // before it (the check runs on the host), then what runs when it is unverified.
  const v = rule.verify;
  if (v) total += (parseDuration(v.within) ?? 600) + (v.check ? actionSeconds(v.check as Action) : 0) + v.onUnverified.reduce((sum, a) => sum + actionSeconds(a as Action), 0);
  return total;
}

/**
 * One action at most: its approval wait, attempts at its timeout and the pauses between them, an agent's
 * pickup. An attempt lasts its `timeoutSeconds` and the slack above (workflows/options.ts); without one, a
 * script is stopped at 300 s and a call to a SaaS API has the preset's 60 s, all of which its calls may
 * use (before, 30 s were counted: a hung API's eight attempts outlived the lease by more than three minutes).
 */
function actionSeconds(a: Action): number {
  const script = a.type.startsWith('script.');
  const timeout = a.timeoutSeconds ?? (script ? SCRIPT_DEFAULT_TIMEOUT_SECONDS : SAAS_ATTEMPT_SECONDS - ACTION_SLACK_SECONDS);
  const attempts = a.retry?.maximumAttempts ?? (script ? ('idempotent' in a && a.idempotent ? 3 : 1) : SAAS_MAX_ATTEMPTS);
  const attempt = timeout + (script ? SCRIPT_STOP_SLACK_SECONDS : ACTION_SLACK_SECONDS);
  return (a.approval ? a.approval.timeoutMinutes * 60 : 0) + attempt * attempts + Math.max(SAAS_PAUSE_CAP_SECONDS * (attempts - 1), retryWaitSeconds(a, attempts)) + (a.type === 'script.agent' ? AGENT_SCRIPT_PICKUP_SECONDS : 0);
}

/**
 * The pauses Temporal puts between an action's attempts, as workflows/options.ts (optionsForAction) asks
 * for them: from `retry.initialIntervalSeconds` (1 s), times `retry.backoffCoefficient` (2) each time, at
 * most a minute (or the first pause, when longer) for calls to SaaS APIs, and for scripts Temporal's default cap of 100 times the first. A
 * rule waiting 600 s, then 1,200 s, then 2,400 s between script attempts held its host for 60 s a pause:
 * its lease ran out while the script still retried, and a second run reached the host.
 */
function retryWaitSeconds(a: Action, attempts: number): number {
  const initial = a.retry?.initialIntervalSeconds ?? 1;
  const coefficient = a.retry?.backoffCoefficient ?? 2;
  const cap = a.type.startsWith('script.') ? 100 * initial : Math.max(SAAS_PAUSE_CAP_SECONDS, initial);
  let total = 0;
  for (let k = 0; k < attempts - 1; k++) total += Math.min(initial * coefficient ** k, cap);
  return total;
}

/**
 * The policy behind a decision recorded by the planner (`rule_matches.decision` and `skip_reason`), for
 * comparing recorded decisions with simulated ones. Reads the reasons of this module and the older ones.
 */
export function policyOfRecorded(decision: string, reason: string | null | undefined): PolicyKind | undefined {
  const r = reason ?? '';
  if (decision === 'dry_run') return 'dry_run';
  if (decision === 'run') return r.startsWith(BREAKER_TRIAL_NOTE) ? 'breaker_trial' : undefined;
  if (r === 'incident already resolved') return 'resolved';
  if (r === 'maintenance window' || r.startsWith('maintenance window')) return 'maintenance_window';
  if (r.startsWith('circuit breaker half-open')) return 'breaker_half_open';
  if (r.startsWith('circuit breaker')) return 'breaker_open';
  if (r.startsWith('rate limit:')) return 'rate_limit';
  if (r.startsWith('target unknown')) return 'unknown_target';
  if (r.startsWith('cooldown:')) return 'cooldown';
  if (r.startsWith('concurrency:')) return 'concurrency';
  return 'other';
}
