// A bounded gate for work that costs far more than the request that asks for it: at most `running` at once
// per process and `waiting` in line; past that, no turn. The API's YAML conversions and statistics answers
// (a full line answers 503 with Retry-After), the Doctor agent's scripts (SELFHEAL_AGENT_MAX_CONCURRENT_
// SCRIPTS; a script waits in line until its run time is spent or it is cancelled) and the worker's SSH
// sessions, one line per management VM's host:port (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST, src/executors/ssh.ts,
// the same way) take their turns here.
// Hand-written: p-limit and async-sema queue without a bound and cannot take a waiter out of the line, and a
// full line must answer at once, a cancelled waiter leave it at once.

export interface Turns {
  /**
   * A turn, waited for in line; false at once when the line is full, and false (out of the line) when
   * `signal` aborts before a turn came.
   */
  take(signal?: AbortSignal): Promise<boolean>;
  /** Ends a turn taken: hands it to the first in line, if any. */
  release(): void;
  /** Runs `fn` in a turn; `busy` when none could be had. */
  run<T>(fn: () => Promise<T>): Promise<T | typeof BUSY>;
  /** Turns taken and waiters in line, now. */
  readonly counts: { running: number; waiting: number };
}

export const BUSY = Symbol('busy');

export function createTurns(limits: { running: number; waiting: number }): Turns {
  let running = 0;
  const line: ((handed: boolean) => void)[] = [];
  const turns: Turns = {
    async take(signal) {
      if (signal?.aborted) return false;
      if (running < limits.running) {
        running++;
        return true;
      }
      if (line.length >= limits.waiting) return false;
      return new Promise<boolean>((resolve) => {
        const leave = () => {
          const at = line.indexOf(wake);
          if (at >= 0) line.splice(at, 1);
          resolve(false);
        };
        // Handed over by the turn that ended (running stays counted).
        const wake = (handed: boolean) => {
          signal?.removeEventListener('abort', leave);
          resolve(handed);
        };
        line.push(wake);
        signal?.addEventListener('abort', leave, { once: true });
      });
    },
    release() {
      const next = line.shift();
      if (next) next(true);
      else running--;
    },
    async run(fn) {
      if (!(await turns.take())) return BUSY;
      try {
        return await fn();
      } finally {
        turns.release();
      }
    },
    get counts() {
      return { running, waiting: line.length };
    },
  };
  return turns;
}
