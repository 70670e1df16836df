import { Context } from '@temporalio/activity';
import type { EnvironmentSsh } from '../src/db/database.js';
import { resolveSecretRef } from '../src/executors/secrets.js';
import type { ScriptResult } from '../src/executors/script-runner.js';
import { runSshCommand } from '../src/executors/ssh.js';

/** What a script run reports back to a workflow: exit code, combined output, and an error when it failed. */
export interface ScriptActionResult {
  exitCode: number | null;
  outputExcerpt: string;
  error?: string | undefined;
  link?: string | undefined;
  timedOut?: boolean;
  durationMs?: number;
}

export const DEFAULT_REMOTE_SCRIPTS_DIR = '/opt/selfheal/scripts';

/** Shape a finished run (local script or SSH command) into a ScriptActionResult. */
export function scriptResult(
  r: ScriptResult,
  timeoutMs: number,
  killed = 'process group killed',
): ScriptActionResult {
  const output = [r.stdout, r.stderr ? `--- stderr ---\n${r.stderr}` : ''].filter(Boolean).join('\n');
  const error = r.timedOut ? `timed out after ${timeoutMs / 1000} s; ${killed}` : r.exitCode !== 0 ? `exit code ${r.exitCode ?? r.signal}` : undefined;
  return { exitCode: r.exitCode, outputExcerpt: output, timedOut: r.timedOut, durationMs: r.durationMs, ...(error ? { error } : {}) };
}

/**
 * Run argv on an environment's management VM over SSH (pinned host key, key from its secret reference),
 * heartbeating while it runs so Temporal notices a dead worker and cancellation reaches the command (which
 * then stops on the host too). `scriptEnv` is the rule's `environment` for the command.
 */
export async function runOnManagementVm(
  ssh: EnvironmentSsh,
  command: string[],
  timeoutMs: number,
  env: NodeJS.ProcessEnv,
  scriptEnv?: Record<string, string> | undefined,
): Promise<ScriptActionResult> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 5000);
  try {
    const r = await runSshCommand({
      host: ssh.host,
      port: ssh.port,
      username: ssh.user,
      privateKey: await resolveSecretRef(ssh.keyRef, env),
      hostKeyFingerprint: ssh.hostKeyFingerprint,
      command,
      env: scriptEnv,
      timeoutMs,
      signal: ctx.cancellationSignal,
    });
    return scriptResult(r, timeoutMs, 'connection closed');
  } finally {
    clearInterval(beat);
  }
}
