// The shapes the REST API answers, as its clients read them: the CLI (src/cli/http-client.ts) and the dashboard
// (src/dashboard/client). Types only (nothing here is bundled or run). Only the fields a client uses are listed;
// the OpenAPI document at /openapi.json is the full account.
//
// Parts defined by the domain model (a rule's definition, a job's definition, a rule explanation) are type
// parameters, because src/contracts imports nothing outside itself: each client fills them in from src/domain
// (the dashboard) or with the fields it reads (the CLI).

/** ISO 8601 instant as the API serialises dates. */
export type Instant = string;

export interface ListOf<T> {
  items: T[];
}

/** A page of a list paged by cursor (GET /api/rules, /api/jobs, /api/environments): follow nextCursor until null. */
export interface PageOf<T> extends ListOf<T> {
  nextCursor: string | null;
}

/** An error answer (problem+json, RFC 9457); `errors` names each wrong field. */
export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

// ---- sign-in ----------------------------------------------------------------------------------------

/** Which sign-ins the server offers (GET /auth/config). */
export interface AuthConfig {
  /** Paste-a-token sign-in (DASHBOARD_TOKEN_SIGN_IN). */
  tokenSignIn: boolean;
  /** Single sign-on, when the server has an OpenID Connect provider. */
  sso: { providerName: string; loginUrl: string } | null;
}

/** The signed-in user of a single sign-on session (GET /auth/session). */
export interface SsoUser {
  actor: string;
  email: string | null;
  name: string | null;
  scopes: string[];
  /** Team roles from the user's groups under OIDC_ROLE_MAP (issue 24). */
  teams?: { team: string; role: string }[];
  expiresAt: string;
  csrfToken: string;
}

/** An API token as GET /api/tokens lists it (never its secret value). */
export interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  createdBy: string;
  createdAt: Instant;
  lastUsedAt: Instant | null;
  revokedAt: Instant | null;
  expiresAt: Instant;
  expired: boolean;
  /** Team roles as team:role; empty: the token acts on the default team by its scopes. */
  teams: string[];
  /** The person it was issued to (`user:<email>` or `user:<subject>`), or null. */
  owner: string | null;
  /**
   * The dashboard session it was minted from, directly or with a token minted from one (cutting that user
   * off revokes it); null: minted with the admin token or a token not minted from a session, or before this
   * was recorded.
   */
  mintedFrom: { session: string; issuer: string; subject: string; email: string | null } | null;
  /** The id of the issued token it was minted with (revoking that one revokes this one); null: none, or not recorded. */
  mintedWith?: string | null;
}

/** DELETE /api/tokens/{id}: the revoked token, and the live tokens minted with it (or with those) revoked with it. */
export interface RevokedToken extends TokenView {
  /** The first 100 of them. */
  revokedWith?: { id: string; name: string }[];
  /** How many were revoked with it (listed or not). */
  revokedWithTotal?: number;
}

/** DELETE /api/sessions?subject=…|email=…: the dashboard sessions an admin revoked. */
export interface RevokedSessions {
  /** How many sessions were revoked. */
  revoked: number;
  /** The first 100 of them. */
  sessions: { id: string; actor: string; subject: string }[];
  /** The live tokens issued to the user under that name, minted from a session of theirs, or with such a token, revoked with the sessions: the first 100. */
  tokens: { id: string; name: string }[];
  /** How many tokens were revoked (listed or not). */
  tokensTotal?: number;
}

// ---- teams ------------------------------------------------------------------------------------------

/** A team as GET /api/teams lists it, with the caller's roles in it. */
export interface TeamView {
  name: string;
  description: string | null;
  createdBy: string;
  createdAt: Instant;
  roles: string[];
}

/** An API token's roles in a team (GET /api/teams/{team}/members). */
export interface TeamMemberView {
  tokenId: string;
  tokenName: string;
  roles: string[];
}

/** POST /api/tokens: the new token's view and, this once, its value. */
export interface CreatedToken extends TokenView {
  token: string;
  note?: string;
}

// ---- incidents --------------------------------------------------------------------------------------

export interface IncidentSummary {
  id: string;
  number: number | null;
  title: string | null;
  /** `triggered`, `acknowledged`, `resolved`, or `unknown`: only events that carry no status (notes) were heard of it. */
  status: string;
  urgency: string | null;
  service: { id: string | null; name: string | null };
  htmlUrl: string | null;
  environment: Record<string, unknown>;
  createdAt: Instant;
  resolvedAt: Instant | null;
  lastEventAt: Instant | null;
  workflowId: string;
  temporalUrl: string;
  /** Who fixed it: auto-remediated, assisted or human (final once resolved). */
  label?: { label: string; final: boolean; reason: string } | null;
}

export interface IncidentEvent {
  eventId: string;
  type: string;
  occurredAt: Instant | null;
  receivedAt: Instant;
  /** How triage took the event (`accepted`, `ignored` or `rejected`). */
  disposition?: string;
  /** Why the event was rejected (a poison event), when it was. */
  rejectReason?: string;
  /** Why the event, taken, started no rule (a reconciled resolve of an incident of unknown status), when so. */
  note?: string;
}

/** A rule's decision on an incident; `Explanation` is src/domain/rules/evaluate.ts's. */
export interface RuleMatch<Explanation = unknown> {
  id: string;
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  decision: string;
  skipReason: string | null;
  target: string | null;
  explanation: Explanation | null;
  matchedAt: Instant;
  /** pending | verified | unverified | not_applicable (issue 22); null when the match ran no action. */
  verification?: string | null;
  verificationDetail?: string | null;
}

export interface Approval {
  decision?: string;
  actor?: string;
  at?: Instant;
}

export interface ActionRun {
  id: string;
  ruleId: string;
  actionId: string;
  type: string;
  status: string;
  attempts: number;
  target: string | null;
  exitCode: number | null;
  outputExcerpt: string | null;
  link: string | null;
  error: string | null;
  approval: Approval | null;
  /** Why the action ran or was skipped (its `when` against the earlier outcomes). */
  reason: string | null;
  /** The verification of the remediation this action belongs to (issue 22). */
  verification?: string | null;
  startedAt: Instant | null;
  finishedAt: Instant | null;
}

export interface IncidentDetail<Explanation = unknown> extends IncidentSummary {
  description: string | null;
  events: IncidentEvent[];
  matches: RuleMatch<Explanation>[];
  actionRuns: ActionRun[];
  /** How many older events, matches and action runs the lists above leave out (each holds the newest 500); absent from servers before it. */
  omitted?: { events: number; matches: number; actionRuns: number };
}

// ---- rules ------------------------------------------------------------------------------------------

/** What the API adds to a rule's definition when it answers with a stored rule. */
export interface RuleRecord {
  id: string;
  version: number;
  /** The owning team (issue 24); absent from servers before teams (read as the default team). */
  team?: string;
  breaker: { state: 'closed' | 'open'; consecutiveFailures: number; openedAt: Instant | null };
  createdAt: Instant;
  updatedAt: Instant;
  deletedAt: Instant | null;
}

/** A stored rule: its definition (src/domain/rules' RuleInput) and the record fields. */
export type RuleView<Definition extends object> = Definition & RuleRecord;

// ---- jobs -------------------------------------------------------------------------------------------

/** What the API adds to a job's definition. */
export interface JobRecord {
  id: string;
  /** The owning team (issue 24); absent from servers before teams (read as the default team). */
  team?: string;
  scheduleId: string;
  createdAt: Instant;
  updatedAt: Instant;
}

/** A stored job: its definition (src/domain/jobs.ts' JobDefinition, less its id) and the record fields. */
export type JobView<Definition extends object> = Definition & JobRecord;

/**
 * A job's Schedule as Temporal reports it: `active` or `paused`; `missing` when Temporal has no schedule for
 * the job (the worker recreates it at start); `unavailable` when Temporal did not answer in time, so neither
 * the paused state nor the next runs are known (`paused` then says only whether the job is disabled).
 */
export type ScheduleStatus = 'active' | 'paused' | 'missing' | 'unavailable';

/**
 * GET /api/jobs/{id}: the job and its Schedule's state. `nextRunTimes` are the runs that will happen: none
 * while the schedule is paused (Temporal's own answer, which lists them anyway, is under `scheduleState`).
 */
export type JobDetail<Definition extends object> = JobView<Definition> & { paused: boolean; nextRunTimes: Instant[]; scheduleStatus: ScheduleStatus };

export interface JobTargetResult {
  environment: string;
  via: string;
  status: string;
  exitCode: number | null;
  outputExcerpt: string | null;
  error: string | null;
  /** In the list of runs: the output (its end) or the error (its start) was shortened there; the run's targets endpoint holds them whole. */
  cut?: boolean;
}

export interface JobRun {
  id: string;
  trigger: string;
  status: string;
  /** When the schedule meant it to start (a trigger through the schedule: the trigger's time); null for a run started by hand. */
  scheduledAt?: Instant | null;
  startedAt: Instant | null;
  finishedAt: Instant | null;
  durationMs: number | null;
  temporalUrl: string;
  /** The run's first target results (50 at most, those not succeeded first); `targetsTotal` counts them all (absent from servers before it: all were listed). */
  targets: JobTargetResult[];
  targetsTotal?: number;
  targetsOmitted?: number;
}

export interface JobRuns extends ListOf<JobRun> {
  /** The next page's cursor; null (or absent, from servers before it) on the last. */
  nextCursor?: string | null;
  schedule: { skippedOverlap: number; missedCatchupWindow: number; actionsTaken: number } | { error: string } | null;
}

// ---- environments -----------------------------------------------------------------------------------

export interface EnvironmentView {
  name: string;
  /** The owning team (issue 24); absent from servers before teams (read as the default team). */
  team?: string;
  description: string | null;
  labels: Record<string, string>;
  agentTaskQueue: string;
  ssh: { host: string; port: number; user: string; keyRef: string; hostKeyFingerprint: string } | null;
  maintenanceWindows: unknown[];
  createdAt: Instant;
  updatedAt: Instant;
}

export interface AgentState {
  online: boolean;
  pollers: { identity: string; lastAccessTime: Instant | null }[];
  /**
   * Whether the agents polling now serve the environment's team, by the teams their identity names
   * (SELFHEAL_AGENT_TEAMS): false when each names only others (it would refuse the team's tasks), null when
   * none polls or one does not say. Absent from older APIs.
   */
  servesTeam?: boolean | null;
  error?: string;
}

export interface EnvironmentDetail extends EnvironmentView {
  agent: AgentState;
}

/** POST /api/environments/{name}/check. */
export interface EnvironmentCheckAnswer {
  environment: string;
  taskQueue: string;
  healthy: boolean;
  agent: { online: boolean; pollers: { identity: string; lastAccessTime: Instant | null }[]; servesTeam?: boolean | null };
  check: { script: string; reached: boolean; exitCode: number | null; output: string; error?: string; durationMs?: number } | null;
}
