// An agent that runs as a user other than root (the image runs as uid 1000) cannot signal a set-user-ID
// program its script started (`sudo systemctl …`, run in the background): once that is all that is left of
// the script's group, kill(-pgid) fails with EPERM, not ESRCH. That EPERM was thrown from the run's timer
// and `close` handlers, an uncaught exception that took the whole agent down (every script it ran with it),
// and the run never answered. kill(2)'s EPERM is stubbed here: no set-user-ID program outlives its caller
// on this host without a terminal.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../../src/executors/script-runner.js';
import { signalProcessGroup } from '../../src/executors/process-group.js';

describe('executors/process-group: a group that is not ours to signal', function () {
  this.timeout(20_000);
  let root: string;
  let dir: string;
  const realKill = process.kill;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selfheal-eperm-'));
    dir = join(root, 'scripts');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'ok.sh'), '#!/bin/sh\necho done\nexit 0\n');
    await chmod(join(dir, 'ok.sh'), 0o755);
    // kill(2) on a process group answers EPERM, as for a group whose members left are all root's set-user-ID programs.
    process.kill = ((pid: number, signal?: string | number) => {
      if (pid < 0) throw Object.assign(new Error(`kill EPERM`), { code: 'EPERM', errno: -1, syscall: 'kill' });
      return realKill.call(process, pid, signal);
    }) as typeof process.kill;
  });

  afterEach(async () => {
    process.kill = realKill;
    await rm(root, { recursive: true, force: true });
  });

  it('signalProcessGroup answers false for EPERM instead of throwing', () => {
    assert.equal(signalProcessGroup(999_999, 'SIGKILL'), false);
  });

  it('a run whose group is not ours to signal still ends with its result, the agent still up', async () => {
    const result = await runScript({ scriptsDir: dir, script: 'ok.sh', timeoutMs: 5000 });
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdout, 'done\n');
  });
});
