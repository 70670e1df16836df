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
  last_event_at: NullableTimestamp;
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
}

export interface EnvironmentSsh {
  host: string;
  port: number;
  user: string;
  keyRef: string;
  hostKeyFingerprint: string;
}

export interface EnvironmentTable {
  name: string;
  description: string | null;
  labels: Json<Record<string, string>>;
  agent_task_queue: string | null;
  ssh: NullableJson<EnvironmentSsh>;
  maintenance_windows: Json<unknown[]>;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RuleTable {
  id: string;
  name: string;
  version: number;
  enabled: Generated<boolean>;
  definition: Json<unknown>;
  breaker_state: Generated<string>;
  consecutive_failures: Generated<number>;
  breaker_opened_at: NullableTimestamp;
  deleted_at: NullableTimestamp;
  created_at: Generated<Date>;
  updated_at: Generated<Date>;
}

export interface RuleVersionTable {
  rule_id: string;
  version: number;
  definition: Json<unknown>;
  change: string;
  actor: string;
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

export interface JobTable {
  id: string;
  name: string;
  definition: Json<unknown>;
  enabled: Generated<boolean>;
  schedule_id: string;
  deleted_at: NullableTimestamp;
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
}

export interface Database {
  incidents: IncidentTable;
  incident_events: IncidentEventTable;
  environments: EnvironmentTable;
  rules: RuleTable;
  rule_versions: RuleVersionTable;
  rule_matches: RuleMatchTable;
  action_runs: ActionRunTable;
  jobs: JobTable;
  job_runs: JobRunTable;
  job_target_results: JobTargetResultTable;
  api_tokens: ApiTokenTable;
  audit_log: AuditLogTable;
  target_leases: TargetLeaseTable;
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
