// Names Temporal stores (workflow types, signals, queries, workflow ids). They are forever once shipped:
// add new ones, never rename. Pure: no imports, so workflows, activities, the API and the CLI all share it.

/** Workflow types the main worker registers. */
export const WORKFLOW_TYPES = {
  incident: 'incidentWorkflow',
  ruleRun: 'ruleRunWorkflow',
  job: 'jobWorkflow',
  agentCheck: 'agentCheckWorkflow',
} as const;

/** Signal names. */
export const SIGNALS = {
  /** API → incident workflow: one PagerDuty event (IncidentEventMessage). */
  incidentEvent: 'incidentEvent',
  /**
   * API → rule-run workflow: "an approval was recorded for this action run" (ApprovalNudge). A nudge only:
   * the workflow reads the decision back from Postgres and acts on nothing else.
   */
  approval: 'approval',
  /** Rule-run workflow → incident workflow: the rule run ended (RuleRunFinished). */
  ruleRunFinished: 'ruleRunFinished',
} as const;

/** Query names. */
export const QUERIES = {
  /** Incident workflow → IncidentWorkflowState; rule-run workflow → RuleRunState. */
  state: 'state',
} as const;

/** The main worker's default task queue. */
export const DEFAULT_TASK_QUEUE = 'selfheal';

/** One incident workflow per PagerDuty incident. */
export const incidentWorkflowId = (incidentId: string): string => `incident-${incidentId}`;

/**
 * One rule-run workflow per incident, rule and triggering event: a redelivered or replayed start of the same
 * rule run is refused by Temporal (the id is taken), so a rule never runs twice for one event.
 */
export const ruleRunWorkflowId = (incidentId: string, ruleId: string, eventId: string): string => `incident-${incidentId}/rule-${ruleId}/${eventId}`;

/** One Temporal Schedule per job. */
export const jobScheduleId = (jobId: string): string => `job-${jobId}`;

/** The task queue a Doctor agent polls for its environment. */
/** What an environment's default agent task queue starts with (its name follows). */
export const AGENT_QUEUE_PREFIX = 'selfheal-agent-';
export const agentTaskQueue = (environment: string): string => `${AGENT_QUEUE_PREFIX}${environment}`;

/**
 * The incident workflow's code revision, passed in its input when the webhook starts a run. The first
 * release is revision 2 (revisions 0 and 1 were development builds, never deployed, folded into it). Raise
 * it only together with a code path kept for the older revision (runs still in flight replay with it), and
 * keep recorded histories of both in test/workflows/histories.
 */
export const INCIDENT_WORKFLOW_REVISION = 2;

/**
 * The rule-run workflow's code revision, passed in its input by the incident workflow that starts it. Runs
 * without one were started before revisions and replay with the code they ran (the verify patch marker, the
 * verification recorded by its own local activity). Revision 1 verifies without a patch marker and records
 * a verification settled at once in the rule outcome's transaction. Revision 2 cancels every action type's
 * activity waiting for it to stop (non-script actions heartbeat) and records the action as it ended.
 * Revision 3 never cancels an action's claim or skip record half way (a cancellation is seen between
 * actions), and a run whose own pagerduty.resolve succeeded is not cancelled by that resolve's echo.
 * Revision 4 queues an agent script only once an agent has answered on its queue and the rule's team still
 * has an environment served there (workflows/agent-pickup.ts).
 * Revision 5 makes an agent script's retries in the workflow, each attempt waiting for its agent and checked
 * as the first one is; Temporal's own retries queued them on the same queue unchecked.
 * Revision 6 asks before each run of the verification's check whether it may still run (automation paused,
 * the rule no longer live, its environment gone) and runs it no more once refused.
 * Raise it only together with a code path kept for the older revision (runs still in flight replay with it).
 */
export const RULE_RUN_REVISION = 6;
