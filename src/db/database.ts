// The row types of every table, and `Database`, the one type Kysely is given: one interface per table, kept
// in one file (just over 400 lines) so that the schema reads whole beside the migrations that make it.
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
type Json<T = unknown> = ColumnType<T, string | T, string | T>;
type NullableJson<T = unknown> = ColumnType<T | null, string | T | null | undefined, string | T | null>;

export interface IncidentTable {
  id: string;
  number: number | null;
  title: string | null;
  description: string | null;
  status: string;
  urgency: string | null;
  priority: string | null;
  service_id: string | null;
  service_name: string | null;
  escalation_policy_id: string | null;
  escalation_policy_name: string | null;
  assignees: Json<{ id: string; summary?: string }[]>;
  html_url: string | null;
  incident_key: string | null;
  environment: Json<Record<string, unknown>>;
  alerts: NullableJson<unknown[]>;
  workflow_id: string;
  pd_created_at: NullableTimestamp;
  resolved_at: NullableTimestamp;
  /** The newest event of any kind (notes and other sub-resource events included). */
  last_event_at: NullableTimestamp;
  /** The newest event that carried the incident's own data (migration 2026-12-23T00-00-incident-snapshot-at). */
  snapshot_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** When the worker last asked PagerDuty whether this open incident is still open (migration 2026-12-25T00-00-incident-reconciled-at). */
  reconciled_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface IncidentEventTable {
  id: Generated<string>;
  event_id: string;
  webhook_id: string | null;
  incident_id: string | null;
  event_type: string;
  resource_type: string;
  occurred_at: NullableTimestamp;
  received_at: Generated<Date>;
  disposition: Generated<string>;
  payload: Json<unknown>;
  taken_by: string | null;
  reject_reason: string | null;
  /** Why an event taken starts no rule (migration 2026-12-28T00-00-incident-status-unknown). */
  note: string | null;
}

/** An event an incident's run parked for its next run to take (migration 2027-01-02T00-00-incident-event-backlog). */
export interface IncidentEventBacklogTable {
  id: Generated<string>;
  incident_id: string;
  event_id: string;
  /** The message as JSON text. */
  message: string;
  parked_by: string;
  parked_at: Generated<Date>;
}

export interface EnvironmentSsh {
  host: string;
  port: number;
  user: string;
  keyRef: string;
  hostKeyFingerprint: string;
}

/** An agent task queue that was ever some environment's (migration 2026-12-30T00-00-agent-queues-used). */
export interface AgentQueueUsedTable {
  queue: string;
  /** The first environment (and its team) whose queue it was. */
  environment: string;
  team: string;
  recorded_at: Generated<Timestamp>;
}

export interface EnvironmentTable {
  name: string;
  description: string | null;
  labels: Json<Record<string, string>>;
  agent_task_queue: string | null;
  ssh: NullableJson<EnvironmentSsh>;
  maintenance_windows: Json<unknown[]>;
  /** Bytes of description, labels, ssh and maintenance windows, kept by Postgres (migration 2026-12-29T00-00-list-row-bytes). */
  row_bytes: Generated<number>;
  /** The owning team (migration 2026-12-10T00-00-teams). */
  team: ColumnType<string, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RuleTable {
  id: string;
  name: string;
  version: number;
  enabled: Generated<boolean>;
  definition: Json<unknown>;
  /** Bytes of the definition as JSON text, kept by Postgres (migration 2026-12-29T00-00-list-row-bytes). */
  definition_bytes: Generated<number>;
  breaker_state: Generated<string>;
  consecutive_failures: Generated<number>;
  breaker_opened_at: NullableTimestamp;
  /** The match whose run is the half-open breaker's trial (migration 2026-12-22T00-00-breaker-trial-match). */
  breaker_trial_match: ColumnType<string | null, string | null | undefined, string | null>;
  deleted_at: NullableTimestamp;
  team: ColumnType<string, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

/** One row: a number every change to what the worker matches on increments (a trigger on `rules`). */
export interface RulesGenerationTable {
  id: Generated<boolean>;
  n: ColumnType<string, string, string>;
}

export interface RuleVersionTable {
  rule_id: string;
  version: number;
  definition: Json<unknown>;
  /** Bytes of the definition as JSON text, kept by Postgres (a generated column): measured without reading it. */
  definition_bytes: Generated<number>;
  change: string;
  actor: string;
  /** The author's other names when they saved it (a token's owner, a user's sub and email); see approvals. */
  actor_aliases: Generated<string[]>;
  created_at: Generated<Date>;
}

export interface RuleMatchTable {
  id: Generated<string>;
  incident_id: string;
  event_id: string;
  rule_id: string;
  rule_version: number;
  rule_name: string;
  explanation: Json<unknown>;
  decision: string;
  skip_reason: string | null;
  target: string | null;
  matched_at: Generated<Date>;
  /** pending | verified | unverified | not_applicable (issue 22); null when the match ran no action. */
  verification: string | null;
  verification_detail: string | null;
  verified_at: Date | null;
  /** What the run's outcome did to the rule's circuit breaker, once counted (a retried count returns it). */
  breaker_outcome: NullableJson<{ breaker: string; opened: boolean; failures: number; threshold: number; trial?: boolean | undefined }>;
}

export interface ActionRunTable {
  id: string;
  idempotency_key: string;
  incident_id: string | null;
  match_id: string | null;
  rule_id: string | null;
  rule_version: number | null;
  job_run_id: string | null;
  action_index: number;
  action_id: string;
  action_type: string;
  status: string;
  attempts: Generated<number>;
  target: string | null;
  rendered: NullableJson<unknown>;
  exit_code: number | null;
  output_excerpt: string | null;
  link: string | null;
  error: string | null;
  approval: NullableJson<unknown>;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
  created_at: Generated<Date>;
  reason: string | null;
  claimed_by: string | null;
  workflow_id: string | null;
  /** A gated run's deadline by Postgres' clock, set when it is claimed to wait (migration 2026-12-19). */
  approval_deadline: NullableTimestamp;
  /** What its rule run records at that deadline: `approve` or `reject`. */
  approval_on_timeout: string | null;
}

export interface TargetLeaseTable {
  id: Generated<string>;
  target: string;
  rule_id: string;
  match_id: string;
  incident_id: string;
  acquired_at: Generated<Date>;
  expires_at: Timestamp;
  released_at: NullableTimestamp;
}

/** A remediation let through by the guards (issue 22): what the blast-radius and flapping windows count. */
export interface RemediationTable {
  id: Generated<string>;
  match_id: string;
  rule_id: string;
  incident_id: string;
  target: string | null;
  environment: string | null;
  actions: number;
  at: Generated<Date>;
  /**
   * When it stopped counting: settled without any of its remediation actions having started (rejected,
   * timed out to reject, skipped at its approved start, cancelled before it started). Null: it counts.
   */
  released_at: NullableTimestamp;
  /** The team of the rule remediating (null: recorded before teams): host flapping and an environment's share count their own team's. */
  team: ColumnType<string | null, string | null | undefined, string | null>;
}

/** Automation paused by a guard, fleet-wide (environment '') or for one environment, until an admin resumes. */
export interface AutomationPauseTable {
  id: Generated<string>;
  scope: string;
  environment: Generated<string>;
  guard: string;
  reason: string;
  incident_id: string | null;
  paused_at: Generated<Date>;
  resumed_at: NullableTimestamp;
  resumed_by: string | null;
}

/** A page and/or PagerDuty note a guard or flapping owes, delivered once (claimed, then marked sent). */
export interface AutomationAlertTable {
  id: Generated<string>;
  kind: string;
  incident_id: string | null;
  target: string | null;
  text: string;
  page: boolean;
  created_at: Generated<Date>;
  claimed_at: NullableTimestamp;
  sent_at: NullableTimestamp;
  error: string | null;
}

export interface JobTable {
  id: string;
  name: string;
  definition: Json<unknown>;
  /** Bytes of the definition as JSON text, kept by Postgres (migration 2026-12-29T00-00-list-row-bytes). */
  definition_bytes: Generated<number>;
  enabled: Generated<boolean>;
  schedule_id: string;
  /** Digest of the schedule as Temporal described it after our last write (scheduleFingerprint); null before. */
  schedule_fingerprint: ColumnType<string | null, string | null | undefined, string | null>;
  deleted_at: NullableTimestamp;
  team: ColumnType<string, string | undefined, string>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface JobRunTable {
  id: string;
  job_id: string;
  run_id: string | null;
  trigger: string;
  status: string;
  scheduled_at: NullableTimestamp;
  started_at: Timestamp;
  finished_at: NullableTimestamp;
  summary: NullableJson<unknown>;
  /** The catch-up rule's decision ('run' | 'claimed' | 'skip'), under the job's advisory lock; null when none was taken. */
  catch_up_decision: Generated<string | null>;
  /**
   * When the catch-up rule decided 'run', by Temporal's clock (when Temporal scheduled the activity attempt
   * that decided: at or before the decision); null otherwise. A worker of before that wrote the database's clock.
   */
  catch_up_decided_at: NullableTimestamp;
  /**
   * When the run recorded its start, by Temporal's clock (when Temporal scheduled the attempt of its start
   * record); null for rows of before, and for a claimed row until the run's own start record. What the
   * buffer_one catch-up rule compares with a later run's schedule time, not `started_at` (the database's clock).
   */
  temporal_started_at: NullableTimestamp;
}

export interface JobTargetResultTable {
  id: Generated<string>;
  job_run_id: string;
  environment: string;
  via: string;
  status: string;
  exit_code: number | null;
  output_excerpt: string | null;
  error: string | null;
  started_at: NullableTimestamp;
  finished_at: NullableTimestamp;
}

export interface ApiTokenTable {
  id: string;
  name: string;
  token_hash: string;
  scopes: string[];
  created_by: string;
  created_at: Generated<Date>;
  last_used_at: NullableTimestamp;
  revoked_at: NullableTimestamp;
  /** Required: every issued token expires (migration 2026-12-02T00-00-authority). */
  expires_at: ColumnType<Date, Date | string, Date | string>;
  /** The person it is issued to, as `user:<email>` or `user:<sub>`; null: not said (migration 2026-12-13). */
  owner: Generated<string | null>;
  /**
   * The dashboard session the token was minted from, directly or through tokens minted from it (its id, the
   * provider and subject of its user, the e-mail address it carried): cutting that user off revokes the token
   * whatever became of the session. Null: minted with the admin token or a token not minted from a session,
   * or before migration 2026-12-18.
   */
  session_id: Generated<string | null>;
  session_issuer: Generated<string | null>;
  session_subject: Generated<string | null>;
  session_email: Generated<string | null>;
  /**
   * The issued token it was minted with (its id): revoking that one revokes this one too. Null: minted with
   * the admin token or a dashboard session, or before migration 2027-01-12.
   */
  minted_with: Generated<string | null>;
  /**
   * The names of the person behind the token it was minted with (its owner, and its own minter_names), at
   * most MAX_MINTER_NAMES: the four-eyes rule knows this token by them too (migration 2027-01-12).
   */
  minter_names: Generated<string[]>;
}

export interface AuditLogTable {
  id: Generated<string>;
  at: Generated<Date>;
  actor: string;
  action: string;
  entity_type: string;
  entity_id: string;
  before: NullableJson<unknown>;
  after: NullableJson<unknown>;
  /** The team of the changed object; null for changes that belong to no team (tokens). */
  team: ColumnType<string | null, string | null | undefined, string | null>;
}

/** One external side effect of an action run (or of a note activity), claimed before the provider is called. */
export interface SideEffectTable {
  key: string;
  incident_id: string | null;
  kind: string;
  state: 'attempting' | 'failed' | 'done' | 'unknown';
  attempts: Generated<number>;
  external_id: string | null;
  url: string | null;
  detail: string | null;
  last_error: string | null;
  in_flight_until: NullableTimestamp;
  uncertain_since: NullableTimestamp;
  first_attempt_at: Generated<Date>;
  answered_at: NullableTimestamp;
  updated_at: Generated<Date>;
}

/** One write Self-healing sent to PagerDuty, so the webhook event it causes never matches a rule. */
export interface PagerDutyWriteTable {
  id: Generated<string>;
  incident_id: string;
  kind: 'note' | 'status' | 'priority' | 'escalation';
  event_type: string;
  value: string | null;
  content: string | null;
  note_id: string | null;
  agent_id: string | null;
  state: 'attempting' | 'done' | 'failed';
  started_at: Generated<Date>;
  answered_at: NullableTimestamp;
  matched_event_id: string | null;
}

/** A dashboard sign-in (single sign-on): the cookie's secret is kept only as its SHA-256. */
export interface AuthSessionTable {
  id: string;
  secret_hash: string;
  issuer: string;
  subject: string;
  actor: string;
  email: string | null;
  name: string | null;
  scopes: string[];
  groups: Json<string[]>;
  id_token_sealed: string | null;
  created_at: Generated<Date>;
  last_seen_at: Generated<Date>;
  expires_at: Timestamp;
  idle_timeout_seconds: number;
  revoked_at: NullableTimestamp;
}

/** One row: this deployment's id, which its Temporal job schedules carry (src/temporal/schedules.ts). */
export interface DeploymentTable {
  singleton: ColumnType<boolean, boolean | undefined, never>;
  id: string;
  created_at: Generated<Date>;
}

/** A backtest attached to a rule version: the summary the author saw (issue 21). */
export interface RuleBacktestTable {
  id: Generated<string>;
  rule_id: string;
  version: number;
  actor: string;
  window_from: Timestamp;
  window_to: Timestamp;
  summary: Json<unknown>;
  /** Bytes of the summary as JSON text, kept by Postgres (migration 2027-01-06T00-00-rule-backtest-summary-bytes): measured without reading it. */
  summary_bytes: Generated<number>;
  created_at: Generated<Date>;
}

/** How far back the retention purge has deleted each kind of history. */
export interface RetentionWatermarkTable {
  name: string;
  purged_before: Timestamp;
  updated_at: Generated<Date>;
}

/**
 * What the retention purge deleted, per Prometheus series (metric name and label set): a scrape reports the live
 * rows' count plus this, so a counter never goes down when its rows are purged.
 */
export interface MetricOffsetTable {
  metric: string;
  labels: Json<Record<string, string>>;
  value: number;
  updated_at: Generated<Date>;
}

/** A team: it owns rules, environments and jobs (issue 24). */
export interface TeamTable {
  name: string;
  description: string | null;
  created_by: string;
  created_at: Generated<Date>;
}

/** One role of one API token in one team. */
export interface TeamMembershipTable {
  token_id: string;
  team: string;
  role: 'viewer' | 'editor' | 'approver' | 'admin';
  created_by: string;
  created_at: Generated<Date>;
}

/** An approve or reject link sent to a rule's channel (issue 22): only the token's SHA-256 is kept. */
export interface ApprovalLinkTable {
  id: Generated<string>;
  token_hash: string;
  action_run_id: string;
  decision: 'approve' | 'reject';
  created_at: Generated<Date>;
  expires_at: Timestamp;
  used_at: NullableTimestamp;
  used_by: string | null;
}

export interface Database {
  teams: TeamTable;
  team_memberships: TeamMembershipTable;
  incidents: IncidentTable;
  incident_events: IncidentEventTable;
  incident_event_backlog: IncidentEventBacklogTable;
  environments: EnvironmentTable;
  agent_queues_used: AgentQueueUsedTable;
  rules: RuleTable;
  rules_generation: RulesGenerationTable;
  rule_versions: RuleVersionTable;
  rule_matches: RuleMatchTable;
  action_runs: ActionRunTable;
  jobs: JobTable;
  job_runs: JobRunTable;
  job_target_results: JobTargetResultTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditLogTable;
  side_effects: SideEffectTable;
  pagerduty_writes: PagerDutyWriteTable;
  auth_sessions: AuthSessionTable;
  deployment: DeploymentTable;
  rule_backtests: RuleBacktestTable;
  retention_watermarks: RetentionWatermarkTable;
  metric_offsets: MetricOffsetTable;
  target_leases: TargetLeaseTable;
  remediations: RemediationTable;
  automation_pauses: AutomationPauseTable;
  automation_alerts: AutomationAlertTable;
  approval_links: ApprovalLinkTable;
}

export type Incident = Selectable<IncidentTable>;
export type NewIncident = Insertable<IncidentTable>;
export type IncidentUpdate = Updateable<IncidentTable>;
export type IncidentEvent = Selectable<IncidentEventTable>;
export type Environment = Selectable<EnvironmentTable>;
export type RuleRow = Selectable<RuleTable>;
export type RuleMatch = Selectable<RuleMatchTable>;
export type ActionRun = Selectable<ActionRunTable>;
export type JobRow = Selectable<JobTable>;
export type JobRun = Selectable<JobRunTable>;
export type JobTargetResult = Selectable<JobTargetResultTable>;
export type ApiToken = Selectable<ApiTokenTable>;
export type AuditEntry = Selectable<AuditLogTable>;
export type SideEffect = Selectable<SideEffectTable>;
export type PagerDutyWrite = Selectable<PagerDutyWriteTable>;
export type AuthSession = Selectable<AuthSessionTable>;
