/**
 * Collects a stream's bytes up to a cap, counting everything seen and flagging truncation. Past the cap it
 * keeps the first half and the last half of the stream and drops the middle: a script prints its RESULT
 * line (what a run view and a job target show) last, and keeping only the head lost it for any script that
 * printed more than the cap first.
 */
export class CappedBuffer {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  /** The newest bytes past the head, at most `tailMax` of them (older ones dropped as newer arrive). */
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private readonly headMax: number;
  private readonly tailMax: number;
  /** Total bytes received, including the ones dropped past the cap. */
  totalBytes = 0;
  truncated = false;

  constructor(maxBytes: number) {
    this.headMax = Math.ceil(maxBytes / 2);
    this.tailMax = maxBytes - this.headMax;
  }

  push(chunk: Buffer | string): void {
    let buf = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    this.totalBytes += buf.length;
    const room = this.headMax - this.headBytes;
    if (room > 0) {
      const taken = buf.subarray(0, room);
      this.head.push(taken);
      this.headBytes += taken.length;
      buf = buf.subarray(taken.length);
    }
    if (buf.length === 0) return;
    this.tail.push(buf);
    this.tailBytes += buf.length;
    while (this.tailBytes > this.tailMax) {
      this.truncated = true;
      const over = this.tailBytes - this.tailMax;
      const first = this.tail[0]!;
      if (first.length <= over) {
        this.tail.shift();
        this.tailBytes -= first.length;
      } else {
        this.tail[0] = first.subarray(over);
        this.tailBytes -= over;
      }
    }
  }

  /**
   * Kept bytes as UTF-8 text: the head, then (when the middle was dropped) a line saying how many bytes
   * were left out, then the tail. A multi-byte character cut by the cut, and NUL, become U+FFFD.
   */
  text(): string {
    const omitted = this.totalBytes - this.headBytes - this.tailBytes;
    const joined =
      omitted > 0
        ? `${Buffer.concat(this.head).toString('utf8')}\n[… ${omitted} bytes of output omitted …]\n${Buffer.concat(this.tail).toString('utf8')}`
        : Buffer.concat([...this.head, ...this.tail]).toString('utf8');
    // Postgres text and jsonb cannot hold U+0000: a script printing one would make its run unrecordable
    // (and every later action templating its output unclaimable). Shown as U+FFFD, like invalid UTF-8.
    return joined.replaceAll('\0', '\uFFFD');
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
