// The race both executors had (src/executors/ssh.ts, src/executors/script-runner.ts): a script exits
// 1.5 s before its deadline, leaving a process outside its group (setsid) that holds its output open. The
// 2 s wait for output after an exit runs past the deadline, so only the deadline can end the run, and the
// exit has 1.5 s to come in before it. The run must end with the exit code, not as timed out.
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Starts `start(script)` (a shell script's text, one command per line) with the deadline `timeoutMs`
 * counted from the call, lets it exit 4 at 1.5 s before the deadline, and checks the result; `dir` is a
 * scratch directory both sides can reach.
 */
export async function exitsJustBeforeDeadline(dir: string, timeoutMs: number, start: (script: string) => Promise<{ timedOut: boolean; exitCode: number | null; stdout: string }>): Promise<void> {
  const childFile = join(dir, 'child');
  const go = join(dir, 'go');
  try {
    const run = start([`setsid sleep 60 & echo $! > ${childFile}`, 'echo before', `while [ ! -e ${go} ]; do sleep 0.05; done`, 'echo exiting', 'exit 4'].join('\n'));
    await new Promise((r) => setTimeout(r, timeoutMs - 1500));
    await writeFile(go, '');
    const result = await run;
    assert.equal(result.timedOut, false, 'reported timed out');
    assert.equal(result.exitCode, 4);
    assert.equal(result.stdout, 'before\nexiting\n');
  } finally {
    const pid = Number((await readFile(childFile, 'utf8').catch(() => '')).trim());
    if (pid > 0) process.kill(pid, 'SIGKILL');
  }
}
