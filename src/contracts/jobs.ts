// Shapes of the scheduled-job and agent-check workflows, shared with the API, the CLI and the bench.

/** `cancelled`: its run was cancelled while the script ran, and the script was stopped (or had not started). */
export type TargetStatus = 'succeeded' | 'failed' | 'timed_out' | 'skipped' | 'cancelled';
export type JobRunStatus = 'running' | 'succeeded' | 'failed' | 'partial' | 'skipped' | 'cancelled';

export interface JobRunSummary {
  total: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  skipped: number;
  /** Targets whose script was stopped when the run was cancelled; left out when none. */
  cancelled?: number;
  /**
   * The first JOB_SUMMARY_FAILURES targets that failed or timed out, each error cut to its first
   * JOB_SUMMARY_ERROR_CHARS characters; `failed + timedOut` counts them all, and each target's row
   * (GET /api/jobs/{id}/runs/{runId}/targets) keeps its whole result.
   */
  failures: { environment: string; status: TargetStatus; error?: string | undefined }[];
  /** Failures beyond JOB_SUMMARY_FAILURES, left out of `failures`; left out when none were. */
  failuresOmitted?: number;
  dryRun?: boolean;
  reason?: string;
  notification?: string;
}

export interface JobWorkflowInput {
  jobId: string;
}

export interface JobWorkflowResult {
  jobRunId: string;
  status: JobRunStatus;
  summary: JobRunSummary;
}

export interface AgentCheckInput {
  environment: string;
  taskQueue: string;
  /** The environment's team (its row), which the agent checks (SELFHEAL_AGENT_TEAMS). */
  team?: string;
  /** Script name inside the agent's scripts directory; default `health-check.sh`. */
  script?: string;
  /** How long the task may wait for an agent to pick it up; default 15 s. */
  scheduleToStartSeconds?: number;
  /** The script's own time limit; default 60 s. */
  timeoutSeconds?: number;
}

export interface AgentCheckResult {
  environment: string;
  taskQueue: string;
  script: string;
  /** True when the agent picked the task up and the script ran to completion with exit code 0. */
  healthy: boolean;
  /** True when an agent picked the task up. */
  reached: boolean;
  exitCode: number | null;
  output: string;
  error?: string;
  durationMs?: number;
}

export const AGENT_CHECK_SCRIPT = 'health-check.sh';

/**
 * Output kept per job target: the end of it. A job over hundreds of environments holds one result per
 * target in its workflow history, so the script's answer is cut to this on the agent (or the SSH worker)
 * before it enters the history, and again before it is recorded.
 */
export const JOB_OUTPUT_CHARS = 4000;

/**
 * The most failures a job run's summary lists, and the most of each one's error it keeps. The summary is
 * written to the run's row, passed to the failure notice (which shows 20, 200 characters each) and kept in
 * the run's workflow history (the notice's input, the row's write, the workflow's result): listing every
 * failure with its error (up to 4,000 characters each, what a possibly hostile agent said) made it
 * megabytes for a run of hundreds of failing targets, three times over.
 */
export const JOB_SUMMARY_FAILURES = 50;
export const JOB_SUMMARY_ERROR_CHARS = 500;
