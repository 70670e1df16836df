// The API's answers as the dashboard reads them (GET bodies of /api/incidents, /api/rules, /api/jobs,
// /api/environments). The shapes are src/contracts/api.ts, shared with the CLI; here the parts the domain
// model defines are filled in from src/domain (rule and job definitions, rule explanations), so the editor's
// sample rule and the views follow the domain model as it changes. Types only: nothing here is bundled.
import type * as Api from '../../contracts/api.js';
import type { JobDefinition } from '../../domain/jobs.js';
import type { Explanation } from '../../domain/rules/evaluate.js';
import type { RuleInput } from '../../domain/rules/schema.js';
import type { ArgWarning } from '../../domain/script-args.js';

export type {
  ActionRun,
  AgentState,
  Approval,
  AuthConfig,
  EnvironmentDetail,
  EnvironmentView,
  IncidentEvent,
  IncidentSummary,
  Instant,
  JobRun,
  JobRuns,
  JobTargetResult,
  ListOf,
  PageOf,
  Problem,
  SsoUser,
} from '../../contracts/api.js';

export interface UiConfig {
  temporalUiUrl: string;
  namespace: string;
  /** Which sign-ins the server offers (GET /auth/config). */
  auth: Api.AuthConfig;
}

export type RuleMatch = Api.RuleMatch<Explanation>;
export type IncidentDetail = Api.IncidentDetail<Explanation>;

export type RuleView = Api.RuleView<RuleInput>;
export type { ArgWarning } from '../../domain/script-args.js';
/** POST/PUT /api/rules and a rollback: the rule as saved, with hints about script arguments a run may refuse. */
export type RuleSaved = RuleView & { warnings?: ArgWarning[] };

export interface RuleTestResult {
  matched: boolean;
  dryRun: boolean;
  explanation: Explanation;
  explanationText: string;
  context: Record<string, unknown>;
  renderedActions: unknown[];
  /** Script actions (and the verify check) whose rendered args the run would refuse (absent from older servers). */
  refusedArgs?: { actionId: string; path: string; argIndex: number; reason: string }[];
}

export type JobView = Api.JobView<Omit<JobDefinition, 'id'>>;
export type JobDetail = Api.JobDetail<Omit<JobDefinition, 'id'>>;
