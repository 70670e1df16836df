// The shapes the REST API answers, as the CLI reads them: src/contracts/api.ts (shared with the dashboard), with
// the rule and job definitions as the records the CLI prints, diffs and sends back (src/cli/gitops).
import type * as Api from '../contracts/api.js';

export type { CreatedToken, EnvironmentCheckAnswer, IncidentDetail, IncidentSummary, Problem, RevokedSessions, RevokedToken, TeamMemberView, TeamView, TokenView } from '../contracts/api.js';

/** A rule as the CLI reads it: the fields it prints, the rest of the definition kept as is. */
export type RuleView = Api.RuleView<{ name: string; enabled: boolean; dryRun: boolean; services: string[] } & Record<string, unknown>>;

/** An environment, kept as a record (gitops compares and sends back every field); the list has no agent state. */
export type EnvironmentView = Omit<Api.EnvironmentView, 'createdAt' | 'updatedAt'> &
  Partial<Pick<Api.EnvironmentDetail, 'createdAt' | 'updatedAt' | 'agent'>> &
  Record<string, unknown>;

/** A job as the CLI reads it: the fields it prints, the rest of the definition kept as is. */
export type JobView = Api.JobView<
  {
    name: string;
    schedule: { interval?: string; cron?: string | string[]; timezone?: string };
    targets: { environments?: string[]; selector?: Record<string, string>; all?: true };
    script: string;
    via: string;
    enabled: boolean;
  } & Record<string, unknown>
> &
  Partial<Pick<Api.JobDetail<object>, 'paused' | 'nextRunTimes' | 'scheduleStatus'>>;

export type JobRunView = Api.JobRun;

/** Job run statuses that are final; `running` is the only other one. */
export const FINAL_RUN_STATUSES: ReadonlySet<string> = new Set(['succeeded', 'failed', 'partial', 'skipped', 'cancelled']);

export type { AutomationPauseView, AutomationStatusView } from '../contracts/stats.js';
