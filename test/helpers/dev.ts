// `npm start` (src/dev.ts: the API and the worker in one process) as a real child process, for the tests of
// what it runs: started on a test Temporal and database, and waited for until its banner names its API port.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import type { TestDatabase } from './db.js';
import { startChildRoot, type ChildRoot } from './fault-process.js';
import { ADMIN_TOKEN } from './stack.js';
import type { TestTemporal } from './temporal.js';

export interface DevProcess {
  child: ChildRoot;
  /** The port its API listens on (PORT=0: a free one, as its banner prints it). */
  port: number;
  /** A request to its API as the admin token, with a JSON content type. */
  api(path: string, init?: RequestInit): Promise<Response>;
  stop(): Promise<void>;
}

/**
 * src/dev.ts with exactly `env`, once its banner is printed (to its last line: the banner may reach this
 * reader in more than one chunk). Stopped again if it never prints it.
 */
export async function startDevWith(env: Record<string, string>): Promise<DevProcess> {
  const child = startChildRoot('src/dev.ts', { ...env, PORT: '0' });
  try {
    await child.waitFor(/Self-healing is running[\s\S]*Database /, 120_000);
    const port = Number(/API\s+http:\/\/localhost:(\d+)/.exec(child.output())?.[1]);
    assert.ok(port > 0, child.output().slice(-1000));
    return {
      child,
      port,
      api: (path, init = {}) => fetch(`http://127.0.0.1:${port}${path}`, { ...init, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } }),
      stop: () => child.stop(),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** src/dev.ts on `temporal` and `db` (a task queue of its own, named from `queuePrefix`), with `env` added. */
export function startDev(on: { temporal: TestTemporal; db: TestDatabase }, queuePrefix: string, env: Record<string, string> = {}): Promise<DevProcess> {
  return startDevWith({
    DATABASE_URL: on.db.url,
    TEMPORAL_ADDRESS: on.temporal.address,
    TEMPORAL_TASK_QUEUE: `${queuePrefix}-${randomUUID()}`,
    SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
    ...env,
  });
}
