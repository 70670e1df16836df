import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Worker } from '@temporalio/worker';
import { buildAgentWorker } from '../../src/agent.js';
import type { ExtractorsConfig } from '../../src/domain/extract.js';
import { agentTaskQueue } from '../../src/temporal/names.js';
import type { Stack } from './stack.js';

/** Host and environment from an incident title `[host] environment: …`, as the end-to-end remediation tests write them. */
export const HOST_ENVIRONMENT_TITLE: ExtractorsConfig = {
  extractors: [{ type: 'regex', source: 'title', pattern: '^\\[(?<host>[a-z0-9-]+)\\] (?<environment>[a-z0-9-]+):' }],
};

/**
 * A Doctor agent's host for end-to-end tests: its scripts directory, a directory its scripts leave files in
 * (what the host saw, for the test to assert), and, once a stack runs, the real agent worker serving one
 * environment on that environment's queue.
 */
export interface AgentHost {
  scriptsDir: string;
  markerDir: string;
  /** Write an executable `#!/bin/sh` script into the scripts directory. */
  script(name: string, body: string): Promise<void>;
  /** Run the agent for `environment` on the stack's Temporal and register the environment with its queue. */
  serve(stack: Stack, environment: string): Promise<void>;
  /** Stop the agent (before the stack stops) and remove both directories. */
  close(): Promise<void>;
}

export async function makeAgentHost(prefix: string): Promise<AgentHost> {
  const scriptsDir = await mkdtemp(path.join(os.tmpdir(), `selfheal-${prefix}-scripts-`));
  const markerDir = await mkdtemp(path.join(os.tmpdir(), `selfheal-${prefix}-markers-`));
  // The agent refuses a scripts directory that others may write to.
  await chmod(scriptsDir, 0o755);
  let agent: Worker | undefined;
  let running: Promise<void> | undefined;
  return {
    scriptsDir,
    markerDir,
    async script(name, body) {
      await writeFile(path.join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
      await chmod(path.join(scriptsDir, name), 0o755);
    },
    async serve(stack, environment) {
      agent = await buildAgentWorker({ config: stack.config, connection: stack.temporal.nativeConnection, environment, scriptsDir });
      running = agent.run();
      await stack.db.db.insertInto('environments').values({ name: environment, labels: '{}', agent_task_queue: agentTaskQueue(environment), maintenance_windows: '[]', ssh: null }).execute();
    },
    async close() {
      agent?.shutdown();
      await running?.catch(() => undefined);
      await Promise.all([scriptsDir, markerDir].map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}
