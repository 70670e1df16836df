// Plain shapes passed between the incident and rule-run workflows and their activities (workflows import
// them as types). Pure: no imports beyond other contracts.

export type ActionWhen = 'success' | 'failure' | 'always';

export interface PlannedAction {
  index: number;
  id: string;
  type: string;
  when: ActionWhen;
  /** Parameters as written in the rule; the workflow renders templates just before the action runs. */
  params: Record<string, unknown>;
  timeoutSeconds?: number | undefined;
  retry?: { maximumAttempts?: number; initialIntervalSeconds?: number; backoffCoefficient?: number } | undefined;
  idempotent?: boolean | undefined;
  approval?: { timeoutMinutes: number; onTimeout: 'approve' | 'reject' } | undefined;
  /**
   * A `script.ssh` command whose stored `args` or `environment` are templated (incident data): the worker
   * then refuses a command that splits it or reads it as code (src/domain/shell-words.ts). Set by the
   * planner from the stored rule, before rendering; absent in plans made before it existed.
   */
  commandTakesData?: boolean | undefined;
}

/**
 * `failed`: decided to run, but its rule run could not be started (its plan past what a rule run's start
 * carries, activities/plan.ts); recorded by the planner, never by the policies.
 */
export type MatchDecision = 'run' | 'dry_run' | 'skipped' | 'notify_only' | 'failed';

export interface MatchPlan {
  matchId: string;
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  decision: MatchDecision;
  skipReason?: string | undefined;
  target?: string | undefined;
  cancelOnResolve: boolean;
  /** True when this run is the circuit breaker's half-open trial (see policies.circuitBreaker.resetSeconds). */
  breakerTrial?: boolean | undefined;
  /** The per-target lease this run holds (released when the run ends; expires on its own). */
  leaseId?: string | undefined;
  actions: PlannedAction[];
  /** What templates see (incident, environment, alert, event, rule); `results` is added per action. */
  context: Record<string, unknown>;
  /** False when PagerDuty write-back is off (no API token): the workflow then schedules no note activity. */
  writeBack: boolean;
  /** The incident's page in the dashboard, when SELFHEAL_PUBLIC_URL is set (linked from approval notices). */
  incidentUrl?: string | undefined;
  /** The rule's `verify` (issue 22), for a run that remediates; absent: the outcome is not_applicable. */
  verify?: VerifyPlan | undefined;
}

/** How a rule run proves its remediation worked (rule `verify`), durations in seconds. */
export interface VerifyPlan {
  withinSeconds: number;
  settleSeconds: number;
  /** A script.agent or script.ssh action whose exit code 0 means healthy. */
  check?: PlannedAction | undefined;
  /** Run once when unverified (notifications, PagerDuty notes and escalation, work items). */
  onUnverified: PlannedAction[];
}

export type VerificationStatus = 'pending' | 'verified' | 'unverified' | 'not_applicable';

export interface RecordEventResult {
  duplicate: boolean;
  incidentStatus: string;
  /** True when this event is older than what is stored (arrived out of order). */
  stale: boolean;
  serviceId?: string | undefined;
  /** Set when the event cannot be stored as an incident event (poison): why. It was recorded as rejected. */
  rejected?: string | undefined;
  /**
   * Set when the event was taken (it changed the incident) but starts no rule: why. A resolve the reconcile
   * derived for an incident whose status no event ever told (activities/incidents.ts). Recorded on the event.
   * A resolve of an incident resolved already is recorded so too, and a retried triage of it answers it stale.
   */
  quiet?: string | undefined;
}

export type ActionStatus = 'succeeded' | 'failed' | 'skipped' | 'cancelled' | 'dry_run' | 'rejected';

export interface ActionOutcome {
  actionRunId: string;
  actionId: string;
  type: string;
  status: ActionStatus;
  exitCode?: number | null | undefined;
  outputExcerpt?: string | undefined;
  link?: string | undefined;
  error?: string | undefined;
}

export interface RunActionInput {
  actionRunId: string;
  incidentId: string;
  eventId: string;
  matchId: string;
  ruleId: string;
  ruleVersion: number;
  target?: string | undefined;
  action: PlannedAction;
  dryRun: boolean;
  /** Outcomes of earlier actions of the same rule, for templates and notes. */
  previous: ActionOutcome[];
  /**
   * A notice of a waiting approval (notify.slack, notify.email): the activity adds approve and reject links
   * to the message, minting their tokens as it sends it, so no token ever enters workflow history.
   */
  approvalLinks?: { actionRunId: string; deadline: string } | undefined;
}

/**
 * At most this many passes (a settle wait, then the check) per verification. Each pass adds about a dozen
 * events to the rule run's history, which never continues as new: a timer (2 events), the workflow task
 * it wakes (3), the Postgres read (a marker, 1), the check's activity (3) and the task its result wakes (3),
 * 12.5 measured with a failing check over 19 passes. 500 passes are about 6,000-6,500 events,
 * well under Temporal's 51,200-event limit (past which the run is terminated: no onUnverified, the
 * verification left pending) and its 10,240-event warning, with room for the actions and onUnverified.
 * `within: 24h` thus allows `settle` down to 173 s. The rule schema refuses more (src/domain/rules/definition.ts),
 * and workflows/verify.ts raises the settle of a rule stored before it, or a default settle.
 */
export const MAX_VERIFY_PASSES = 500;
