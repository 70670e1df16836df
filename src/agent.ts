// The Doctor agent: one per environment. A Temporal worker polling its environment's task queue, so it
// needs outbound connections only. It runs allow-listed scripts and nothing else.
import { pathToFileURL } from 'node:url';
import { Worker, type NativeConnection } from '@temporalio/worker';
import { createAgentActivities } from '../activities/agent.js';
import type { Config } from './config.js';
import { sweepRunDirs, validateScriptsDir } from './executors/script-runner.js';
import type { Logger } from './logger.js';
import { temporalTarget } from './temporal/connection.js';
import { agentTaskQueue } from './temporal/names.js';
import { connectNative, installTemporalRuntime } from './temporal/worker.js';
import { configOrExit, exitOnFatalError, loggerFor, onShutdown } from './runtime.js';

export class AgentStartError extends Error {}

/**
 * The agent's identity as Temporal shows it to the API (`GET /api/environments/{name}` lists the pollers):
 * the teams it serves, or `teams=*` when it serves every team (SELFHEAL_AGENT_TEAMS=*, or unset outside
 * production), so a queue served for another team shows.
 */
export function agentIdentity(environment: string, teams: readonly string[] | undefined): string {
  // Temporal refuses a poll whose identity is over 1,000 characters (its frontend's id length limit), and
  // 100 names of 63 are allowed: the list is cut, saying how many more, so the agent always polls.
  const all = teams === undefined ? '*' : teams.join(',');
  const head = `doctor-agent@${environment} teams=`;
  if (head.length + all.length <= MAX_IDENTITY) return head + all;
  const shown: string[] = [];
  for (const t of teams!) {
    const more = `,…(+${teams!.length - shown.length - 1})`;
    if (head.length + [...shown, t].join(',').length + more.length > MAX_IDENTITY) break;
    shown.push(t);
  }
  return `${head}${shown.join(',')},…(+${teams!.length - shown.length})`;
}

/** Longest identity the agent gives Temporal: under its 1,000-character id limit, with room for the environment. */
const MAX_IDENTITY = 600;

/** Build the agent's worker: activities only (no workflows), on `selfheal-agent-<environment>`. */
export async function buildAgentWorker(opts: { config: Config; connection: NativeConnection; environment: string; scriptsDir: string; identity?: string }): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.config.temporal.namespace,
    taskQueue: agentTaskQueue(opts.environment),
    activities: createAgentActivities({
      scriptsDir: opts.scriptsDir,
      maxTimeoutSeconds: opts.config.agent.timeoutSeconds,
      maxConcurrentScripts: opts.config.agent.maxConcurrentScripts,
      teams: opts.config.agent.teams,
    }),
    identity: opts.identity ?? agentIdentity(opts.environment, opts.config.agent.teams),
    shutdownGraceTime: '15 seconds',
  });
}

/** Connect with retries; after the last one, a clear error naming the address. */
export async function connectWithRetries(config: Config, address: string, logger: Logger, attempts = 5): Promise<NativeConnection> {
  let lastError: unknown;
  for (let i = 1; i <= attempts; i++) {
    try {
      return await connectNative(temporalTarget(config, address));
    } catch (err) {
      lastError = err;
      logger.warn({ attempt: i, attempts, address }, 'cannot reach Temporal yet');
      if (i < attempts) await new Promise((r) => setTimeout(r, Math.min(1000 * 2 ** (i - 1), 15_000)));
    }
  }
  throw new AgentStartError(`cannot reach Temporal at ${address} after ${attempts} attempts: ${(lastError as Error).message.split('\n')[0]}`);
}

async function main(): Promise<void> {
  const config = configOrExit('agent');
  const logger = loggerFor(config, 'selfheal-agent');
  exitOnFatalError(logger);
  const environment = config.agent.environment;
  if (!environment) throw new AgentStartError('SELFHEAL_ENVIRONMENT is required: the name of the environment this agent serves');
  let scriptsDir: string;
  try {
    scriptsDir = await validateScriptsDir(config.agent.scriptsDir);
  } catch (err) {
    throw new AgentStartError(`SELFHEAL_SCRIPTS_DIR: ${(err as Error).message}`);
  }
  const teams = config.agent.teams;
  // Said before connecting: in the log even while Temporal cannot be reached.
  if (config.agent.everyTeam === 'asked') {
    // The operator's explicit opt-out: said at every start, at error level, so it is not missed in the log.
    logger.error(
      { environment, teams: '*' },
      'SELFHEAL_AGENT_TEAMS=*: this Doctor agent runs the fix scripts, checks and job targets of EVERY team whose environment is served on its queue, including a team that registers this environment\'s name first; list the team(s) this host belongs to instead',
    );
  } else if (teams === undefined) {
    // Reached only outside production (loadConfig refuses a production agent without SELFHEAL_AGENT_TEAMS).
    logger.warn(
      { environment, nodeEnv: config.nodeEnv },
      'SELFHEAL_AGENT_TEAMS is not set: this agent runs the scripts of every team whose environment is served on its queue (allowed only outside NODE_ENV=production); set it to the team(s) this host belongs to',
    );
  }
  const swept = await sweepRunDirs();
  if (swept > 0) logger.info({ removed: swept }, 'removed run directories a killed agent left behind');
  installTemporalRuntime(logger, { metricsAddress: config.temporal.workerMetricsAddress });
  const address = config.temporal.address ?? 'localhost:7233';
  const connection = await connectWithRetries(config, address, logger);
  const worker = await buildAgentWorker({ config, connection, environment, scriptsDir });
  const running = worker.run();
  logger.info({ environment, taskQueue: agentTaskQueue(environment), scriptsDir, address, teams: teams ?? '*' }, 'Doctor agent polling');
  onShutdown(logger, async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    await connection.close();
  });
  await running;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`agent failed: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
