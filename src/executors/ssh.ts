import { createHash, timingSafeEqual } from 'node:crypto';
import { Client, type ClientChannel, type ConnectConfig } from 'ssh2';
import { checkScriptEnv } from '../domain/script-env.js';
import { HostKeyMismatchError, SshAuthError, SshConfigError, SshConnectionError } from './errors.js';
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
  /** Whole budget: connect, handshake, authentication and command. */
  timeoutMs: number;
  /** Cap for each of stdout and stderr. Default 64 KiB. */
  maxOutputBytes?: number;
  signal?: AbortSignal;
}

/** The same shape as a local script run, so callers treat both alike. */
export type SshCommandResult = ScriptResult;

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
 * cancellation. The exit status is the command's (124 after the timeout). A host without `timeout` has the
 * command itself signalled, not what it started. The login shell must be POSIX (sh, bash, dash, ksh, zsh).
 */
export function underRemoteTimeout(command: string, timeoutMs: number): string {
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  return (
    'exec 3<&0 </dev/null; ' +
    `if command -v timeout >/dev/null 2>&1; then timeout -k ${REMOTE_KILL_AFTER_SECONDS} ${seconds} ${command} 3<&- & else ${command} 3<&- & fi; ` +
    'p=$!; ' +
    '{ cat <&3 >/dev/null 2>&1; kill -TERM $p 2>/dev/null; } & ' +
    'w=$!; exec 3<&-; wait $p; s=$?; kill $w 2>/dev/null; exit $s'
  );
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
 * (refused, reset, handshake timeout) is retryable. A command that outlives the timeout is signalled,
 * the connection closed, and the result has `timedOut: true`; on the host, `timeout` stops it too
 * (underRemoteTimeout). Aborting `signal` (a cancelled activity) stops the command on the host too: the
 * promise rejects once the remote shell has exited, or after the kill grace at the latest.
 */
export async function runSshCommand(options: SshCommandOptions): Promise<SshCommandResult> {
  const { host, port, username, privateKey, timeoutMs, maxOutputBytes = DEFAULT_MAX_OUTPUT_BYTES, signal } = options;
  const pinned = normalizeFingerprint(options.hostKeyFingerprint);
  const remoteCommand = underRemoteTimeout(buildRemoteCommand(withEnv(options.command, options.env)), timeoutMs);
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
    let abortTimer: NodeJS.Timeout | undefined = undefined;
    let aborted = false;
    let exitCode: number | null = null;
    let exitSignal: string | null = null;

    const finish = (outcome: { result: SshCommandResult } | { error: unknown }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(abortTimer);
      signal?.removeEventListener('abort', onAbort);
      client.end();
      if ('result' in outcome) resolvePromise(outcome.result);
      else rejectPromise(outcome.error);
    };
    const result = (exitCode: number | null, sig: string | null): SshCommandResult => scriptResult({ exitCode, signal: sig, timedOut }, stdout, stderr, started);
    const stopChannel = (): void => {
      if (channel) {
        try {
          // EOF on the command's stdin: the remote watcher stops it (underRemoteTimeout). The signal request
          // helps where sshd honours it (non-root logins).
          channel.end();
          channel.signal('KILL');
        } catch {
          // the channel may already be closing
        }
        channel.close();
      }
    };

    const abortError = (): unknown => signal?.reason ?? new Error('ssh command aborted');
    // Cancelled while the command runs: EOF on its stdin makes the host stop it (underRemoteTimeout); we
    // settle once the remote shell has exited (the channel closes), or after the kill grace at the latest.
    const onAbort = (): void => {
      aborted = true;
      if (channel === null) {
        finish({ error: abortError() });
        return;
      }
      try {
        channel.end();
        channel.signal('KILL');
      } catch {
        // the channel may already be closing
      }
      abortTimer = setTimeout(() => {
        stopChannel();
        finish({ error: abortError() });
      }, (REMOTE_KILL_AFTER_SECONDS + 5) * 1000);
    };
    signal?.addEventListener('abort', onAbort, { once: true });

    timer = setTimeout(() => {
      if (channel === null) {
        finish({ error: new SshConnectionError(`ssh ${host}:${port}: timed out after ${timeoutMs} ms before the command started`) });
        return;
      }
      timedOut = true;
      stopChannel();
      finish({ result: result(null, null) });
    }, timeoutMs);

    client.on('error', (err: Error & { level?: string; code?: string }) => {
      if (hostKeyRejected !== null) {
        finish({ error: new HostKeyMismatchError(`ssh ${host}:${port}: host key ${hostKeyRejected} does not match the pinned fingerprint ${pinned}`) });
      } else if (err.level === 'client-authentication') {
        finish({ error: new SshAuthError(`ssh ${host}:${port}: authentication failed for user ${username}`, { cause: err }) });
      } else {
        finish({ error: new SshConnectionError(`ssh ${host}:${port}: ${err.code ?? err.level ?? 'connection error'}: ${err.message}`, { cause: err }) });
      }
    });
    client.on('close', () => {
      if (hostKeyRejected !== null) {
        finish({ error: new HostKeyMismatchError(`ssh ${host}:${port}: host key ${hostKeyRejected} does not match the pinned fingerprint ${pinned}`) });
      } else {
        finish({ error: aborted ? abortError() : new SshConnectionError(`ssh ${host}:${port}: connection closed before the command finished`) });
      }
    });
    client.on('ready', () => {
      client.exec(remoteCommand, (err, stream) => {
        if (err) {
          finish({ error: new SshConnectionError(`ssh ${host}:${port}: could not start command: ${err.message}`, { cause: err }) });
          return;
        }
        channel = stream;
        stream.on('data', (chunk: Buffer) => stdout.push(chunk));
        stream.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
        stream.on('exit', (code: number | null | undefined, sig?: string | null) => {
          if (typeof code === 'number') exitCode = code;
          if (typeof sig === 'string') exitSignal = sig;
        });
        stream.on('close', () => finish(aborted ? { error: abortError() } : { result: result(exitCode, exitSignal) }));
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
