// A real Temporal server (go.temporal.io/server, all four services in one process) on PostgreSQL with
// several history shards, for `BENCH_TEMPORAL=postgres npm run bench`. It gets two fresh databases on
// the bench's Postgres (schema set up with temporal-sql-tool, dropped on stop), a config directory in a
// temp dir and free loopback ports; the namespace `default` is registered once the server answers.
// Over ~400 lines on purpose: one server's lifecycle (build, databases, config, start, readiness, stop) whose
// steps share the same ports, paths and child process; nothing else uses the pieces.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import proto from '@temporalio/proto';
import pg from 'pg';
import { freePort, isExecutable, killOnParentExit, onPath, stopChild, toolCacheDir, waitForPort } from '../src/temporal/dev-server.js';
import { sleep } from './lib.js';

export const TEMPORAL_SERVER_VERSION = '1.29.1';
const SERVER_MODULE = 'go.temporal.io/server';
const GO_PACKAGES = { server: `${SERVER_MODULE}/cmd/server`, sql: `${SERVER_MODULE}/cmd/tools/sql` } as const;
const NAMESPACE = 'default';
const START_TIMEOUT_MS = 120_000;
const READY_TIMEOUT_MS = 120_000;

const run = promisify(execFile);

export interface PostgresTemporalOptions {
  /** The bench's Postgres (any database on it): the server's two databases are created next to it. */
  databaseUrl: string;
  shards: number;
  log: (m: string) => void;
}

export interface PostgresTemporal {
  address: string;
  process: ChildProcess;
  /** e.g. `Temporal server 1.29.1 on PostgreSQL, 8 history shards`. */
  description: string;
  /** The server's main (history) database: its commits are Temporal's persistence writes. */
  databaseName: string;
  stop(): Promise<void>;
}

async function isDirectory(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** The error text of a failed execFile: its output says more than "Command failed". */
function execError(what: string, err: unknown): Error {
  const e = err as Error & { stdout?: string; stderr?: string };
  const output = `${e.stderr ?? ''}${e.stdout ?? ''}`.trim().slice(-2000);
  return new Error(`${what} failed: ${output || e.message}`);
}

/**
 * The server and temporal-sql-tool binaries: TEMPORAL_SERVER_PATH / TEMPORAL_SQL_TOOL_PATH, else the
 * tool cache (`${XDG_CACHE_HOME:-~/.cache}/selfheal/tools/bin`), built there with `go install` when
 * missing and Go is on PATH.
 */
async function findBinaries(log: (m: string) => void): Promise<{ server: string; sql: string }> {
  const bin = path.join(toolCacheDir(), 'bin');
  const found: Partial<Record<keyof typeof GO_PACKAGES, string>> = {};
  const missing: (keyof typeof GO_PACKAGES)[] = [];
  for (const [name, envVar] of [
    ['server', 'TEMPORAL_SERVER_PATH'],
    ['sql', 'TEMPORAL_SQL_TOOL_PATH'],
  ] as const) {
    const explicit = process.env[envVar];
    if (explicit) {
      if (!(await isExecutable(explicit))) throw new Error(`${envVar}=${explicit} is not an executable file`);
      found[name] = path.resolve(explicit);
    } else if (await isExecutable(path.join(bin, name))) {
      found[name] = path.join(bin, name);
    } else {
      missing.push(name);
    }
  }
  if (missing.length > 0) {
    const go = await onPath('go');
    const modules = missing.map((name) => `${GO_PACKAGES[name]}@v${TEMPORAL_SERVER_VERSION}`);
    if (!go) {
      throw new Error(
        `Temporal server binaries not found (${missing.join(', ')}) and Go is not on PATH: build them with ` +
          `GOBIN=${bin} CGO_ENABLED=0 go install ${modules.join(' ')}, or set TEMPORAL_SERVER_PATH and TEMPORAL_SQL_TOOL_PATH`,
      );
    }
    log(`building Temporal server ${TEMPORAL_SERVER_VERSION} (${missing.join(', ')}) with Go into ${bin} (once; takes a few minutes)`);
    await mkdir(bin, { recursive: true });
    try {
      await run(go, ['install', ...modules], {
        env: { ...process.env, GOBIN: bin, CGO_ENABLED: process.env.CGO_ENABLED ?? '0' },
        maxBuffer: 16 * 1024 * 1024,
      });
    } catch (err) {
      throw execError(`go install ${modules.join(' ')}`, err);
    }
    for (const name of missing) {
      if (!(await isExecutable(path.join(bin, name)))) throw new Error(`go install did not produce ${path.join(bin, name)}`);
      found[name] = path.join(bin, name);
    }
  }
  return { server: found.server!, sql: found.sql! };
}

/**
 * The PostgreSQL schema directory (holding temporal/versioned and visibility/versioned): TEMPORAL_SCHEMA_DIR,
 * else the server module in the Go module cache (downloaded there when missing).
 */
async function findSchemaDir(cwd: string): Promise<string> {
  const explicit = process.env.TEMPORAL_SCHEMA_DIR;
  const usable = async (dir: string): Promise<boolean> =>
    (await isDirectory(path.join(dir, 'temporal', 'versioned'))) && (await isDirectory(path.join(dir, 'visibility', 'versioned')));
  if (explicit) {
    if (await usable(explicit)) return path.resolve(explicit);
    throw new Error(`TEMPORAL_SCHEMA_DIR=${explicit} does not hold temporal/versioned and visibility/versioned`);
  }
  const go = await onPath('go');
  if (!go) throw new Error('Go is not on PATH, so the Temporal PostgreSQL schema cannot be found: set TEMPORAL_SCHEMA_DIR to <server module>/schema/postgresql/v12');
  const inModule = (moduleDir: string): string => path.join(moduleDir, 'schema', 'postgresql', 'v12');
  const env = { ...process.env, GOFLAGS: '' };
  try {
    const { stdout } = await run(go, ['env', 'GOMODCACHE'], { cwd, env });
    const cached = inModule(path.join(stdout.trim(), `${SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`));
    if (await usable(cached)) return cached;
  } catch {
    // Fall through to the download, which says what is wrong.
  }
  let dir: string | undefined;
  try {
    const { stdout } = await run(go, ['mod', 'download', '-json', `${SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`], { cwd, env, maxBuffer: 16 * 1024 * 1024 });
    dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
  } catch (err) {
    throw execError(`go mod download ${SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION}`, err);
  }
  if (dir && (await usable(inModule(dir)))) return inModule(dir);
  throw new Error(`no PostgreSQL schema in ${SERVER_MODULE}@v${TEMPORAL_SERVER_VERSION} (${dir ?? 'no Dir'}): set TEMPORAL_SCHEMA_DIR`);
}

interface PgTarget {
  host: string;
  port: number;
  user: string;
  password: string;
}

function parseDatabaseUrl(databaseUrl: string): PgTarget {
  const url = new URL(databaseUrl);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1',
    port: url.port ? Number(url.port) : 5432,
    user: decodeURIComponent(url.username) || os.userInfo().username,
    password: decodeURIComponent(url.password),
  };
}

/** The tail of the server's log file, for error messages. */
async function logTail(file: string, chars = 3000): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.length > chars ? `…${text.slice(-chars)}` : text;
  } catch {
    return '';
  }
}

interface Ports {
  frontend: { grpcPort: number; membershipPort: number; httpPort: number };
  matching: { grpcPort: number; membershipPort: number };
  history: { grpcPort: number; membershipPort: number };
  worker: { grpcPort: number; membershipPort: number };
}

/** Whether 127.0.0.1:port can be listened on right now. */
async function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

/**
 * Membership ports go into cluster_membership.rpc_port, a SMALLINT: one above 32767 makes the server die
 * at start ("value out of range for type smallint"). The kernel hands out ephemeral ports from 32768 up,
 * so these are picked at random below that instead.
 */
async function freeMembershipPort(): Promise<number> {
  for (let i = 0; i < 1000; i++) {
    const port = 16_384 + Math.floor(Math.random() * (32_767 - 16_384));
    if (await canListen(port)) return port;
  }
  throw new Error('no free port below 32768 for Temporal membership');
}

async function freePorts(): Promise<Ports> {
  const taken = new Set<number>();
  const next = async (pick: () => Promise<number>): Promise<number> => {
    for (;;) {
      const port = await pick();
      if (!taken.has(port)) {
        taken.add(port);
        return port;
      }
    }
  };
  const service = async () => ({ grpcPort: await next(freePort), membershipPort: await next(freeMembershipPort) });
  return {
    frontend: { ...(await service()), httpPort: await next(freePort) },
    matching: await service(),
    history: await service(),
    worker: await service(),
  };
}

function serverConfig(opts: { target: PgTarget; databases: { main: string; visibility: string }; shards: number; ports: Ports; dynamicConfigFile: string }): unknown {
  const store = (databaseName: string, maxConns: number) => ({
    sql: {
      pluginName: 'postgres12',
      databaseName,
      connectAddr: `${opts.target.host.includes(':') ? `[${opts.target.host}]` : opts.target.host}:${opts.target.port}`,
      connectProtocol: 'tcp',
      user: opts.target.user,
      password: opts.target.password,
      maxConns,
      maxIdleConns: maxConns,
      maxConnLifetime: '1h',
    },
  });
  const rpc = (ports: { grpcPort: number; membershipPort: number; httpPort?: number }) => ({ rpc: { ...ports, bindOnLocalHost: true } });
  const frontendAddress = `127.0.0.1:${opts.ports.frontend.grpcPort}`;
  return {
    log: { stdout: true, level: 'error' },
    persistence: {
      defaultStore: 'postgres-default',
      visibilityStore: 'postgres-visibility',
      numHistoryShards: opts.shards,
      datastores: { 'postgres-default': store(opts.databases.main, 20), 'postgres-visibility': store(opts.databases.visibility, 4) },
    },
    global: { membership: { maxJoinDuration: '30s', broadcastAddress: '127.0.0.1' } },
    services: {
      frontend: rpc(opts.ports.frontend),
      matching: rpc(opts.ports.matching),
      history: rpc(opts.ports.history),
      worker: rpc(opts.ports.worker),
    },
    clusterMetadata: {
      enableGlobalNamespace: false,
      failoverVersionIncrement: 10,
      masterClusterName: 'active',
      currentClusterName: 'active',
      clusterInformation: { active: { enabled: true, initialFailoverVersion: 1, rpcName: 'frontend', rpcAddress: frontendAddress } },
    },
    dcRedirectionPolicy: { policy: 'noop' },
    // Must be absolute: the server resolves it against its working directory, not --root.
    dynamicConfigClient: { filepath: opts.dynamicConfigFile, pollInterval: '10s' },
  };
}

/**
 * Server defaults except eager activity dispatch, which is off by default on 1.29 and which the dev
 * server gets too (DEV_SERVER_DYNAMIC_CONFIG). Task-queue partitions stay at the default of four.
 */
const DYNAMIC_CONFIG = `system.enableActivityEagerExecution:
  - value: true
`;

const grpcCode = (err: unknown): number | undefined => (err as { code?: unknown }).code as number | undefined;
const NOT_FOUND = 5;
const ALREADY_EXISTS = 6;

/**
 * Register `default` and wait until every service knows it: namespaces are not created by the server, and
 * each service's namespace cache picks a new one up only on its next refresh (~10 s).
 */
async function registerNamespace(address: string, deadline: number, isAlive: () => boolean): Promise<void> {
  let last: unknown;
  let connection: Connection | undefined;
  try {
    let registered = false;
    for (;;) {
      if (!isAlive()) throw new Error('the server exited');
      if (Date.now() > deadline) throw new Error(`namespace ${NAMESPACE} not usable within ${READY_TIMEOUT_MS / 1000} s: ${(last as Error | undefined)?.message ?? 'no answer'}`);
      try {
        connection ??= await Connection.connect({ address, connectTimeout: 5_000 });
        const service = connection.workflowService;
        if (!registered) {
          try {
            await service.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });
          } catch (err) {
            if (grpcCode(err) !== ALREADY_EXISTS) throw err;
          }
          registered = true;
        }
        await service.describeNamespace({ namespace: NAMESPACE });
        // Through history's namespace cache: an unknown workflow is NOT_FOUND once the namespace is known.
        try {
          await service.describeWorkflowExecution({ namespace: NAMESPACE, execution: { workflowId: `selfheal-readiness-${randomBytes(4).toString('hex')}` } });
        } catch (err) {
          if (grpcCode(err) !== NOT_FOUND || /namespace/i.test((err as Error).message)) throw err;
        }
        // Through matching's.
        await service.describeTaskQueue({
          namespace: NAMESPACE,
          taskQueue: { name: 'selfheal-readiness' },
          taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        });
        return;
      } catch (err) {
        last = err;
        await sleep(500);
      }
    }
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/** Start the server on fresh ports; a start that dies early (a port taken in between) is tried again. */
async function spawnServer(opts: {
  binary: string;
  dir: string;
  logFile: string;
  config: (ports: Ports) => unknown;
}): Promise<{ child: ChildProcess; address: string; exited: () => boolean }> {
  for (let attempt = 1; ; attempt++) {
    const ports = await freePorts();
    await writeFile(path.join(opts.dir, 'config', 'development.yaml'), `# written by bench/temporal-postgres.ts (JSON is YAML)\n${JSON.stringify(opts.config(ports), null, 2)}\n`);
    const out = openSync(opts.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(opts.binary, ['--root', opts.dir, '--config', 'config', '--env', 'development', '--allow-no-auth', 'start'], {
        cwd: opts.dir,
        stdio: ['ignore', out, out],
        detached: false,
      });
    } finally {
      closeSync(out);
    }
    // Never outlive the bench, however it ends (short of SIGKILL).
    const alive = killOnParentExit(child);
    child.once('error', () => undefined);
    try {
      await waitForPort('127.0.0.1', ports.frontend.grpcPort, START_TIMEOUT_MS, alive);
      return { child, address: `127.0.0.1:${ports.frontend.grpcPort}`, exited: () => !alive() };
    } catch (err) {
      const crashed = !alive();
      await stopChild(child, 2000);
      // A crash at start is usually a port taken in between: try again on fresh ports.
      if (attempt >= 3 || !crashed) throw new Error(`Temporal server did not start: ${(err as Error).message}\n${await logTail(opts.logFile)}`);
    }
  }
}

export async function startPostgresTemporal(opts: PostgresTemporalOptions): Promise<PostgresTemporal> {
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async (): Promise<void> => {
    while (cleanups.length > 0) await cleanups.pop()!().catch((err: unknown) => opts.log(`Temporal teardown: ${(err as Error).message}`));
  };
  try {
    if (!Number.isInteger(opts.shards) || opts.shards < 1) throw new Error(`history shards must be a positive integer, not ${opts.shards}`);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-temporal-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    await mkdir(path.join(dir, 'config'));
    const logFile = path.join(dir, 'server.log');
    const bin = await findBinaries(opts.log);
    const schemaDir = await findSchemaDir(dir);

    const target = parseDatabaseUrl(opts.databaseUrl);
    const main = `selfheal_bench_temporal_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const databases = { main, visibility: `${main}_vis` };
    const sqlTool = async (database: string, ...args: string[]): Promise<void> => {
      const common = ['--plugin', 'postgres12', '--ep', target.host, '-p', String(target.port), '-u', target.user, '--db', database];
      try {
        await run(bin.sql, [...common, ...args], { cwd: dir, env: { ...process.env, SQL_PASSWORD: target.password }, maxBuffer: 16 * 1024 * 1024 });
      } catch (err) {
        throw execError(`temporal-sql-tool ${args[0]} on ${database}`, err);
      }
    };
    for (const [database, schema] of [
      [databases.main, 'temporal'],
      [databases.visibility, 'visibility'],
    ] as const) {
      cleanups.push(async () => {
        const admin = new pg.Client({ connectionString: opts.databaseUrl });
        await admin.connect();
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        } finally {
          await admin.end();
        }
      });
      await sqlTool(database, 'create-database');
      await sqlTool(database, 'setup-schema', '-v', '0.0');
      await sqlTool(database, 'update-schema', '-d', path.join(schemaDir, schema, 'versioned'));
    }
    opts.log(`Temporal databases ${databases.main} and ${databases.visibility} ready`);

    const dynamicConfigFile = path.join(dir, 'config', 'dynamicconfig.yaml');
    await writeFile(dynamicConfigFile, DYNAMIC_CONFIG);
    const { child, address, exited } = await spawnServer({
      binary: bin.server,
      dir,
      logFile,
      config: (ports) => serverConfig({ target, databases, shards: opts.shards, ports, dynamicConfigFile }),
    });
    cleanups.push(() => stopChild(child, 5000));
    try {
      await registerNamespace(address, Date.now() + READY_TIMEOUT_MS, () => !exited());
    } catch (err) {
      throw new Error(`Temporal server at ${address} not ready: ${(err as Error).message}\n${await logTail(logFile)}`);
    }

    let version = TEMPORAL_SERVER_VERSION;
    try {
      const { stdout } = await run(bin.server, ['--version'], { cwd: dir });
      version = /(\d+\.\d+\.\d+\S*)/.exec(stdout)?.[1] ?? version;
    } catch {
      // Keep the version it was built as.
    }
    let stopping: Promise<void> | undefined;
    return {
      address,
      process: child,
      description: `Temporal server ${version} on PostgreSQL, ${opts.shards} history shard${opts.shards === 1 ? '' : 's'}`,
      databaseName: databases.main,
      stop: () => (stopping ??= cleanup()),
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
