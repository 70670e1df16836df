// The pause before an activity's next attempt: the retry policy's, and what a provider's answer asked for.
// Shared by the workflows (an agent script's retries are timers of the rule run: workflows/options.ts) and
// the activities (a failure's nextRetryDelay: activities/side-effects.ts), so both count a pause alike.
import { SAAS_PAUSE_CAP_SECONDS } from './attempt-slack.js';

/** A retry policy's pauses, in milliseconds. */
export interface RetryPauses {
  initialIntervalMs: number;
  backoffCoefficient: number;
  maximumIntervalMs: number;
}

/** The pause after failed attempt `attempt` (1 for the first), as Temporal's retry policy computes it. */
export const retryPauseMs = (a: RetryPauses, attempt: number): number =>
  Math.min(a.initialIntervalMs * a.backoffCoefficient ** (Math.max(1, attempt) - 1), a.maximumIntervalMs);

/** The shortest pause a failure's nextRetryDelay asks for. */
export const MIN_ASKED_PAUSE_MS = 1_000;

/**
 * The pause before the next attempt when the provider's answer asked for `askedMs` (its Retry-After, at most
 * SAAS_PAUSE_CAP_SECONDS: a longer wait is not awaited, the next attempt comes at the cap and a refusal asks
 * again) and the retry policy's own pause for this attempt is `policyMs`: the longer of the two, never under
 * a second. Temporal's nextRetryDelay replaces the policy's pause for that attempt, so it must never be
 * shorter than it: an action whose rule asks for 5 minutes between attempts came back after the 2 s a
 * provider asked for.
 */
export function nextRetryDelayMs(askedMs: number, policyMs: number | undefined): number {
  const asked = Math.min(Math.max(0, Math.ceil(askedMs)), SAAS_PAUSE_CAP_SECONDS * 1000);
  return Math.max(asked, policyMs ?? 0, MIN_ASKED_PAUSE_MS);
}

/**
 * The pauses of a call to a SaaS API (PagerDuty, Slack, Jira, GitHub, EWM, a webhook) as workflows/options.ts
 * gives its activity (externalApiOptions; optionsForAction with a rule action's `retry`): the first pause
 * `initialIntervalSeconds` (1 s), times `backoffCoefficient` (2) each time, at most SAAS_PAUSE_CAP_SECONDS, or
 * the first pause when that is longer. What an activity knows of its own policy when the Temporal server does
 * not send it with the task (activities/side-effects.ts policyPauseMs); test/unit/asked-pause.test.ts checks
 * the two agree.
 */
export function saasRetryPauses(retry?: { initialIntervalSeconds?: number | undefined; backoffCoefficient?: number | undefined }): RetryPauses {
  const initialIntervalMs = (retry?.initialIntervalSeconds || 1) * 1000;
  return {
    initialIntervalMs,
    backoffCoefficient: retry?.backoffCoefficient || 2,
    maximumIntervalMs: Math.max(SAAS_PAUSE_CAP_SECONDS * 1000, initialIntervalMs),
  };
}
