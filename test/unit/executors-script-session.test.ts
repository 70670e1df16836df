// A script's children that moved to a process group of their own, without leaving the script's session
// (setsid): a script that uses timeout(1) itself (`timeout 300 rsync …`: GNU timeout puts itself and its
// command in a group of their own). The group kill at the deadline, at a
// cancellation and after the script's exit missed them: they ran on, as root, past every deadline.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runScript } from '../../src/executors/script-runner.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return check();
}

describe('executors/script-runner: children in a process group of their own', function () {
  this.timeout(20_000);
  let root: string;
  let dir: string;
  const leftovers: number[] = [];

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selfheal-session-'));
    dir = join(root, 'scripts');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
  });

  afterEach(async () => {
    for (const pid of leftovers.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await rm(root, { recursive: true, force: true });
  });

  async function addScript(name: string, body: string): Promise<void> {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(dir, name), 0o755);
  }

  async function pidIn(file: string): Promise<number> {
    assert.ok(await waitUntil(async () => /^\d+\n$/.test(await readFile(file, 'utf8').catch(() => ''))), `${file} holds a pid`);
    const pid = Number((await readFile(file, 'utf8')).trim());
    leftovers.push(pid);
    return pid;
  }

  it('on timeout kills what the script runs under timeout(1) itself (a group of its own, same session)', async () => {
    const pidFile = join(root, 'inner.pid');
    // The inner timeout(1) leads a group of its own; `sh -c` writes its own pid, then execs sleep.
    await addScript('own-timeout.sh', `timeout 300 sh -c 'echo $$ > ${pidFile}; exec sleep 300'`);
    const result = await runScript({ scriptsDir: dir, script: 'own-timeout.sh', timeoutMs: 1000, killGraceMs: 500 });
    assert.equal(result.timedOut, true);
    const inner = await pidIn(pidFile);
    assert.ok(await waitUntil(() => !isAlive(inner)), 'the sleep the script ran under its own timeout(1) must be killed at the deadline');
  });

  it('on cancellation kills what the script runs under timeout(1) itself', async () => {
    const pidFile = join(root, 'inner.pid');
    await addScript('own-timeout.sh', `timeout 300 sh -c 'echo $$ > ${pidFile}; exec sleep 300'`);
    const controller = new AbortController();
    const run = runScript({ scriptsDir: dir, script: 'own-timeout.sh', timeoutMs: 60_000, killGraceMs: 500, signal: controller.signal });
    const inner = await pidIn(pidFile);
    controller.abort(new Error('cancelled by test'));
    await assert.rejects(run, /cancelled by test/);
    assert.ok(await waitUntil(() => !isAlive(inner)), 'the sleep the script ran under its own timeout(1) must be killed on cancel');
  });

  it('after the script exits, kills what it left running under timeout(1) (a group of its own)', async () => {
    const pidFile = join(root, 'left.pid');
    await addScript('leaves.sh', `timeout 300 sh -c 'echo $$ > ${pidFile}; exec sleep 300' >/dev/null 2>&1 &\nwhile [ ! -s ${pidFile} ]; do sleep 0.05; done\nexit 3`);
    const result = await runScript({ scriptsDir: dir, script: 'leaves.sh', timeoutMs: 10_000, killGraceMs: 500 });
    assert.equal(result.exitCode, 3);
    const left = await pidIn(pidFile);
    assert.ok(await waitUntil(() => !isAlive(left)), 'what the script left running under its own timeout(1) must be killed once it is done');
  });
});
