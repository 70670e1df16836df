/**
 * Error classes raised by executors. Each carries `retryable` so the activity layer can turn it into a
 * Temporal ApplicationFailure with `nonRetryable` set, and a stable `name` usable in
 * `retry.nonRetryableErrorTypes`. Messages never contain secret values.
 */
export class ExecutorError extends Error {
  readonly retryable: boolean;

  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.retryable = retryable;
  }
}

/** A secret reference could not be resolved (unknown scheme, missing variable or file). */
export class SecretResolutionError extends ExecutorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options);
  }
}

/** The requested script is not an executable regular file inside the allow-listed directory. */
export class ScriptNotAllowedError extends ExecutorError {
  constructor(message: string) {
    super(message, false);
  }
}

/** The scripts directory itself is unusable (missing, not a directory, world-writable). */
export class ScriptsDirError extends ExecutorError {
  constructor(message: string) {
    super(message, false);
  }
}

/** The SSH server presented a host key whose fingerprint differs from the pinned one. */
export class HostKeyMismatchError extends ExecutorError {
  constructor(message: string) {
    super(message, false);
  }
}

/** The SSH server rejected our credentials. */
export class SshAuthError extends ExecutorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options);
  }
}

/** Connection refused, reset or timed out: worth retrying later. */
export class SshConnectionError extends ExecutorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, true, options);
  }
}

/** Invalid input to an SSH call (e.g. empty command, malformed fingerprint). */
export class SshConfigError extends ExecutorError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, false, options);
  }
}

/** An HTTP peer (Slack, Jira, GitHub, EWM, webhook target) answered with an error or was unreachable. */
export class HttpCallError extends ExecutorError {
  readonly status: number | null;
  /**
   * How long a retryable refusal asked to wait before the call is made again (its Retry-After, or GitHub's
   * rate-limit reset), in milliseconds: the next attempt comes no sooner (activities/side-effects.ts).
   */
  readonly retryAfterMs: number | undefined;

  constructor(message: string, status: number | null, retryable: boolean, options?: { cause?: unknown; retryAfterMs?: number | undefined }) {
    super(message, retryable, options);
    this.status = status;
    this.retryAfterMs = options?.retryAfterMs;
  }
}

/** An outbound call's destination address is denied (link-local, metadata service, ACTION_EGRESS_DENY). */
export class EgressDeniedError extends ExecutorError {
  constructor(readonly reason: string) {
    super(`destination refused: ${reason}`, false);
  }
}

/**
 * Sending an email failed. `retryable` follows the SMTP reply class before the message was handed over
 * (a 4xx to AUTH, MAIL FROM, RCPT TO or DATA is transient, 5xx permanent); a reply to the message itself
 * (after 354) is never retried. Failures without a reply: see sendEmail (src/executors/notify.ts).
 */
export class EmailSendError extends ExecutorError {
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, retryable, options);
  }
}

/** A work-item provider answered with something we could not interpret. */
export class WorkItemError extends ExecutorError {
  constructor(message: string, retryable: boolean, options?: { cause?: unknown }) {
    super(message, retryable, options);
  }
}

/** Names of error classes that must never be retried, for `retry.nonRetryableErrorTypes`. */
export const NON_RETRYABLE_EXECUTOR_ERRORS: readonly string[] = [
  'SecretResolutionError',
  'ScriptNotAllowedError',
  'ScriptsDirError',
  'HostKeyMismatchError',
  'SshAuthError',
  'SshConfigError',
  'EgressDeniedError',
];
