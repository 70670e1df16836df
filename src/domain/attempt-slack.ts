// How long an action's attempt may last past its timeoutSeconds: what its activity's start-to-close timeout
// allows (workflows/options.ts) and what a lease counts (policies.ts). A module of its own: the workflow
// bundle takes it without the rest of the policies.

/**
 * The `timeoutSeconds` of a script action that gives none: the executors stop it then (SSH:
 * activities/actions.ts; agent: workflows/rule-run.ts), its activity's start-to-close timeout is this and
 * SCRIPT_STOP_SLACK_SECONDS (workflows/options.ts), and a lease counts the same (policies.ts).
 */
export const SCRIPT_DEFAULT_TIMEOUT_SECONDS = 300;

/**
 * How long past its `timeoutSeconds` a script's attempt may take to end: at its deadline the script is
 * sent SIGTERM and SIGKILL 5 s later (on the agent; over SSH, on the host, once our end of the input
 * reaches it), and the attempt ends only when the script has stopped, 10 s after the deadline at most
 * (src/executors/ssh.ts). Its activity's start-to-close timeout leaves it that long (workflows/options.ts):
 * at 5 s, a script that trapped SIGTERM was timed out by Temporal while it still ran, and the rule run went
 * on (a `when: failure` action) beside it.
 */
export const SCRIPT_STOP_SLACK_SECONDS = 20;

/** How long past its `timeoutSeconds` any other action's attempt may take (its recording). */
export const ACTION_SLACK_SECONDS = 5;

/**
 * A call to a SaaS API (PagerDuty, Slack, Jira, GitHub, EWM) that gives no `timeoutSeconds`: each attempt's
 * start-to-close timeout (a lookup and a create within the attempt's deadline, then the recording), the cap
 * of the pauses between attempts and how many attempts it has (workflows/options.ts: externalApiOptions),
 * as a lease counts them (policies.ts).
 */
export const SAAS_ATTEMPT_SECONDS = 60;
export const SAAS_PAUSE_CAP_SECONDS = 60;
export const SAAS_MAX_ATTEMPTS = 8;

/** How long a Doctor agent's script waits for an agent to pick it up (workflows/rule-run.ts), as a lease counts it. */
export const AGENT_SCRIPT_PICKUP_SECONDS = 300;
