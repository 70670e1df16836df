// Activity option presets: every activity call has explicit timeouts and retries, none relies on SDK defaults.
import type { ActivityOptions, LocalActivityOptions } from '@temporalio/workflow';
import { retryPauseMs } from '../src/domain/retry-pause.js';
import { ACTION_SLACK_SECONDS, AGENT_SCRIPT_PICKUP_SECONDS, SAAS_ATTEMPT_SECONDS, SAAS_MAX_ATTEMPTS, SAAS_PAUSE_CAP_SECONDS, SCRIPT_DEFAULT_TIMEOUT_SECONDS, SCRIPT_STOP_SLACK_SECONDS } from '../src/domain/attempt-slack.js';

/** Database writes: retried until Postgres is back (an incident is never lost while it is down). */
export const dbOptions: ActivityOptions = {
  startToCloseTimeout: '15 seconds',
  retry: { initialInterval: '500 milliseconds', backoffCoefficient: 2, maximumInterval: '15 seconds' },
};

/**
 * The same Postgres steps as local activities: run by the workflow's own worker inside the workflow task
 * and recorded as one marker each, instead of a trip through the task queue and six history events.
 * Retries past 10 s back off through durable timers, so a Postgres outage of any length is waited out.
 */
export const dbLocalOptions: LocalActivityOptions = {
  startToCloseTimeout: '15 seconds',
  localRetryThreshold: '10 seconds',
  retry: dbOptions.retry,
};

/**
 * Enrichment (one GET of the incident's alerts) as a local activity: short, read-only and best effort, so
 * a few quick retries and then the workflow goes on with what the event itself carries.
 */
export const enrichLocalOptions: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '2 minutes',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '15 seconds', maximumAttempts: 5 },
};

/**
 * Persist, enrich, extract and match as one local activity. Retried like the database steps (a Postgres
 * outage is waited out; every step is idempotent); the alerts fetch inside it makes its own few tries and
 * then goes on without, so the budget covers three 15-second fetches and the pauses between them.
 */
export const triageLocalOptions: LocalActivityOptions = { ...dbLocalOptions, startToCloseTimeout: '90 seconds' };

/** Calls to SaaS APIs (PagerDuty, Slack, Jira, GitHub, EWM): retried with backoff, bounded. */
export const externalApiOptions: ActivityOptions = {
  startToCloseTimeout: `${SAAS_ATTEMPT_SECONDS} seconds`, // a lookup and a create within the attempt's deadline, then the recording; see activities/side-effects.ts
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: `${SAAS_PAUSE_CAP_SECONDS} seconds`,
    maximumAttempts: SAAS_MAX_ATTEMPTS,
    nonRetryableErrorTypes: ['NonRetryableError', 'ValidationError', 'SecretResolutionError'],
  },
};

/**
 * The heartbeat timeout of a rule's non-script actions (rule runs of revision 2): they heartbeat every
 * second, so a resolve's cancellation reaches them within 8 s (Temporal sends a heartbeat at most every
 * 80 % of this) and a lost worker is noticed before the start-to-close timeout.
 */
export const actionHeartbeatTimeout = '10 seconds';

/**
 * Scripts: not retried unless the rule marks them idempotent; long ones heartbeat. An attempt of a script
 * without `timeoutSeconds` lasts what the executors give it (300 s) and the time to stop it: before, this
 * preset's 10 minutes, while the script was stopped at 300 s and the lease counted 320.
 */
export const scriptOptions: ActivityOptions = {
  startToCloseTimeout: `${SCRIPT_DEFAULT_TIMEOUT_SECONDS + SCRIPT_STOP_SLACK_SECONDS} seconds`,
  heartbeatTimeout: '30 seconds',
  retry: {
    maximumAttempts: 1,
    nonRetryableErrorTypes: ['NonRetryableError', 'ScriptNotAllowedError', 'HostKeyMismatchError', 'SshAuthError'],
  },
};

/** How long an agent script waits for a Doctor agent to pick it up (schedule-to-start). */
export { AGENT_SCRIPT_PICKUP_SECONDS };

/** An action's `retry`, as a rule gives it. */
type ActionRetry = { maximumAttempts?: number; initialIntervalSeconds?: number; backoffCoefficient?: number };

/** Whether a SaaS call's first pause is longer than the preset's cap (a rule may ask for up to 3,600 s). */
export const firstPauseOverSaasCap = (type: string, retry?: ActionRetry): boolean =>
  !type.startsWith('script.') && (retry?.initialIntervalSeconds ?? 0) > SAAS_PAUSE_CAP_SECONDS;

/**
 * An action's activity options. With `raiseCap`, a SaaS call whose first pause is over the preset's cap
 * has the cap raised to it (Temporal refuses a policy whose cap is below its first pause); rule runs
 * recorded before that kept the preset's cap and replay so (workflows/rule-run.ts SAAS_RETRY_CAP_PATCH).
 */
export function optionsForAction(type: string, timeoutSeconds?: number, retry?: ActionRetry, idempotent?: boolean, raiseCap = true): ActivityOptions {
  const isScript = type.startsWith('script.');
  const base = isScript ? scriptOptions : externalApiOptions;
  const maximumAttempts = isScript ? scriptAttempts(retry, idempotent).maximumAttempts : (retry?.maximumAttempts ?? base.retry?.maximumAttempts);
  return {
    ...base,
    ...(isScript && type === 'script.agent' ? { scheduleToStartTimeout: `${AGENT_SCRIPT_PICKUP_SECONDS} seconds` } : {}),
    // A script's attempt ends once the script stopped, which may take SCRIPT_STOP_SLACK_SECONDS past its deadline.
    startToCloseTimeout: timeoutSeconds ? `${timeoutSeconds + (isScript ? SCRIPT_STOP_SLACK_SECONDS : ACTION_SLACK_SECONDS)} seconds` : base.startToCloseTimeout!,
    retry: {
      ...base.retry,
      ...(maximumAttempts !== undefined ? { maximumAttempts } : {}),
      ...(retry?.initialIntervalSeconds ? { initialInterval: `${retry.initialIntervalSeconds} seconds` } : {}),
      ...(retry?.backoffCoefficient ? { backoffCoefficient: retry.backoffCoefficient } : {}),
      ...(raiseCap && firstPauseOverSaasCap(type, retry) ? { maximumInterval: `${retry!.initialIntervalSeconds} seconds` } : {}),
    },
  };
}

/** A script action's attempts and the pauses between them (milliseconds). */
export interface ScriptAttempts {
  maximumAttempts: number;
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
}

/**
 * The attempts of a script action and the pauses between them, as optionsForAction's retry policy has
 * Temporal make them: one attempt, three when idempotent, or the rule's `retry.maximumAttempts`; the first
 * pause `retry.initialIntervalSeconds` (1 s), times `retry.backoffCoefficient` (2) each time, at most
 * Temporal's default of 100 times the first. A rule run makes an agent script's retries itself, checking
 * each one first (workflows/rule-run.ts, revision 5), with these.
 */
export function scriptAttempts(retry?: ActionRetry, idempotent?: boolean): ScriptAttempts {
  const initialIntervalMs = (retry?.initialIntervalSeconds ?? 1) * 1000;
  return {
    maximumAttempts: retry?.maximumAttempts ?? (idempotent ? 3 : 1),
    initialIntervalMs,
    backoffCoefficient: retry?.backoffCoefficient ?? 2,
    maximumIntervalMs: 100 * initialIntervalMs,
  };
}

/** The pause after failed attempt `attempt` (1 for the first), as Temporal's retry policy computes it (src/domain/retry-pause.ts). */
export { retryPauseMs };
