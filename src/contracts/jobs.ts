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
  failures: { environment: string; status: TargetStatus; error?: string | undefined }[];
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
