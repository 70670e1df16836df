import { Context } from '@temporalio/activity';
import { envSchema } from '../src/config.js';
import { recordableExitCode, scriptOutputText, signalName } from '../src/domain/agent-result.js';
import type { EnvironmentSsh } from '../src/db/database.js';
import { SshConfigError } from '../src/executors/errors.js';
import { resolveUserSecretRef } from '../src/executors/secrets.js';
import type { ScriptResult } from '../src/executors/script-runner.js';
import { runSshCommand, sessionCounts, type SshCommandResult } from '../src/executors/ssh.js';

/** What a script run reports back to a workflow: exit code, combined output, and an error when it failed. */
export interface ScriptActionResult {
  exitCode: number | null;
  outputExcerpt: string;
  error?: string | undefined;
  link?: string | undefined;
  timedOut?: boolean;
  durationMs?: number;
}

/**
 * The path a script name runs as on a management VM: `<SELFHEAL_SSH_SCRIPTS_DIR>/<script>`. The directory
 * is operator configuration, read from the worker's environment with the same validation as at start-up
 * (src/config.ts; default /opt/selfheal/scripts), never from an environment row or a rule. The name must be
 * relative without "." or ".." segments (the rule and job schemas already say so; checked again here).
 */
export function remoteScriptPath(script: string, env: NodeJS.ProcessEnv): string {
  const dir = sshScriptsDir(env);
  const segments = script.split('/');
  if (script.startsWith('/') || segments.some((s) => s === '' || s === '.' || s === '..') || /[\0\s]/.test(script)) {
    throw new SshConfigError(`script "${script.slice(0, 100)}" must be a relative name inside the scripts directory`);
  }
  return `${dir}/${script}`;
}

/** SELFHEAL_SSH_SCRIPTS_DIR from the worker's environment, validated as at start-up. */
function sshScriptsDir(env: NodeJS.ProcessEnv): string {
  const dir = envSchema.shape.SELFHEAL_SSH_SCRIPTS_DIR.safeParse(env.SELFHEAL_SSH_SCRIPTS_DIR);
  if (!dir.success) throw new SshConfigError('SELFHEAL_SSH_SCRIPTS_DIR must be an absolute path without spaces, "." or ".." segments');
  return dir.data;
}

/**
 * How long a run on a management VM may take: what the rule or job asks, at most the operator's
 * SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS (default 600, like the agent's cap), since rules and jobs may ask
 * up to a day and a script over SSH runs as the login user, often root.
 */
export function sshRunTimeoutMs(requestedMs: number, env: NodeJS.ProcessEnv): number {
  const cap = envSchema.shape.SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS.safeParse(env.SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS);
  if (!cap.success) throw new SshConfigError('SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS must be a whole number of seconds between 1 and 86400');
  return Math.min(requestedMs, cap.data * 1000);
}

/** SELFHEAL_SSH_MAX_SESSIONS_PER_HOST from the worker's environment, validated as at start-up. */
export function sshMaxSessionsPerHost(env: NodeJS.ProcessEnv): number {
  const max = envSchema.shape.SELFHEAL_SSH_MAX_SESSIONS_PER_HOST.safeParse(env.SELFHEAL_SSH_MAX_SESSIONS_PER_HOST);
  if (!max.success) throw new SshConfigError('SELFHEAL_SSH_MAX_SESSIONS_PER_HOST must be a whole number between 1 and 100');
  return max.data;
}

/**
 * Shape a finished run (local script or SSH command) into a ScriptActionResult. The output is its end, as
 * a rule run or a job keeps it (scriptOutputText: at most 4,000 characters and 4,096 bytes once
 * JSON-encoded, whatever the script printed): a script on the agent or over SSH reads up to 64 KiB per
 * stream, and a control character takes 6 bytes in JSON, so the whole could take ~786 KB of the run's
 * history in each copy (the result, the record, every later action's input).
 *
 * What the host said of the exit is untrusted too (a compromised management VM answers what it likes). An
 * exit status that Postgres's `integer` cannot hold (recordableExitCode; ssh2 reads it as a uint32, so
 * 4294967295 or Windows OpenSSH's 0xC0000005 may come) is a failure with no exit code, whose error shows
 * the value: recorded as it is, the action-run or job-target write would fail on every retry and the run
 * never end. The SSH executor keeps such a status apart already (SshCommandResult.exitStatusOutOfRange, its
 * exitCode null). A run with no exit code says what ended it: the signal that killed it ("killed by signal
 * SIGKILL"), or that none came ("no exit status": over SSH, the channel closed without an exit status or
 * signal). Before, both said "exit code SIGKILL" or "exit code null". A signal name not of the form of one
 * (signalName: at most 32 characters, capitals and digits) is not repeated in full: the error shows its
 * first 32 characters, JSON-quoted.
 */
export function scriptResult(
  r: ScriptResult | SshCommandResult,
  timeoutMs: number,
  killed = 'process group killed',
): ScriptActionResult {
  const output = scriptOutputText(r.stdout, r.stderr);
  const exitCode = recordableExitCode(r.exitCode);
  const outOfRange = ('exitStatusOutOfRange' in r ? r.exitStatusOutOfRange : undefined) ?? (r.exitCode !== null && exitCode === null ? r.exitCode : undefined);
  const killedBy = r.signal === null ? null : signalName(r.signal) !== undefined ? `signal ${r.signal}` : `a signal whose name is not of the form of one, ${JSON.stringify(r.signal.slice(0, 32))}${r.signal.length > 32 ? '…' : ''}`;
  const error = r.timedOut
    ? `timed out after ${timeoutMs / 1000} s; ${killed}`
    : outOfRange !== undefined
      ? `the host sent an exit status out of range (${String(outOfRange)}); an exit status is at most 2147483647`
      : exitCode !== null
        ? exitCode === 0
          ? undefined
          : `exit code ${exitCode}`
        : killedBy !== null
          ? `killed by ${killedBy}; no exit code`
          : 'no exit status: the script ended without an exit status or a signal (over SSH, the host closed the channel without sending either)';
  return { exitCode, outputExcerpt: output, timedOut: r.timedOut, durationMs: r.durationMs, ...(error ? { error } : {}) };
}

/**
 * Run argv on an environment's management VM over SSH (pinned host key, key from its secret reference),
 * heartbeating while it runs so Temporal notices a dead worker and cancellation reaches the command (which
 * then stops on the host too). `scriptEnv` is the rule's `environment` for the command.
 *
 * A command whose first word is inside the scripts directory (`[remoteScriptPath(…), ...args]`, from
 * script.ssh actions and SSH jobs alike) runs only after the host checked it (src/executors/ssh.ts,
 * SCRIPT_CHECK): a refusal throws ScriptNotAllowedError, never retried. An admin's `sh -c` command does not
 * start there and runs as written. Either stops after sshRunTimeoutMs.
 *
 * At most SELFHEAL_SSH_MAX_SESSIONS_PER_HOST sessions of this worker process run at once to one host:port;
 * a run beyond it waits in line, heartbeating (so Temporal neither takes it for dead nor misses its
 * cancellation, which takes it out of the line), and the wait counts against sshRunTimeoutMs, so the
 * attempt still ends within its start-to-close timeout (the run time and SCRIPT_STOP_SLACK_SECONDS).
 */
export async function runOnManagementVm(
  ssh: EnvironmentSsh,
  command: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  scriptEnv?: Record<string, string> | undefined,
): Promise<ScriptActionResult> {
  const scriptsDir = sshScriptsDir(env);
  const limitMs = sshRunTimeoutMs(timeoutMs, env);
  const maxSessionsPerHost = sshMaxSessionsPerHost(env);
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 5000);
  const sessions = sessionCounts(ssh.host, ssh.port);
  if (sessions.running >= maxSessionsPerHost) ctx.log.info('ssh session waits for a turn on its management VM', { ...sessions, maxSessionsPerHost });
  try {
    const r = await runSshCommand({
      host: ssh.host,
      port: ssh.port,
      username: ssh.user,
      privateKey: await resolveUserSecretRef(ssh.keyRef, env),
      hostKeyFingerprint: ssh.hostKeyFingerprint,
      command,
      env: scriptEnv,
      scriptsDir: command[0]?.startsWith(`${scriptsDir}/`) ? scriptsDir : undefined,
      timeoutMs: limitMs,
      maxSessionsPerHost,
      signal: ctx.cancellationSignal,
    });
    return scriptResult(r, limitMs, 'connection closed');
  } finally {
    clearInterval(beat);
  }
}
