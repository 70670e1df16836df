import type { Kysely } from 'kysely';
import type { Database } from '../src/db/database.js';
import type { ExtractorsConfig } from '../src/domain/extract.js';
import type { Logger } from '../src/logger.js';
import type { PagerDutyClient } from '../src/pagerduty/rest-client.js';
import { createActionRunActivities } from './action-runs.js';
import { createActionActivities, type Integrations } from './actions.js';
import { ensureOwnWrites } from './own-writes.js';
import { createIncidentSteps, incidentActivities } from './incidents.js';
import { createJobActivities } from './jobs.js';
import { createAlertDelivery } from './guards.js';
import { createPlanActivities } from './plan.js';
import { createVerificationActivities } from './verification.js';
import { DEFAULT_GUARD_CONFIG, type GuardConfig } from '../src/domain/guards.js';
import { createRetentionActivities } from './retention.js';
import { createRuleRunActivities } from './rule-runs.js';
import { createTriageActivities } from './triage.js';
import { createBacklogActivities } from './event-backlog.js';

export interface ActivityDeps {
  db: Kysely<Database>;
  logger: Logger;
  extractors: ExtractorsConfig;
  pagerduty?: PagerDutyClient | undefined;
  integrations?: Integrations | undefined;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  /** SELFHEAL_PUBLIC_URL: notices link to the incident's page in the dashboard. */
  publicUrl?: string | undefined;
  /** Fleet guards, flapping and where they page (issue 22); absent: defaults. */
  guards?: GuardConfig | undefined;
  /** SELFHEAL_APPROVAL_LINK_TTL_MINUTES: how long approve/reject links in approval notices work at most. */
  approvalLinkTtlMinutes?: number | undefined;
}

/** Every activity of the main worker, built from injected dependencies (tests pass their own). */
export function createActivities(input: ActivityDeps) {
  // Every PagerDuty write (actions, run notes) is recorded, so the webhook event it causes never matches a rule.
  const deps = { ...input, pagerduty: input.pagerduty && ensureOwnWrites(input.pagerduty, input) };
  const incidents = createIncidentSteps(deps);
  const deliverAlerts = alertDelivery(deps);
  const plan = createPlanActivities({ ...deps, deliverAlerts });
  const triage = createTriageActivities({ logger: deps.logger, incidents, plan, writeBack: Boolean(deps.pagerduty), publicUrl: deps.publicUrl });
  return {
    ...incidentActivities(incidents),
    planIncidentActions: plan.planIncidentActions,
    ...triage,
    ...createBacklogActivities({ db: deps.db, triageIncidentEvent: triage.triageIncidentEvent }),
    ...createActionRunActivities(deps),
    ...createActionActivities(deps),
    ...createJobActivities(deps),
    ...createRetentionActivities(deps),
    ...createVerificationActivities(deps),
    ...createRuleRunActivities(),
  };
}

/**
 * A job run's failure notice as the job workflow sends it (notifyJobFailure); the worker's pass over runs
 * ended in Temporal without recording it sends the same (src/temporal/ended-job-runs.ts).
 */
export function jobFailureNotice(input: Omit<ActivityDeps, 'extractors'>) {
  return createJobActivities(input).notifyJobFailure;
}

/**
 * The delivery of the guards' pages and notes, as the activities use it (its PagerDuty notes recorded as our
 * own writes, so their webhook events never match a rule); the worker's sweep runs the same.
 */
export function alertDelivery(input: Omit<ActivityDeps, 'extractors'>, opts: { reclaimAfterSeconds?: number } = {}) {
  const pagerduty = input.pagerduty && ensureOwnWrites(input.pagerduty, input);
  return createAlertDelivery({ ...input, pagerduty, guards: input.guards ?? DEFAULT_GUARD_CONFIG, ...opts });
}

/** Activities the Doctor agent registers on its environment's task queue. */
export { createAgentActivities } from './agent.js';
