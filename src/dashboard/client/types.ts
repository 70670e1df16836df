// The API's answers as the dashboard reads them (GET bodies of /api/incidents, /api/rules, /api/jobs,
// /api/environments). Only the fields the views use are listed. Types only: nothing here is bundled.
// Rule and job definitions and rule explanations come from src/domain, so the editor's sample rule and
// the views follow the domain model as it changes.
import type { JobDefinition } from '../../domain/jobs.js';
import type { Explanation } from '../../domain/rules/evaluate.js';
import type { RuleInput } from '../../domain/rules/schema.js';

/** ISO 8601 instant as the API serialises dates. */
export type Instant = string;

export interface ListOf<T> {
  items: T[];
}

export interface UiConfig {
  temporalUiUrl: string;
  namespace: string;
  /** Which sign-ins the server offers (GET /auth/config). */
  auth: AuthConfig;
}

export interface AuthConfig {
  /** Paste-a-token sign-in (DASHBOARD_TOKEN_SIGN_IN). */
  tokenSignIn: boolean;
  /** Single sign-on, when the server has an OpenID Connect provider. */
  sso: { providerName: string; loginUrl: string } | null;
}

// ---- incidents --------------------------------------------------------------------------------------

export interface IncidentSummary {
  id: string;
  number: number | null;
  title: string | null;
  status: string;
  urgency: string | null;
  service: { id: string | null; name: string | null };
  htmlUrl: string | null;
  environment: Record<string, unknown>;
  createdAt: Instant;
  resolvedAt: Instant | null;
  lastEventAt: Instant | null;
  workflowId: string;
  /** Who fixed it: auto-remediated, assisted or human (final once resolved). */
  label?: { label: string; final: boolean; reason: string } | null;
  temporalUrl: string;
}

export interface IncidentEvent {
  eventId: string;
  type: string;
  occurredAt: Instant | null;
  receivedAt: Instant;
}

export interface RuleMatch {
  id: string;
  ruleId: string;
  ruleName: string;
  ruleVersion: number;
  decision: string;
  skipReason: string | null;
  target: string | null;
  explanation: Explanation | null;
  matchedAt: Instant;
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
  startedAt: Instant | null;
  finishedAt: Instant | null;
}

export interface IncidentDetail extends IncidentSummary {
  description: string | null;
  events: IncidentEvent[];
  matches: RuleMatch[];
  actionRuns: ActionRun[];
}

// ---- rules ------------------------------------------------------------------------------------------

export interface RuleView extends RuleInput {
  id: string;
  version: number;
  breaker: { state: 'closed' | 'open'; consecutiveFailures: number; openedAt: Instant | null };
  createdAt: Instant;
  updatedAt: Instant;
  deletedAt: Instant | null;
}

export interface RuleTestResult {
  matched: boolean;
  dryRun: boolean;
  explanation: Explanation;
  explanationText: string;
  context: Record<string, unknown>;
  renderedActions: unknown[];
}

// ---- jobs -------------------------------------------------------------------------------------------

export interface JobView extends Omit<JobDefinition, 'id'> {
  id: string;
  scheduleId: string;
  createdAt: Instant;
  updatedAt: Instant;
}

export interface JobDetail extends JobView {
  paused: boolean;
  nextRunTimes: Instant[];
}

export interface JobTargetResult {
  environment: string;
  via: string;
  status: string;
  exitCode: number | null;
  outputExcerpt: string | null;
  error: string | null;
}

export interface JobRun {
  id: string;
  trigger: string;
  status: string;
  startedAt: Instant | null;
  durationMs: number | null;
  temporalUrl: string;
  targets: JobTargetResult[];
}

export interface JobRuns extends ListOf<JobRun> {
  schedule: { skippedOverlap: number; missedCatchupWindow: number; actionsTaken: number } | { error: string } | null;
}

// ---- environments -----------------------------------------------------------------------------------

export interface EnvironmentView {
  name: string;
  description: string | null;
  labels: Record<string, string>;
  agentTaskQueue: string;
  ssh: { host: string; port: number; user: string } | null;
}

export interface AgentState {
  online: boolean;
  pollers: { identity: string; lastAccessTime: Instant | null }[];
  error?: string;
}

export interface EnvironmentDetail extends EnvironmentView {
  agent: AgentState;
}
