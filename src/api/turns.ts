// A bounded gate for work the API does on its own event loop or threads at a caller's request that costs
// far more than a request (a YAML conversion, a statistics answer): at most `running` at once per process
// and `waiting` in line; past that, no turn (the route answers 503 with Retry-After). Hand-written: p-limit
// and async-sema queue without a bound, and a full queue must answer at once, not wait.

export interface Turns {
  /** A turn, waited for in line; false at once when the line is full. */
  take(): Promise<boolean>;
  /** Ends a turn taken: hands it to the first in line, if any. */
  release(): void;
  /** Runs `fn` in a turn; `busy` when none could be had. */
  run<T>(fn: () => Promise<T>): Promise<T | typeof BUSY>;
}

export const BUSY = Symbol('busy');

export function createTurns(limits: { running: number; waiting: number }): Turns {
  let running = 0;
  const line: (() => void)[] = [];
  const turns: Turns = {
    async take() {
      if (running < limits.running) {
        running++;
        return true;
      }
      if (line.length >= limits.waiting) return false;
      await new Promise<void>((resolve) => line.push(resolve));
      return true; // handed over by the turn that ended (running stays counted)
    },
    release() {
      const next = line.shift();
      if (next) next();
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
  };
  return turns;
}
