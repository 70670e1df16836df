import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { DEFAULT_SSH_MAX_SESSIONS_PER_HOST } from '../config.js';
import { recordableExitCode } from '../domain/agent-result.js';
import { checkScriptEnv } from '../domain/script-env.js';
import { createTurns, type Turns } from '../domain/turns.js';
import { HostKeyMismatchError, ScriptNotAllowedError, SshAuthError, SshConfigError, SshConnectionError } from './errors.js';
import { CappedBuffer, DEFAULT_MAX_OUTPUT_BYTES, scriptResult, type ScriptResult } from './output-buffer.js';

export interface SshCommandOptions {
  host: string;
  port: number;
  username: string;
  /** OpenSSH or PEM private key text (resolve it from a secret reference; never store it). */
  privateKey: string;
  passphrase?: string;
  /** Pinned host key fingerprint as `ssh-keygen -lf` prints it: `SHA256:<base64 without padding>`. */
  hostKeyFingerprint: string;
  /** argv; each element is single-quoted, so nothing is interpreted by the remote shell. */
  command: readonly string[];
  /**
   * Environment variables for the command (a rule's `environment`), set with env(1) in front of it: sshd
   * accepts only the variables its AcceptEnv names, so they travel in the command line, quoted like argv.
   * Only SELFHEAL_PARAM_* names are accepted (an allow list, src/domain/script-env.ts): others throw
   * SshConfigError before connecting.
   */
  env?: Readonly<Record<string, string>> | undefined;
  /**
   * When set, `command[0]` is a script inside this directory on the host (`<dir>/<name>`, as
   * remoteScriptPath builds it), and the host runs it only after checking it (checkedScriptCommand): its
   * real path inside the directory, and nothing on the way to it that anyone but root or the login user
   * could change. A refusal rejects with ScriptNotAllowedError before the script runs.
   */
  scriptsDir?: string | undefined;
  /** Whole budget: the wait for a session turn on the host, connect, handshake, authentication and command. */
  timeoutMs: number;
  /**
   * Sessions this process runs at once to `host:port` (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST, default 4); more
   * wait in line, first come first served, within `timeoutMs` (sessionTurn).
   */
  maxSessionsPerHost?: number;
  /** Cap for each of stdout and stderr. Default 64 KiB. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

/**
 * The same shape as a local script run, so callers treat both alike. `exitCode` is what Postgres's
 * `integer` holds (recordableExitCode): a host's exit status comes as a uint32 (a hostile host sends
 * 4294967295, Windows OpenSSH 0xC0000005), and one beyond it is null here, the value in
 * `exitStatusOutOfRange` (to be shown, never recorded as an exit code).
 */
export type SshCommandResult = ScriptResult & { exitStatusOutOfRange?: number };

/** Quotes one argument for a POSIX shell: `'…'`, with embedded quotes written as `'\''`. */
export function shellQuote(arg: string): string {
  if (arg.includes('\0')) throw new SshConfigError('command arguments must not contain NUL');
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** Builds the remote command string from argv, every element quoted. */
export function buildRemoteCommand(argv: readonly string[]): string {
  if (argv.length === 0) throw new SshConfigError('command must have at least one element');
  return argv.map(shellQuote).join(' ');
}

/** After the deadline's SIGTERM, seconds the remote command gets to clean up before SIGKILL. */
export const REMOTE_KILL_AFTER_SECONDS = 5;
/**
 * How long the channel may stay open after the command's exit status arrived: output still in flight
 * arrives within it. Past it, what holds the output open is a process that left the command's group
 * (setsid): the result is the exit code, not a timeout at the deadline (as on the agent). The deadline
 * cuts the drain short, with the same result: a command whose exit status is in did not time out.
 */
const DRAIN_AFTER_EXIT_MS = 2000;
/**
 * How long a cancelled or timed-out run waits, after the EOF that makes the host stop its command, for the
 * channel to close (the remote shell exited): the host's kill grace, and room for the trip back. Past it
 * the run ends as it stands and the connection is closed, which the host's watcher also takes as the end.
 */
const STOP_WAIT_MS = (REMOTE_KILL_AFTER_SECONDS + 5) * 1000;

/**
 * The command line sent to the host.
 *
 * - The command runs under `timeout` when the host has it (GNU coreutils on every mainstream distribution,
 *   recent BusyBox), so that at the deadline the host itself stops the command and the processes it
 *   started (timeout signals its whole process group): SIGTERM, then SIGKILL 5 s later. The remote clock
 *   starts after the handshake, so our own timer always fires first.
 * - It runs in the background with its stdin closed, while a watcher reads the channel's stdin. When that
 *   input ends (we cancel and send EOF, or close the channel, or the connection drops because the worker
 *   died), the watcher sends SIGTERM to `timeout`, which stops the whole group the same way.
 *
 * Closing the channel alone stops nothing that writes nothing, and OpenSSH ignores the channel's signal
 * request for root logins, so without these a silent root command would outlive its timeout and its
 * cancellation. The exit status is the command's (124 after the timeout).
 * - Once the command has exited, what it left running in its group is killed (timeout(1) leads a group of
 *   its own, its pid the group's id), as the agent does: a script that started a daemon holding its output
 *   kept the channel open, so a fix that exited 0 was reported timed out at its deadline, and the daemon,
 *   root's, ran on with nobody to stop it.
 * - Where the host has setsid(1), timeout(1) leads a session of its own too (setsid execs it in place: a
 *   background job of `sh -c` leads no group, so `$!` stays its pid; a login shell with job control on,
 *   `set -m` in its rc file, makes each job a group leader, which setsid would fork from, so there it is
 *   not used), and once the command has exited (at
 *   its end, its deadline or its stop) the rest of that session is killed as well, with pkill(1) where the
 *   host has it: what moved to a group of its own inside it (a command the script runs under timeout(1)
 *   itself, which makes a group of its own) ran on past every deadline, as the login user.
 *
 * A host without `timeout` has the command itself signalled, not what it started (the group kill then finds
 * no group and does nothing). The login shell must be POSIX (sh, bash, dash, ksh, zsh).
 */
export function underRemoteTimeout(command: string, timeoutMs: number): string {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return (
    'exec 3<&0 </dev/null; ' +
    'if command -v timeout >/dev/null 2>&1; then ' +
    `if command -v setsid >/dev/null 2>&1 && case $- in *m*) false ;; *) true ;; esac; then setsid timeout -k ${REMOTE_KILL_AFTER_SECONDS} ${seconds} ${command} 3<&- & ` +
    `else timeout -k ${REMOTE_KILL_AFTER_SECONDS} ${seconds} ${command} 3<&- & fi; ` +
    `else ${command} 3<&- & fi; ` +
    'p=$!; ' +
    '{ cat <&3 >/dev/null 2>&1; kill -TERM $p 2>/dev/null; } & ' +
    'w=$!; exec 3<&-; wait $p; s=$?; kill $w 2>/dev/null; kill -s KILL -- -$p 2>/dev/null; pkill -KILL -s $p 2>/dev/null; exit $s'
  );
}

/**
 * Longest command line sent as the exec request's own command. sshd hands it to the login shell as one
 * argument (`$SHELL -c <line>`), and Linux refuses an argument of 128 KiB or more (MAX_ARG_STRLEN), the
 * environment and the other arguments sharing a limit of their own: a script whose quoted arguments passed
 * it (64 elements of 4096 characters without a placeholder are 256 KiB) never started: sshd dropped the
 * request, and the run failed as a connection error, retried to fail again. A longer line travels on the channel's input (commandOverInput); one
 * within it is sent as before, and starts as soon as the host has the exec request.
 */
export const MAX_COMMAND_LINE_BYTES = 64 * 1024;

/** Exit status of the host's shell when the command sent on its input did not arrive whole: nothing of it ran. */
export const COMMAND_CUT_SHORT_EXIT_CODE = 125;

/**
 * `command` (underRemoteTimeout's line) sent on the channel's input: the exec request carries `line`, which
 * reads the bytes of `input` (head -c, else dd one byte at a time) and evals them in the login shell, as
 * `$SHELL -c` would have run them (the same shell, the same `$-`), only when they end with the run's own
 * end mark: what the shell read is a start of the input, and the input holds the mark once, at its end, so
 * the mark there means all of it came. Checked with the shell's own `case`, no other program (a shell
 * without a printf builtin could not count 600 KiB through /usr/bin/printf: one argument too long again).
 * The input after the command is the watcher's, as before, so EOF still stops the command. Input that ends
 * short (the connection dropped while it was sent, or the run stopped before it was) runs nothing: the
 * shell prints `cutShort`, holding the mark, on stderr and exits COMMAND_CUT_SHORT_EXIT_CODE, which the run
 * reports as a command that never started (a script printing those words cannot know the mark). `command`
 * must not end in a newline, which the `$(…)` holding it would drop (underRemoteTimeout's ends in `exit $s`,
 * after which the mark is a comment).
 */
export function commandOverInput(command: string): { line: string; input: Buffer; cutShort: string } {
  if (command.endsWith('\n')) throw new SshConfigError('a command sent on the input must not end in a newline');
  let mark: string;
  do mark = `selfheal-end-${randomBytes(12).toString('hex')}`;
  while (command.includes(mark));
  const input = Buffer.from(`${command} #${mark}`, 'utf8');
  const n = input.length;
  const cutShort = `selfheal: the command did not arrive whole; nothing of it ran (${mark})`;
  const line =
    `c=$(head -c ${n} 2>/dev/null || dd bs=1 count=${n} 2>/dev/null); ` +
    `case $c in *' #${mark}') eval "$c";; *) echo '${cutShort}' >&2; exit ${COMMAND_CUT_SHORT_EXIT_CODE};; esac`;
  return { line, input, cutShort };
}

/** argv with `env NAME=value …` in front when there are variables to set (names outside SELFHEAL_PARAM_* throw). */
export function withEnv(command: readonly string[], env: Readonly<Record<string, string>> | undefined): readonly string[] {
  const entries = Object.entries(env ?? {});
  if (entries.length === 0) return command;
  const problem = checkScriptEnv(env ?? {});
  if (problem) throw new SshConfigError(problem);
  // env(1) takes the first word without "=" as the command: a command word with one would be misread.
  if (command[0]?.includes('=')) throw new SshConfigError('with environment variables, the command path must not contain "="');
  return ['env', ...entries.map(([k, v]) => `${k}=${v}`), ...command];
}

/** Exit status of the host's script check when it refuses a script (with a SCRIPT_REFUSED_MARKER line on stderr). */
export const SCRIPT_REFUSED_EXIT_CODE = 121;
const SCRIPT_REFUSED_MARKER = 'selfheal-script-refused';

/**
 * What the host runs, with `$1` the scripts directory and `$2` the script's path in it, before the script
 * itself: the agent's check (src/executors/script-runner.ts, resolveAllowedScript) done on the VM, where
 * the files are. The worker cannot see them, and a name alone says nothing of what it leads to: a
 * `store-root-password` symlink to /usr/bin/env, given `sh -c …` as arguments by whoever writes a rule,
 * ran anything as the login user (root).
 *
 * - The real path (realpath -e, or readlink -f where the host has no realpath) must be a regular executable
 *   file strictly inside the real scripts directory.
 * - That file, every directory between it and the scripts directory, the scripts directory and every
 *   directory above it up to / must be owned by root or the login user and be neither group- nor
 *   world-writable (sshd's StrictModes), except that a directory above the scripts directory may be a
 *   root-owned sticky one such as /tmp, as for the agent. Otherwise someone else could put another
 *   program where the script is, to run as the login user.
 * - Then it execs the checked real path, never the name again, with the script's arguments.
 *
 * A refusal prints one SCRIPT_REFUSED_MARKER line on stderr and exits SCRIPT_REFUSED_EXIT_CODE; the worker
 * turns it into ScriptNotAllowedError (scriptRefusal). Owners and modes come from `ls -ldn` (POSIX), so
 * GNU, BusyBox and BSD hosts alike can run it. A script that prints that line and exits 121 itself only
 * fails its own run.
 */
export const SCRIPT_CHECK = [
  'set -f; d=$1; f=$2; shift 2',
  `no() { printf '%s\\n' "${SCRIPT_REFUSED_MARKER} $*" >&2; exit ${SCRIPT_REFUSED_EXIT_CODE}; }`,
  'command -v realpath >/dev/null 2>&1 || command -v readlink >/dev/null 2>&1 || no no-realpath',
  'real() { realpath -e -- "$1" 2>/dev/null || readlink -f -- "$1" 2>/dev/null; }',
  'rd=$(real "$d") && [ -d "$rd" ] || no scripts-dir-missing',
  'rp=$(real "$f") && [ -e "$rp" ] || no not-found',
  'case $rp in "$rd"/*) ;; *) no outside ;; esac',
  '[ -f "$rp" ] || no not-file',
  '[ -x "$rp" ] || no not-executable',
  'u=$(id -u)',
  // chk PATH ABOVE: sets o (owner uid) and m (mode string); fails when someone else could change PATH.
  'chk() { o=? m=?; l=$(ls -ldn -- "$1" 2>/dev/null) || return 1; set -- "$2" $l; m=$2 o=$4',
  '  case $o in 0|"$u") ;; *) return 1 ;; esac',
  '  case $m in ?????w*|????????w*) ;; *) return 0 ;; esac',
  '  [ "$1" = 1 ] && [ "$o" = 0 ] && case $m in d????????[tT]*) true ;; *) false ;; esac; }',
  'chk "$rp" 0 || no unsafe script "$u" "$o" "$m"',
  'x=$rp a=0 n=0',
  'while [ "$x" != / ]; do',
  '  x=${x%/*}; x=${x:-/}',
  '  [ "$a" = 1 ] && n=$((n + 1))',
  '  if ! chk "$x" "$a"; then',
  '    if [ "$a" = 1 ]; then no unsafe above "$u" "$o" "$m" "$n"; elif [ "$x" = "$rd" ]; then no unsafe scripts-dir "$u" "$o" "$m"; else no unsafe subdir "$u" "$o" "$m" "${x#"$rd"/}"; fi',
  '  fi',
  '  [ "$x" != "$rd" ] || a=1',
  'done',
  'exec "$rp" "$@"',
].join('\n');

/**
 * argv that runs `command` (`[<scriptsDir>/<name>, ...args]`) on the host only after SCRIPT_CHECK passed.
 * /bin/sh runs the check whatever the login shell is; every value travels as a quoted argument.
 */
export function checkedScriptCommand(scriptsDir: string, command: readonly string[]): string[] {
  const [path, ...args] = command;
  if (path === undefined || !path.startsWith(`${scriptsDir}/`)) throw new SshConfigError('a script must be a path inside the scripts directory');
  return ['/bin/sh', '-c', SCRIPT_CHECK, 'selfheal-script-check', scriptsDir, path, ...args];
}

/** Why someone other than root or the login user (`loginUid`) could change a component, from its `ls -ldn` owner and mode. */
function unsafeBecause(loginUid: string, uid: string, mode: string): string {
  if (!/^\d+$/.test(uid)) return 'unreadable (ls -ldn failed)';
  const problems: string[] = [];
  if (uid !== '0' && uid !== loginUid) problems.push(`owned by neither root nor the login user (uid ${loginUid})`);
  if (mode[5] === 'w') problems.push('group-writable');
  if (mode[8] === 'w') problems.push('world-writable');
  return `${problems.join(' and ') || 'not safe'} (owner uid ${uid}, mode ${mode}): someone else could change what runs as the login user; run chown root and chmod go-w on it`;
}

/**
 * The ScriptNotAllowedError for a run the host's script check refused (exit SCRIPT_REFUSED_EXIT_CODE and
 * the marker as the last line of stderr), or undefined when the script ran. The message names the script
 * and the component by their place relative to the scripts directory, never by a path on the VM.
 */
export function scriptRefusal(script: string, result: Pick<ScriptResult, 'exitCode' | 'stderr'>): ScriptNotAllowedError | undefined {
  if (result.exitCode !== SCRIPT_REFUSED_EXIT_CODE) return undefined;
  const last = result.stderr.trimEnd().split('\n').pop() ?? '';
  if (!last.startsWith(`${SCRIPT_REFUSED_MARKER} `)) return undefined;
  const [reason = '', what = '', loginUid = '', uid = '', mode = '', ...rest] = last.slice(SCRIPT_REFUSED_MARKER.length + 1).split(' ');
  const where = rest.join(' ');
  const named = `script "${script}"`;
  const why = ((): string => {
    switch (reason) {
      case 'no-realpath':
        return 'the management VM has neither realpath nor readlink -f, so it cannot be checked';
      case 'scripts-dir-missing':
        return 'the scripts directory (SELFHEAL_SSH_SCRIPTS_DIR) does not exist on the management VM';
      case 'not-found':
        return 'not found in the scripts directory on the management VM';
      case 'outside':
        return 'resolves outside the scripts directory on the management VM (a symlink to a program elsewhere is not run)';
      case 'not-file':
        return 'is not a regular file on the management VM';
      case 'not-executable':
        return 'is not executable on the management VM';
      case 'unsafe': {
        const component =
          what === 'script'
            ? 'its file'
            : what === 'subdir'
              ? `its directory "${where}" in the scripts directory`
              : what === 'scripts-dir'
                ? 'the scripts directory'
                : `the directory ${/^\d+$/.test(where) ? `${where} level${where === '1' ? '' : 's'} ` : ''}above the scripts directory`;
        return `is refused on the management VM: ${component} is ${unsafeBecause(loginUid, uid, mode)}`;
      }
      default:
        return `is refused on the management VM (${reason.slice(0, 40)})`;
    }
  })();
  return new ScriptNotAllowedError(`${named} ${why}`);
}

/** SHA256 fingerprint of a raw SSH public key blob, in `ssh-keygen -l` form. */
export function fingerprintOfKeyBlob(blob: Buffer): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

/** Fingerprint of an OpenSSH public key line such as `ssh-ed25519 AAAAC3Nza… comment`. */
export function fingerprintOfPublicKey(openSshPublicKeyLine: string): string {
  const parts = openSshPublicKeyLine.trim().split(/\s+/);
  const b64 = parts[1];
  if (parts.length < 2 || b64 === undefined || !/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) {
    throw new SshConfigError('not an OpenSSH public key line ("<type> <base64> [comment]")');
  }
  const blob = Buffer.from(b64, 'base64');
  // The blob starts with the key type as an SSH string; it must match the first field.
  const typeLen = blob.length >= 4 ? blob.readUInt32BE(0) : -1;
  if (typeLen < 0 || blob.subarray(4, 4 + typeLen).toString('latin1') !== parts[0]) {
    throw new SshConfigError('public key blob does not match its key type');
  }
  return fingerprintOfKeyBlob(blob);
}

function normalizeFingerprint(fp: string): string {
  const trimmed = fp.trim();
  if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(trimmed)) {
    throw new SshConfigError('hostKeyFingerprint must look like SHA256:<43 base64 chars> (as ssh-keygen -lf prints)');
  }
  return trimmed.replace(/=+$/, '');
}

function sameFingerprint(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/**
 * Runs one command on a remote host over SSH. The host key is checked against the pinned fingerprint
 * during key exchange, before authentication, so a mismatching host never sees our credentials or the
 * command. Errors: HostKeyMismatchError and SshAuthError are permanent; SshConnectionError
 * (refused, reset, handshake timeout, a deadline before the command was sent) is retryable. A command
 * that outlives the timeout gets EOF on its stdin, which makes the host stop it (underRemoteTimeout; its
 * `timeout` does too), and the result, `timedOut: true`, comes once the remote shell has exited, as the
 * agent's does. Aborting `signal` (a cancelled activity) stops the command on the host the same way, and
 * the promise rejects once the remote shell has exited. Either waits STOP_WAIT_MS at most after the EOF.
 * Once the exec request is sent the command may run (OpenSSH starts it before it answers), so a
 * cancellation or the deadline arriving before the answer waits for the channel and stops it then.
 * Before connecting it waits for a session turn on host:port (sessionTurn, `maxSessionsPerHost`), within
 * `timeoutMs`: the command then gets what is left of it.
 */
export async function runSshCommand(options: SshCommandOptions): Promise<SshCommandResult> {
  const { host, port, timeoutMs, signal } = options;
  const pinned = normalizeFingerprint(options.hostKeyFingerprint);
  const { scriptsDir } = options;
  const argv = scriptsDir === undefined ? options.command : checkedScriptCommand(scriptsDir, options.command);
  const command = buildRemoteCommand(withEnv(argv, options.env));
  signal?.throwIfAborted();
  // Configuration errors above come before the wait; the wait counts against the run's own deadline.
  const waitStarted = performance.now();
  const release = await sessionTurn(host, port, options.maxSessionsPerHost ?? DEFAULT_SSH_MAX_SESSIONS_PER_HOST, timeoutMs, signal);
  try {
    const leftMs = Math.max(1, Math.floor(timeoutMs - (performance.now() - waitStarted)));
    return await runSession(options, pinned, command, leftMs);
  } finally {
    release();
  }
}

/**
 * One line of session turns per host:port this process has sessions to or waiting for, dropped when idle
 * (its bound is the one given when it was made: one process has one SELFHEAL_SSH_MAX_SESSIONS_PER_HOST).
 */
const sessionLines = new Map<string, Turns>();

/** The key a session is counted under: the host as the connection names it (case and a final dot aside) and the port. */
export function sessionTarget(host: string, port: number): string {
  return `${host.toLowerCase().replace(/\.$/, '')}:${port}`;
}

/** Sessions running and waiting per host:port in this process, now (for logs and tests). */
export function sessionCounts(host: string, port: number): { running: number; waiting: number } {
  return sessionLines.get(sessionTarget(host, port))?.counts ?? { running: 0, waiting: 0 };
}

/**
 * A session turn on host:port: at most `max` sessions of this process to one management VM at once,
 * whatever the rules, jobs and incidents ask (an alert storm over one environment, or environments sharing
 * a VM, opened one session per activity slot, past sshd's MaxStartups, which then dropped connections at
 * random). More wait in line in order of arrival (src/domain/turns.ts, as the Doctor agent's scripts do).
 * The wait counts against `timeoutMs`, the run's whole budget: one still in line when it has passed is not
 * run (SshConnectionError: nothing was sent), and `signal` aborting (the activity cancelled) takes it out of
 * the line at once, rejecting with the signal's reason. Resolves to the release, which ends the turn once.
 */
async function sessionTurn(host: string, port: number, max: number, timeoutMs: number, signal: AbortSignal | undefined): Promise<() => void> {
  const key = sessionTarget(host, port);
  let line = sessionLines.get(key);
  if (!line) {
    line = createTurns({ running: max, waiting: Number.POSITIVE_INFINITY });
    sessionLines.set(key, line);
  }
  const owned = line;
  const forgetIfIdle = (): void => {
    const { running, waiting } = owned.counts;
    if (running === 0 && waiting === 0 && sessionLines.get(key) === owned) sessionLines.delete(key);
  };
  const deadline = new AbortController();
  const timer = setTimeout(() => deadline.abort(), timeoutMs);
  let turn: boolean;
  try {
    turn = await owned.take(signal ? AbortSignal.any([signal, deadline.signal]) : deadline.signal);
  } finally {
    clearTimeout(timer);
  }
  if (!turn) {
    forgetIfIdle();
    if (signal?.aborted) throw signal.reason ?? new Error('ssh command aborted');
    throw new SshConnectionError(
      `ssh ${host}:${port}: not run: ${max} session(s) to this host ran at once (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST) for the whole of its ${Math.round(timeoutMs / 1000)} s run time`,
    );
  }
  let released = false;
  return () => {
    if (released) return;
    released = true;
    owned.release();
    forgetIfIdle();
  };
}

/** One SSH session: runSshCommand's run once its turn came, within `timeoutMs` (what is left of its budget). */
async function runSession(options: SshCommandOptions, pinned: string, command: string, timeoutMs: number): Promise<SshCommandResult> {
  const { host, port, username, privateKey, maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES, signal } = options;
  const { scriptsDir } = options;
  const remoteCommand = underRemoteTimeout(command, timeoutMs);
  // Too long for one argument on the host: sent on the channel's input once it opens.
  const overInput = Buffer.byteLength(remoteCommand, 'utf8') > MAX_COMMAND_LINE_BYTES ? commandOverInput(remoteCommand) : undefined;
  // Cancelled as its turn came: nothing was sent.
  signal?.throwIfAborted();

  const started = performance.now();
  const stdout = new CappedBuffer(maxOutputBytes);
  const stderr = new CappedBuffer(maxOutputBytes);
  const client = new Client();

  return await new Promise<SshCommandResult>((resolvePromise, rejectPromise) => {
    let settled = false;
    let hostKeyRejected: string | null = null;
    let channel: ClientChannel | null = null;
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined = undefined;
    let stopTimer: NodeJS.Timeout | undefined = undefined;
    let drainTimer: NodeJS.Timeout | undefined = undefined;
    let aborted = false;
    let execSent = false;
    /** A command sent on the input (overInput) starts only once it is written: before, nothing of it can run. */
    let inputWritten = false;
    const commandSent = (): boolean => execSent && (overInput === undefined || inputWritten);
    /** The connection was dropped to stop a command whose channel never opened: its close ends nothing. */
    let dropped = false;
    let exitCode: number | null = null;
    /** The host's exit status when it does not fit an `integer` (exitCode stays null). */
    let outOfRange: number | undefined = undefined;
    let exitSignal: string | null = null;

    const finish = (outcome: { result: SshCommandResult } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(stopTimer);
      clearTimeout(drainTimer);
      signal?.removeEventListener('abort', onAbort);
      client.end();
      if ('result' in outcome) resolvePromise(outcome.result);
      else rejectPromise(outcome.error);
    };
    const result = (exitCode: number | null, sig: string | null): SshCommandResult => ({
      ...scriptResult({ exitCode, signal: sig, timedOut }, stdout, stderr, started),
      ...(outOfRange !== undefined && !timedOut ? { exitStatusOutOfRange: outOfRange } : {}),
    });
    // No signal request: ssh2 sends one only while the channel is writable, that is before the EOF, and
    // where sshd honours it (non-root logins) it kills the login shell's process group, which holds the
    // remote shell and its watcher but not the command (timeout leads a group of its own): the watcher
    // could die before it passes the TERM on, leaving the command to run to its own deadline.
    /** EOF on the command's stdin: the remote watcher stops it (underRemoteTimeout). */
    const endInput = (): void => {
      try {
        channel?.end();
      } catch {
        // the channel may already be closing
      }
    };
    const stopChannel = (): void => {
      if (channel) {
        endInput();
        channel.close();
      }
    };

    const abortError = (): unknown => signal?.reason ?? new Error('ssh command aborted');
    /** The command has exited (its exit status is in): its result, the host's refusal of the script, or the cancellation. */
    const exited = (): void => {
      if (aborted) return finish({ error: abortError() });
      if (timedOut) return finish({ result: result(null, null) });
      const r = result(exitCode, exitSignal);
      // Sent on the input and cut short: the host's shell ran nothing of it (commandOverInput).
      if (overInput && exitCode === COMMAND_CUT_SHORT_EXIT_CODE && r.stderr.includes(overInput.cutShort)) {
        return finish({ error: new SshConnectionError(`ssh ${host}:${port}: the command did not arrive whole on the host (its input ended first); nothing of it ran`) });
      }
      const refused = scriptsDir === undefined ? undefined : scriptRefusal(options.command[0]!.slice(scriptsDir.length + 1), r);
      finish(refused ? { error: refused } : { result: r });
    };
    /**
     * Cancelled or timed out once the exec request was sent: EOF on the command's stdin makes the host stop
     * it, and the run ends when the channel closes (the remote shell exited), or STOP_WAIT_MS later at the
     * latest. Called again when the channel opens after it (the exec answer still on its way: OpenSSH
     * starts the command before answering), so the EOF goes then and the wait starts over from it. A
     * channel still not open by then is cut off with the connection, which the host's watcher takes as the
     * end of input too, and the run ends once the host's kill grace has passed, unseen.
     */
    const stopRemote = (): void => {
      endInput();
      clearTimeout(stopTimer);
      stopTimer = setTimeout(() => {
        if (channel === null) {
          dropped = true;
          client.end();
          stopTimer = setTimeout(exited, (REMOTE_KILL_AFTER_SECONDS + 1) * 1000);
          return;
        }
        stopChannel();
        exited();
      }, STOP_WAIT_MS);
    };
    // Before the exec request nothing runs on the host, and the run rejects at once. After it, the run
    // rejects only once the command stopped: settling while the exec answer was on its way recorded the
    // action cancelled, and released its lease, while the command ran on the host. Once timed out, the
    // command is being stopped already and the run ends timed out, as on the agent.
    const onAbort = (): void => {
      if (timedOut) return;
      aborted = true;
      if (!commandSent()) {
        finish({ error: abortError() });
        return;
      }
      stopRemote();
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    timer = setTimeout(() => {
      // Nothing sent, nothing runs: a connection error, retryable. Once the exec request is sent the command
      // may run even though its channel is not open yet, and retrying would run it twice: it times out.
      if (!commandSent()) {
        finish({ error: new SshConnectionError(`ssh ${host}:${port}: timed out after ${timeoutMs} ms before the command started`) });
        return;
      }
      // The exit status is in but the channel is still open (its drain started less than DRAIN_AFTER_EXIT_MS
      // ago): the run ends as the channel's close would have ended it (the cancellation, its exit code, or
      // the host's refusal of the script), never as timed out. A fix that exited 4 a second before its
      // deadline, leaving a process outside its group (setsid) holding its output, was reported timed out,
      // and a cancelled one resolved as timed out (recorded a failure) instead of rejecting with its
      // cancellation, as on the agent.
      if (exitCode !== null || outOfRange !== undefined || exitSignal !== null) {
        stopChannel();
        exited();
        return;
      }
      // Cancelled, its remote shell still dying (it may take REMOTE_KILL_AFTER_SECONDS): the cancellation's
      // own wait ends the run, with its cancellation, once the command stopped.
      if (aborted) return;
      // The result waits for the command to stop on the host (SIGTERM, SIGKILL REMOTE_KILL_AFTER_SECONDS
      // later for a script that traps it), as the agent's does: resolving at once let the rule run go on
      // to an on_failure action, and release the target's lease, while the timed-out fix still ran.
      timedOut = true;
      stopRemote();
    }, timeoutMs);

    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (dropped) return;
      if (hostKeyRejected !== null) {
        finish({ error: new HostKeyMismatchError(`ssh ${host}:${port}: host key ${hostKeyRejected} does not match the pinned fingerprint ${pinned}`) });
      } else if (err.level === 'client-authentication') {
        finish({ error: new SshAuthError(`ssh ${host}:${port}: authentication failed for user ${username}`, { cause: err }) });
      } else if (aborted || timedOut) {
        // Lost while the command was being stopped: the host's watcher takes the drop as the end too.
        exited();
      } else {
        finish({ error: new SshConnectionError(`ssh ${host}:${port}: ${err.code ?? err.level ?? 'connection error'}: ${err.message}`, { cause: err }) });
      }
    });
    client.on('close', () => {
      if (dropped) return;
      if (hostKeyRejected !== null) {
        finish({ error: new HostKeyMismatchError(`ssh ${host}:${port}: host key ${hostKeyRejected} does not match the pinned fingerprint ${pinned}`) });
      } else if (aborted || timedOut) {
        exited();
      } else {
        finish({ error: new SshConnectionError(`ssh ${host}:${port}: connection closed before the command finished`) });
      }
    });
    client.on('ready', () => {
      // Settled before the handshake ended (cancelled, or out of time): nothing may start now.
      if (settled) return;
      execSent = true;
      client.exec(overInput?.line ?? remoteCommand, (err, stream) => {
        // The connection was closed while the answer was on its way (settled, or dropped to stop the command).
        if (settled || dropped) return;
        if (err) {
          finish({ error: aborted ? abortError() : new SshConnectionError(`ssh ${host}:${port}: could not start command: ${err.message}`, { cause: err }) });
          return;
        }
        channel = stream;
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        stream.on('exit', (code: number | null | undefined, sig?: string | null) => {
          if (typeof code === 'number') {
            exitCode = recordableExitCode(code);
            if (exitCode === null) outOfRange = code;
          }
          if (typeof sig === 'string') exitSignal = sig;
          drainTimer ??= setTimeout(() => {
            if (aborted) return;
            stopChannel();
            exited();
          }, DRAIN_AFTER_EXIT_MS);
        });
        stream.on('close', exited);
        // Cancelled or timed out while the exec answer was on its way: the command runs, stop it now. (One
        // to be sent on the input had not started: the run ended then, and this answer found it settled.)
        if (aborted || timedOut) stopRemote();
        else if (overInput) {
          inputWritten = true;
          stream.write(overInput.input);
        }
      });
    });

    const config: ConnectConfig = {
      host,
      port,
      username,
      privateKey,
      readyTimeout: timeoutMs,
      // Only key auth: never fall back to agent, password or keyboard-interactive.
      authHandler: ['publickey'],
      hostVerifier: (key: Buffer): boolean => {
        const presented = fingerprintOfKeyBlob(key);
        if (sameFingerprint(presented, pinned)) return true;
        hostKeyRejected = presented;
        return false;
      },
    };
    if (options.passphrase !== undefined) config.passphrase = options.passphrase;
    try {
      client.connect(config);
    } catch (err) {
      // Synchronous failures are configuration problems (e.g. an unparsable private key).
      finish({ error: new SshConfigError(`ssh ${host}:${port}: ${(err as Error).message}`, { cause: err }) });
    }
  });
}
