import { spawn, type ChildProcess } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { onTeardown } from './shared.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** A composition root (src/server.ts, src/worker.ts, src/agent.ts, src/dev.ts) running as a real child process, killable with SIGKILL. */
export interface ChildRoot {
  process: ChildProcess;
  /** Everything the process wrote so far (stdout and stderr). */
  output(): string;
  /** Wait until its output matches `pattern` (e.g. the "worker started" log line). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
  /** SIGKILL: no drain, no cleanup, like a crashed node or an OOM kill. */
  kill(): Promise<void>;
  /** SIGTERM and wait (used in teardown). */
  stop(): Promise<void>;
}

export function startChildRoot(entry: 'src/server.ts' | 'src/worker.ts' | 'src/agent.ts' | 'src/dev.ts' | 'test/helpers/crash-worker.ts', env: Record<string, string>): ChildRoot {
  const child = spawn(process.execPath, ['--import', 'tsx', entry], {
    cwd: repoRoot,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', NODE_ENV: 'test', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const isDone = () => child.exitCode !== null || child.signalCode !== null;
  const stopWith = async (signal: NodeJS.Signals) => {
    if (isDone()) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
  onTeardown(() => stopWith('SIGKILL'));
  return {
    process: child,
    output: () => out,
    async waitFor(pattern, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (isDone()) throw new Error(`${entry} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${out.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`${entry} did not log ${pattern} within ${timeoutMs} ms:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    kill: () => stopWith('SIGKILL'),
    stop: () => stopWith('SIGTERM'),
  };
}

/**
 * A scripts directory for a Doctor agent holding one script per entry of `scripts` (name → seconds): each
 * appends a line to its own marker file every time it starts (so a test counts starts), sleeps, then
 * prints "done".
 */
export async function slowScriptDir(scripts: Record<string, number>): Promise<{ scriptsDir: string; starts(name: string): Promise<number>; remove(): Promise<void> }> {
  const scriptsDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-fault-scripts-'));
  const markerDir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-fault-markers-'));
  await chmod(scriptsDir, 0o755);
  const marker = (name: string) => path.join(markerDir, `${name}.starts`);
  for (const [name, seconds] of Object.entries(scripts)) {
    await writeFile(path.join(scriptsDir, name), `#!/bin/sh\necho "start $$" >> "${marker(name)}"\nsleep ${seconds}\necho done\n`);
    await chmod(path.join(scriptsDir, name), 0o755);
  }
  const remove = async () => {
    await rm(scriptsDir, { recursive: true, force: true });
    await rm(markerDir, { recursive: true, force: true });
  };
  onTeardown(remove);
  return {
    scriptsDir,
    async starts(name) {
      try {
        return (await readFile(marker(name), 'utf8')).split('\n').filter((l) => l.startsWith('start')).length;
      } catch {
        return 0;
      }
    },
    remove,
  };
}

/** How a node process run to its end ended: its exit code, what it wrote, how long it took. */
export interface NodeExit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/**
 * `node <args>` in the repository with only `env` (plus PATH and HOME), run until it exits; killed and
 * refused past `timeoutMs`.
 */
export function runNodeToExit(args: string[], env: Record<string, string>, timeoutMs = 90_000): Promise<NodeExit> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? os.tmpdir(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`node ${args.join(' ')} still running after ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
  });
}
