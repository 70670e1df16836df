import { spawn } from 'node:child_process';
import { constants as fsConstants, type Stats } from 'node:fs';
import { access, lstat, mkdtemp, readdir, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { refusedEnvName, SCRIPT_PARAM_PREFIX } from '../domain/script-env.js';
import { ScriptNotAllowedError, ScriptsDirError } from './errors.js';
import { CappedBuffer, DEFAULT_MAX_OUTPUT_BYTES, scriptResult, type ScriptResult } from './output-buffer.js';
import { signalProcessGroup, signalSession } from './process-group.js';

export interface ScriptProgress {
  stdoutBytes: number;
  stderrBytes: number;
  elapsedMs: number;
}

export interface RunScriptOptions {
  /** The allow-listed scripts directory; only executables inside it may run. */
  scriptsDir: string;
  /** Script name relative to scriptsDir, e.g. `health-check.sh`. */
  script: string;
  /** Passed as argv; never interpreted by a shell. */
  args?: readonly string[];
  /**
   * A rule's `environment`: only SELFHEAL_PARAM_* names (an allow list, src/domain/script-env.ts); any
   * other name is refused with ScriptNotAllowedError before anything runs.
   */
  env?: Readonly<Record<string, string>>;
  /** Context exported as `SELFHEAL_<KEY>` (key upper-cased, non-alphanumerics → `_`), e.g. `{ incidentId }`. */
  context?: Readonly<Record<string, string>>;
  timeoutMs: number;
  /** Cap for each of stdout and stderr. Default 64 KiB. */
  maxOutputBytes?: number;
  /** Aborting kills the whole process group; runScript then rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called at most once per second while the script runs (drive Temporal heartbeats from it). */
  onProgress?: (progress: ScriptProgress) => void;
  /** Time between SIGTERM and SIGKILL when stopping the group. Default 5000 ms. */
  killGraceMs?: number;
  /** Working directory. Default: a new directory of its own under the OS temp dir (mode 0700), removed after the run (never the scripts dir, so scripts cannot write next to themselves). */
  cwd?: string;
  /** Environment the allowed base variables (PATH, LANG, HOME) are taken from. Default process.env. */
  baseEnv?: NodeJS.ProcessEnv;
}

export type { ScriptResult } from './output-buffer.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const PASSED_THROUGH = ['PATH', 'LANG', 'HOME'] as const;
const PROGRESS_INTERVAL_MS = 1000;
/** Where timeout(1) is looked for (fixed paths: GNU coreutils, BusyBox); never found through a rule. */
const TIMEOUT_PROGRAMS = ['/usr/bin/timeout', '/bin/timeout'];
/** Seconds the script's own deadline (timeout(1)) gives after ours, so that ours normally fires first. */
export const DEADLINE_BACKSTOP_SLACK_SECONDS = 2;
/** After the script's main process exits, how long its output may stay open before leftovers are killed. */
const DRAIN_AFTER_EXIT_MS = 2000;

/** The uid this process runs as (0 where the platform has none): besides root, the only owner a path the agent runs from may have. */
function ownUid(): number {
  return process.getuid?.() ?? 0;
}

/**
 * Why code reached through `path` (a real path: no symlinks) could be replaced by someone other than root
 * or this process's own user, or undefined when it cannot. sshd's StrictModes rule: the component must be
 * owned by root or by our uid, and be neither group- nor world-writable (`mode & 022`). The agent usually
 * runs scripts as root, so whoever could write one component could make it run their code as root: the
 * owner can chmod or replace it, a group or world write bit lets others rename, replace or add entries.
 *
 * One exception, for `ancestor` directories only (those above the scripts directory): a root-owned
 * sticky directory (mode 01000, as /tmp is 1777), where only root and an entry's owner may rename or
 * delete that entry. The next component down is itself checked to be root's or ours, so nobody else can
 * move it away or put another in its place; test helpers and dev setups keep scripts directories under
 * os.tmpdir(). The scripts directory and its subdirectories get no such exception: there anyone could
 * add a new script a rule may then name.
 */
function unsafeBecause(path: string, st: Stats, ancestor: boolean): string | undefined {
  const uid = ownUid();
  const problems: string[] = [];
  const who: string[] = [];
  const fixes: string[] = [];
  if (st.uid !== 0 && st.uid !== uid) {
    problems.push(uid === 0 ? 'not owned by root' : `owned by neither root nor the agent's own uid ${uid}`);
    who.push(`uid ${st.uid}`);
    fixes.push(`chown root ${path}`);
  }
  const stickyRootDir = ancestor && st.isDirectory() && st.uid === 0 && (st.mode & 0o1000) !== 0;
  const group = (st.mode & 0o020) !== 0;
  const world = (st.mode & 0o002) !== 0;
  if ((group || world) && !stickyRootDir) {
    problems.push(group && world ? 'group- and world-writable' : group ? 'group-writable' : 'world-writable');
    who.push(world ? 'any user' : `the members of group ${st.gid}`);
    fixes.push(`chmod go-w ${path}`);
  }
  if (problems.length === 0) return undefined;
  const mode = (st.mode & 0o7777).toString(8);
  return `${problems.join(' and ')} (owner uid ${st.uid}, mode ${mode}): ${who.join(' and ')} could change what the agent runs as uid ${uid}; run ${fixes.join(' && ')}`;
}

/**
 * Checks that `dir` is usable as the scripts directory: exists and is a directory which, like every
 * directory above it up to `/`, only root or this process's user can change (owned by one of them, not
 * group- or world-writable; see unsafeBecause). Returns its realpath.
 */
export async function validateScriptsDir(dir: string): Promise<string> {
  let real: string;
  try {
    real = await realpath(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ScriptsDirError(`scripts directory ${dir} does not exist`);
    throw new ScriptsDirError(`scripts directory ${dir} is not accessible (${code ?? 'unknown error'})`);
  }
  const named = real === dir ? dir : `${dir} (${real})`;
  const st = await stat(real);
  if (!st.isDirectory()) throw new ScriptsDirError(`scripts directory ${dir} is not a directory`);
  const unsafe = unsafeBecause(real, st, false);
  if (unsafe) throw new ScriptsDirError(`scripts directory ${named} is ${unsafe}`);
  // The directories above it: whoever can rename one of them can put another scripts directory in its place.
  for (let up = dirname(real); ; up = dirname(up)) {
    const why = unsafeBecause(up, await stat(up), true);
    if (why) throw new ScriptsDirError(`scripts directory ${named}: the directory ${up} above it is ${why}`);
    if (dirname(up) === up) break;
  }
  return real;
}

/**
 * Resolves `script` to the realpath of an executable regular file strictly inside `scriptsDir`.
 * Absolute names, `..` escapes and symlinks pointing outside are rejected with ScriptNotAllowedError, and
 * so is a file that, or whose directory below the scripts directory, someone other than root or this
 * process's user could change (validateScriptsDir checks the scripts directory and those above it). A
 * symlink is judged by what it points at: the path returned, and run, is the real one that was checked.
 */
export async function resolveAllowedScript(scriptsDir: string, script: string): Promise<string> {
  if (script === '' || script.includes('\0')) throw new ScriptNotAllowedError('script name is empty or invalid');
  if (isAbsolute(script)) throw new ScriptNotAllowedError(`script "${script}" must be a name relative to the scripts directory`);
  const dir = await validateScriptsDir(scriptsDir);
  let real: string;
  try {
    real = await realpath(resolve(dir, script));
  } catch {
    throw new ScriptNotAllowedError(`script "${script}" not found in the scripts directory`);
  }
  const rel = relative(dir, real);
  // `..` as a whole first segment escapes; a name that merely starts with two dots (`..check.sh`) does not.
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel) || !real.startsWith(dir + sep)) {
    throw new ScriptNotAllowedError(`script "${script}" resolves outside the scripts directory`);
  }
  const st = await stat(real);
  if (!st.isFile()) throw new ScriptNotAllowedError(`script "${script}" is not a regular file`);
  const unsafe = unsafeBecause(real, st, false);
  if (unsafe) throw new ScriptNotAllowedError(`script "${script}" (${real}) is ${unsafe}`);
  // A subdirectory others can write would let them replace the script, or plant one a rule may then name.
  for (let sub = dirname(real); sub !== dir && sub.startsWith(dir + sep); sub = dirname(sub)) {
    const why = unsafeBecause(sub, await stat(sub), false);
    if (why) throw new ScriptNotAllowedError(`script "${script}" is in the directory ${relative(dir, sub)} (${sub}), which is ${why}`);
  }
  try {
    await access(real, fsConstants.X_OK);
  } catch {
    throw new ScriptNotAllowedError(`script "${script}" is not executable`);
  }
  return real;
}

let timeoutProgram: Promise<string | undefined> | undefined;

/** The host's timeout(1), or undefined when it has none (looked up once). */
function findTimeoutProgram(): Promise<string | undefined> {
  timeoutProgram ??= (async () => {
    for (const candidate of TIMEOUT_PROGRAMS) {
      try {
        await access(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // try the next one
      }
    }
    return undefined;
  })();
  return timeoutProgram;
}

/**
 * The program and argv that run `file`: under timeout(1) when the host has it, with a deadline
 * {@link DEADLINE_BACKSTOP_SLACK_SECONDS} after ours and SIGKILL `killGraceMs` after that. Our own timer
 * stops the group first; timeout(1) is there for when we cannot: the agent killed (SIGKILL, an OOM kill,
 * a node crash) or gone before its cancellation reached the script. Without it, the script, detached in
 * its own process group, ran on past every deadline, as root, with nobody left to stop it.
 */
export async function withDeadline(file: string, args: readonly string[], timeoutMs: number, killGraceMs: number): Promise<{ program: string; argv: string[] }> {
  const timeout = await findTimeoutProgram();
  if (timeout === undefined) return { program: file, argv: [...args] };
  const whole = (ms: number): number => (Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : 1);
  const seconds = whole(timeoutMs) + DEADLINE_BACKSTOP_SLACK_SECONDS;
  const killAfter = whole(killGraceMs);
  return { program: timeout, argv: ['-k', String(killAfter), String(seconds), file, ...args] };
}

/** Builds the child's environment: PATH, LANG, HOME, SELFHEAL_* context and the rule's SELFHEAL_PARAM_* entries only. */
export function buildScriptEnv(
  baseEnv: NodeJS.ProcessEnv,
  env: Readonly<Record<string, string>> = {},
  context: Readonly<Record<string, string>> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = baseEnv[name];
    if (value !== undefined) out[name] = value;
  }
  out.PATH ??= DEFAULT_PATH;
  for (const [key, value] of Object.entries(context)) {
    const name = `SELFHEAL_${key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9]/g, '_').toUpperCase()}`;
    // The rule's parameters have their own namespace: context never takes (or is overridden by) one.
    if (name.startsWith(SCRIPT_PARAM_PREFIX)) throw new ScriptNotAllowedError(`context key "${key}" would be a rule parameter (${name})`);
    out[name] = checkEnvValue(name, value);
  }
  for (const [name, value] of Object.entries(env)) {
    const refused = refusedEnvName(name);
    if (refused) throw new ScriptNotAllowedError(refused);
    out[name] = checkEnvValue(name, value);
  }
  return out;
}

function checkEnvValue(name: string, value: string): string {
  if (typeof value !== 'string' || value.includes('\0')) {
    throw new ScriptNotAllowedError(`environment variable ${name} has an invalid value`);
  }
  return value;
}

/**
 * Runs an allow-listed script as its own process group, with a filtered environment, capped output,
 * a timeout that kills the whole group (SIGTERM, then SIGKILL after a grace period) and cancellation.
 * The host enforces the deadline too (timeout(1), {@link withDeadline}), so a script outlives it by at
 * most a few seconds even when this process dies.
 */
export async function runScript(options: RunScriptOptions): Promise<ScriptResult> {
  if (options.cwd !== undefined) return runScriptIn(options, options.cwd);
  // A directory of its own, only this user's (mkdtemp makes it 0700), removed afterwards: in the shared temp
  // dir a script writing a relative file as root (`> report.txt`) followed whatever link another user of the
  // host had put there under that name.
  const work = await mkdtemp(join(tmpdir(), RUN_DIR_PREFIX));
  try {
    return await runScriptIn(options, work);
  } finally {
    await rm(work, { recursive: true, force: true }).catch(() => undefined);
  }
}

/**
 * The longest string Linux passes to a program as one argument or one `NAME=value` of its environment
 * (MAX_ARG_STRLEN, 32 pages, less the NUL). A rendered field holds 64 Ki characters (src/domain/template.ts),
 * up to three bytes each in UTF-8: past this the spawn failed E2BIG, a bare error retried with an idempotent
 * script's attempts. Refused before anything starts, saying which argument and how long.
 */
export const MAX_EXEC_STRING_BYTES = 128 * 1024 - 1;

/** What runScript names its run directories under the OS temp dir. */
const RUN_DIR_PREFIX = 'selfheal-run-';

/**
 * Removes the run directories this user left in the OS temp dir untouched for `olderThanMs` (a day): an
 * agent killed mid-run (OOM, eviction) never removed its own, and in a pod /tmp is a small emptyDir. A day
 * is past any script's deadline, so no run going loses its directory (another agent on the host included).
 * Returns how many were removed; never throws.
 */
export async function sweepRunDirs(olderThanMs = 86_400_000, now = Date.now()): Promise<number> {
  const base = tmpdir();
  let removed = 0;
  for (const name of await readdir(base).catch(() => [] as string[])) {
    if (!name.startsWith(RUN_DIR_PREFIX)) continue;
    const path = join(base, name);
    const st = await lstat(path).catch(() => undefined);
    if (!st?.isDirectory() || st.uid !== ownUid() || now - st.mtimeMs < olderThanMs) continue;
    await rm(path, { recursive: true, force: true }).then(
      () => (removed += 1),
      () => undefined,
    );
  }
  return removed;
}

/** The script's process, leading a group of its own; a spawn the host refuses as too big (E2BIG) said so. */
function spawnScript(program: string, argv: string[], env: NodeJS.ProcessEnv, cwd: string) {
  try {
    return spawn(program, argv, { shell: false, detached: true, env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    // Each string within MAX_EXEC_STRING_BYTES, and all of them together past what the host takes (ARG_MAX,
    // a quarter of the stack limit): said with the total, never the values.
    if ((err as NodeJS.ErrnoException).code !== 'E2BIG') throw err;
    const total = [program, ...argv, ...Object.entries(env).map(([k, v]) => `${k}=${v ?? ''}`)].reduce((n, a) => n + Buffer.byteLength(a, 'utf8') + 1, 0);
    throw new ScriptNotAllowedError(`the script's arguments and environment are ${total} bytes, more than this host passes to a program: the script was not run`);
  }
}

async function runScriptIn(options: RunScriptOptions, cwd: string): Promise<ScriptResult> {
  const {
    scriptsDir,
    script,
    args = [],
    timeoutMs,
    maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES,
    signal,
    onProgress,
    killGraceMs = 5000,
    baseEnv = process.env,
  } = options;
  signal?.throwIfAborted();
  const file = await resolveAllowedScript(scriptsDir, script);
  const env = buildScriptEnv(baseEnv, options.env, options.context);
  for (const [i, arg] of args.entries()) {
    if (typeof arg !== 'string' || arg.includes('\0')) throw new ScriptNotAllowedError('script arguments must be strings without NUL');
    const bytes = Buffer.byteLength(arg, 'utf8');
    if (bytes > MAX_EXEC_STRING_BYTES) throw new ScriptNotAllowedError(`argument ${i + 1} is ${bytes} bytes in UTF-8, more than Linux passes in one argument (${MAX_EXEC_STRING_BYTES}): the script was not run`);
  }
  for (const [name, value] of Object.entries(env)) {
    const bytes = Buffer.byteLength(`${name}=${value ?? ''}`, 'utf8');
    if (bytes > MAX_EXEC_STRING_BYTES) throw new ScriptNotAllowedError(`the variable ${name} is ${bytes} bytes in UTF-8, more than Linux passes in one (${MAX_EXEC_STRING_BYTES}): the script was not run`);
  }
  signal?.throwIfAborted();

  const { program, argv } = await withDeadline(file, args, timeoutMs, killGraceMs);
  signal?.throwIfAborted();

  const started = performance.now();
  const child = spawnScript(program, argv, env, cwd);
  const stdout = new CappedBuffer(maxOutputBytes);
  const stderr = new CappedBuffer(maxOutputBytes);
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));

  return await new Promise<ScriptResult>((resolvePromise, rejectPromise) => {
    let timedOut = false;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;
    const timers: NodeJS.Timeout[] = [];
    const pid = child.pid;

    // The group, and the rest of the script's session (what moved to a group of its own: a command the
    // script runs under timeout(1) itself, which the group kill left running past every deadline).
    const killGroup = (sig: NodeJS.Signals): void => {
      if (pid === undefined) return;
      signalProcessGroup(pid, sig);
      signalSession(pid, sig);
    };
    const stop = (): void => {
      killGroup('SIGTERM');
      timers.push(setTimeout(() => {
        killGroup('SIGKILL');
        child.stdout.destroy();
        child.stderr.destroy();
      }, killGraceMs));
    };
    const onAbort = (): void => {
      if (aborted || timedOut) return;
      aborted = true;
      stop();
    };

    let exited = false;
    /** The script is done: what still holds its output open (a process that left its group) is cut off. */
    const endDrain = (): void => {
      killGroup('SIGKILL');
      child.stdout.destroy();
      child.stderr.destroy();
    };

    timers.push(setTimeout(() => {
      if (aborted) return;
      // Exited within its time, its drain not over: the result is its exit code, not a timeout. A script
      // that exited 4 a second before its deadline, leaving a process outside its group (setsid) holding
      // its output, was reported timed out (as over SSH).
      if (exited) return endDrain();
      timedOut = true;
      stop();
    }, timeoutMs));
    signal?.addEventListener('abort', onAbort, { once: true });
    const progressTimer = onProgress
      ? setInterval(() => {
          onProgress({ stdoutBytes: stdout.totalBytes, stderrBytes: stderr.totalBytes, elapsedMs: Math.round(performance.now() - started) });
        }, PROGRESS_INTERVAL_MS)
      : undefined;

    const cleanup = (): void => {
      for (const t of timers) clearTimeout(t);
      if (progressTimer) clearInterval(progressTimer);
      signal?.removeEventListener('abort', onAbort);
    };

    child.once('error', (err) => {
      cleanup();
      killGroup('SIGKILL');
      rejectPromise(err);
    });
    child.once('exit', (code, sig) => {
      exitCode = code;
      exitSignal = sig;
      exited = true;
      // Leftover group members holding stdout/stderr open must not keep us waiting: the script is done.
      timers.push(setTimeout(endDrain, DRAIN_AFTER_EXIT_MS));
    });
    child.once('close', () => {
      cleanup();
      // Reap anything the script left behind in its group.
      killGroup('SIGKILL');
      if (aborted) {
        rejectPromise(signal?.reason ?? new Error('script run aborted'));
        return;
      }
      resolvePromise(scriptResult({ exitCode, signal: exitSignal, timedOut }, stdout, stderr, started));
    });
  });
}
