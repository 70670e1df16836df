// The real `selfheal` launcher in a child process, as an SRE, a script or a CI job runs it.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = path.join(ROOT, 'bin/selfheal.js');

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * `selfheal …args` from the repository root with `env` over the test's environment (a variable given as
 * undefined is removed): its exit code (-1 when it was killed, e.g. past `timeoutMs`), stdout and stderr.
 */
export function selfheal(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 90_000): Promise<Run> {
  const childEnv: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, ...env })) if (v !== undefined) childEnv[k] = v;
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: childEnv, timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
