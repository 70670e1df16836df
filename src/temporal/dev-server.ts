import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { access, constants, mkdir } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * The local Temporal dev server (`temporal server start-dev`) used by `npm start` and by the tests.
 * Finds the Temporal CLI (TEMPORAL_CLI_PATH, PATH, the tool cache) or provisions it.
 */

export const TEMPORAL_CLI_VERSION = 'v1.5.1';
const GO_MODULE = `github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_VERSION}`;

export class TemporalCliMissingError extends Error {
  constructor(detail: string) {
    super(
      `Temporal CLI not found and could not be provisioned (${detail}). Install it (https://docs.temporal.io/cli#install, ` +
        `or with Go: go install ${GO_MODULE}) and set TEMPORAL_CLI_PATH, or set TEMPORAL_ADDRESS to an existing Temporal server.`,
    );
    this.name = 'TemporalCliMissingError';
  }
}

/** The machine-wide tool cache: survives fresh clones, so the CLI is built once. */
export function toolCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SELFHEAL_TOOLS_DIR) return path.resolve(env.SELFHEAL_TOOLS_DIR);
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'selfheal', 'tools');
}

export async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first executable `name` on env.PATH. */
export async function onPath(name: string, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface FindOptions {
  cliPath?: string | undefined;
  env?: NodeJS.ProcessEnv;
  /** Build or download the CLI when it is nowhere to be found. */
  provision?: boolean;
  log?: (msg: string) => void;
}

/** Locate the Temporal CLI: explicit path, PATH, tool cache; else build it with Go when Go is present. */
export async function findTemporalCli(opts: FindOptions = {}): Promise<string | undefined> {
  const env = opts.env ?? process.env;
  if (opts.cliPath) {
    if (await isExecutable(opts.cliPath)) return path.resolve(opts.cliPath);
    throw new TemporalCliMissingError(`TEMPORAL_CLI_PATH=${opts.cliPath} is not an executable file`);
  }
  const fromPath = await onPath('temporal', env);
  if (fromPath) return fromPath;
  const cached = path.join(toolCacheDir(env), 'bin', 'temporal');
  if (await isExecutable(cached)) return cached;
  if (!opts.provision) return undefined;

  const go = await onPath('go', env);
  if (!go) return undefined;
  opts.log?.(`building the Temporal CLI ${TEMPORAL_CLI_VERSION} with Go into ${path.dirname(cached)} (once; takes a few minutes)`);
  await mkdir(path.dirname(cached), { recursive: true });
  const res = spawnSync(go, ['install', GO_MODULE], {
    env: { ...env, GOBIN: path.dirname(cached), CGO_ENABLED: env.CGO_ENABLED ?? '0' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  if (res.status === 0 && (await isExecutable(cached))) return cached;
  opts.log?.(`go install failed (exit ${res.status ?? res.signal})`);
  return undefined;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function waitForPort(host: string, port: number, timeoutMs: number, isAlive: () => boolean = () => true): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const sock = net.connect({ host, port });
      sock.once('connect', () => {
        sock.destroy();
        resolve(true);
      });
      sock.once('error', () => resolve(false));
    });
    if (ok) return;
    if (!isAlive()) throw new Error(`process exited before ${host}:${port} accepted connections`);
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface DevServerOptions {
  executable: string;
  port?: number;
  /** 0 or undefined → headless. */
  uiPort?: number;
  /** SQLite file for persistent state; unset → in memory. */
  dbFilename?: string;
  /** SQLite pragmas for that file (`--sqlite-pragma name=value`), e.g. synchronous: 'OFF'. */
  sqlitePragmas?: Record<string, string>;
  namespace?: string;
  ip?: string;
  logLevel?: string;
  startTimeoutMs?: number;
  /** Dynamic config on top of DEV_SERVER_DYNAMIC_CONFIG (a test's lower history size limit). */
  dynamicConfig?: Record<string, string | number | boolean>;
}

/**
 * Dynamic config the dev server starts with. Eager activity dispatch hands an activity scheduled by a
 * workflow task (an action, the write-back note) straight back to the worker that completed it, with no
 * trip through matching; it is off by default on Temporal 1.29. One task-queue partition: a
 * single-process server gains nothing from four, and a task on a partition without a waiting poller
 * would wait for forwarding. Neither was measured on its own against the defaults.
 */
export const DEV_SERVER_DYNAMIC_CONFIG: Record<string, string | number | boolean> = {
  'system.enableActivityEagerExecution': true,
  'matching.numTaskqueueReadPartitions': 1,
  'matching.numTaskqueueWritePartitions': 1,
};

export interface DevServer {
  address: string;
  port: number;
  uiUrl: string | undefined;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Start `temporal server start-dev` as a child process and wait until its frontend accepts connections.
 * Its ports are picked free just before the start, so another process can take one in between: a start
 * that fails is tried again on fresh ports (see worthRetrying).
 */
export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startDevServerOnce(opts);
    } catch (err) {
      if (attempt >= 3 || !worthRetrying(err, opts.port)) throw err;
    }
  }
}

/**
 * Whether a failed start may succeed on fresh ports: any failure when no port is pinned; with the frontend
 * port pinned (`npm start`'s 7233), only a port we picked (HTTP, metrics) that another process took in
 * between. A pinned port in use stays an error at once.
 */
export function worthRetrying(err: unknown, pinnedPort: number | undefined): boolean {
  if (!pinnedPort) return true;
  const taken = /:(\d+): bind: address already in use/.exec(err instanceof Error ? err.message : String(err));
  return taken !== null && Number(taken[1]) !== pinnedPort;
}

async function startDevServerOnce(opts: DevServerOptions): Promise<DevServer> {
  const ip = opts.ip ?? '127.0.0.1';
  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', ip, '--port', String(port), '--namespace', opts.namespace ?? 'default'];
  args.push('--log-level', opts.logLevel ?? 'error');
  if (opts.uiPort) args.push('--ui-port', String(opts.uiPort), '--ui-ip', ip);
  else args.push('--headless');
  if (opts.dbFilename) {
    await mkdir(path.dirname(opts.dbFilename), { recursive: true });
    args.push('--db-filename', opts.dbFilename);
    for (const [name, value] of Object.entries(opts.sqlitePragmas ?? {})) args.push('--sqlite-pragma', `${name}=${value}`);
  }
  // Internal ports (metrics, HTTP) on free ports too, so several servers can run side by side.
  args.push('--http-port', String(await freePort()), '--metrics-port', String(await freePort()));
  for (const [key, value] of Object.entries({ ...DEV_SERVER_DYNAMIC_CONFIG, ...opts.dynamicConfig })) {
    args.push('--dynamic-config-value', `${key}=${JSON.stringify(value)}`);
  }

  const child = spawn(opts.executable, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: false });
  // The head says why it failed (a Go panic's first line), the tail where.
  let head = '';
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    if (head.length < 2000) head = (head + d.toString()).slice(0, 2000);
    stderr = (stderr + d.toString()).slice(-2000);
  });
  // Never outlive the process that started it (a test run that exits early, npm start stopped hard).
  const alive = killOnParentExit(child);
  try {
    await waitForPort(ip, port, opts.startTimeoutMs ?? 60_000, alive);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`Temporal dev server did not start: ${(err as Error).message}\n${head}${stderr.length === 2000 ? `\n…\n${stderr}` : ''}`);
  }
  return {
    address: `${ip}:${port}`,
    port,
    uiUrl: opts.uiPort ? `http://localhost:${opts.uiPort}` : undefined,
    process: child,
    stop: () => stopChild(child),
  };
}

/**
 * SIGKILL `child` when this process exits (normally or by an uncaught error; not when it is itself
 * SIGKILLed). Returns whether the child is still running.
 */
export function killOnParentExit(child: ChildProcess): () => boolean {
  let exited = false;
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  child.once('exit', () => {
    exited = true;
    process.off('exit', killOnExit);
  });
  return () => !exited;
}

export async function stopChild(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
