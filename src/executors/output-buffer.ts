/** Collects a stream's bytes up to a cap, counting everything seen and flagging truncation. */
export class CappedBuffer {
  private readonly chunks: Buffer[] = [];
  private kept = 0;
  /** Total bytes received, including the ones dropped past the cap. */
  totalBytes = 0;
  truncated = false;

  constructor(private readonly maxBytes: number) {}

  push(chunk: Buffer | string): void {
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.totalBytes += buf.length;
    const room = this.maxBytes - this.kept;
    if (room <= 0) {
      if (buf.length > 0) this.truncated = true;
      return;
    }
    if (buf.length > room) {
      this.chunks.push(buf.subarray(0, room));
      this.kept += room;
      this.truncated = true;
    } else {
      this.chunks.push(buf);
      this.kept += buf.length;
    }
  }

  /** Kept bytes as UTF-8 text (a multi-byte character cut by the cap, and NUL, become U+FFFD). */
  text(): string {
    // Postgres text and jsonb cannot hold U+0000: a script printing one would make its run unrecordable
    // (and every later action templating its output unclaimable). Shown as U+FFFD, like invalid UTF-8.
    return Buffer.concat(this.chunks).toString('utf8').replaceAll('\0', '\uFFFD');
  }

  result(): CappedOutput {
    return { text: this.text(), truncated: this.truncated, totalBytes: this.totalBytes };
  }
}

export interface CappedOutput {
  text: string;
  truncated: boolean;
  totalBytes: number;
}

export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024;

/** What a finished script or command left, run locally (script-runner.ts) or over SSH (ssh.ts). */
export interface ScriptResult {
  exitCode: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  stdoutTruncated: boolean;
  stderrTruncated: boolean;
  durationMs: number;
  timedOut: boolean;
}

/** The result of a run from its exit, its two capped streams and its start (`performance.now()`). */
export function scriptResult(exit: { exitCode: number | null; signal: string | null; timedOut: boolean }, stdout: CappedBuffer, stderr: CappedBuffer, started: number): ScriptResult {
  return {
    exitCode: exit.exitCode,
    signal: exit.signal,
    stdout: stdout.text(),
    stderr: stderr.text(),
    stdoutTruncated: stdout.truncated,
    stderrTruncated: stderr.truncated,
    durationMs: Math.round(performance.now() - started),
    timedOut: exit.timedOut,
  };
}
