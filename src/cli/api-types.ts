// The shapes the REST API answers, as the CLI reads them (a subset of the OpenAPI document at /openapi.json).

export interface Problem {
  type?: string;
  title?: string;
  status?: number;
  detail?: string;
  errors?: { path: string; message: string }[];
}

export interface RuleView extends Record<string, unknown> {
  id: string;
  name: string;
  version: number;
  enabled: boolean;
  dryRun: boolean;
  services: string[];
  breaker?: { state: string };
}

export interface EnvironmentView extends Record<string, unknown> {
  name: string;
  description: string | null;
  labels: Record<string, string>;
  agentTaskQueue: string;
  ssh: { host: string; port: number; user: string; keyRef: string; hostKeyFingerprint: string } | null;
  maintenanceWindows: unknown[];
  createdAt?: string;
  updatedAt?: string;
  agent?: { online?: boolean; error?: string; pollers?: unknown[] };
}

/** An API token as GET /api/tokens lists it (never its secret value). */
export interface TokenView {
  id: string;
  name: string;
  scopes: string[];
  createdBy: string;
  createdAt: string;
  lastUsedAt: string | null;
  revokedAt: string | null;
  expiresAt: string;
  expired: boolean;
}

/** POST /api/tokens: the new token's view and, this once, its value. */
export interface CreatedToken extends TokenView {
  token: string;
  note?: string;
}

export interface EnvironmentCheckAnswer {
  environment: string;
  taskQueue: string;
  healthy: boolean;
  agent: { online: boolean; pollers: { identity: string; lastAccessTime: string | null }[] };
  check: { script: string; reached: boolean; exitCode: number | null; output: string; error?: string; durationMs?: number } | null;
}

export interface JobView extends Record<string, unknown> {
  id: string;
  name: string;
  schedule: { interval?: string; cron?: string | string[]; timezone?: string };
  targets: { environments?: string[]; selector?: Record<string, string>; all?: true };
  script: string;
  via: string;
  enabled: boolean;
  scheduleId?: string;
  createdAt?: string;
  updatedAt?: string;
  paused?: boolean;
  nextRunTimes?: string[];
}

export interface JobRunView {
  id: string;
  trigger: string;
  status: string;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  temporalUrl: string;
  targets: { environment: string; via: string; status: string; exitCode: number | null; outputExcerpt: string | null; error: string | null }[];
}

/** Job run statuses that are final; `running` is the only other one. */
export const FINAL_RUN_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'partial', 'skipped', 'cancelled']);

export interface IncidentSummary {
  id: string;
  number: number | null;
  title: string | null;
  status: string;
  urgency: string | null;
  service: { id: string | null; name: string | null };
  environment: Record<string, unknown>;
  createdAt: string;
  temporalUrl: string;
}

export interface IncidentDetail extends IncidentSummary {
  description: string | null;
  events: { eventId: string; type: string; occurredAt: string | null; receivedAt: string }[];
  matches: {
    ruleId: string;
    ruleName: string;
    ruleVersion: number;
    decision: string;
    skipReason: string | null;
    target: string | null;
    explanation: unknown;
    matchedAt: string;
    verification?: string | null;
    verificationDetail?: string | null;
  }[];
  actionRuns: {
    id: string;
    actionId: string;
    type: string;
    status: string;
    attempts: number;
    target: string | null;
    exitCode: number | null;
    outputExcerpt: string | null;
    link: string | null;
    error: string | null;
    finishedAt: string | null;
    verification?: string | null;
  }[];
}

/** A pause of automation by a guard (GET /api/automation, issue 22). */
export interface AutomationPauseView {
  id: string;
  scope: 'fleet' | 'environment';
  environment: string | null;
  guard: string;
  reason: string;
  incidentId: string | null;
  pausedAt: string;
  resumedAt: string | null;
  resumedBy: string | null;
}

export interface AutomationStatusView {
  paused: boolean;
  pauses: AutomationPauseView[];
  history: AutomationPauseView[];
  guards: { maxTargets: number; maxTargetPercent: number; window: string; maxActionsPerMinute: number; flapping: { max: number; window: string }; pageChannels: string[] };
}
