// SSH sessions per management VM (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST): an alert storm over one environment,
// or a job whose targets share a VM, ran one session per activity slot at once, past sshd's MaxStartups.
// Runs go through the worker's own path (runOnManagementVm inside an activity, a mock one here) to a real
// OpenSSH sshd on loopback, which shares this filesystem: what the "VM" ran, and when, is seen in files the
// scripts write there.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { remoteScriptPath, runOnManagementVm, type ScriptActionResult } from '../../activities/script-result.js';
import type { EnvironmentSsh } from '../../src/db/database.js';
import { SshConnectionError } from '../../src/executors/errors.js';
import { sessionCounts } from '../../src/executors/ssh.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const exists = (path: string) => stat(path).then(() => true, () => false);

/** Waits until `path` exists (written at the peer), `ms` at most. */
async function appears(path: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await exists(path))) {
    assert.ok(Date.now() < deadline, `${path} was not written at the peer`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The most runs the peer's log shows inside their scripts at once: each appends "start <id>" and "end <id>". */
function maxAtOnce(log: string): number {
  let now = 0;
  let max = 0;
  for (const line of log.split('\n')) {
    if (line.startsWith('start ')) max = Math.max(max, ++now);
    else if (line.startsWith('end ')) now--;
  }
  return max;
}

describe('SSH sessions per management VM (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST)', function () {
  this.timeout(120_000);
  let sshd: SshdHandle;
  let work: string;
  let scriptsDir: string;
  let env: NodeJS.ProcessEnv;

  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'selfheal-ssh-sessions-'));
    scriptsDir = join(work, 'scripts');
    await mkdir(scriptsDir);
    await chmod(scriptsDir, 0o755);
    env = { SELFHEAL_SSH_SCRIPTS_DIR: scriptsDir, SELFHEAL_SECRET_SSH_TEST_KEY: sshd.privateKey, SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: '3' };
  });
  afterEach(async () => {
    await rm(work, { recursive: true, force: true });
  });

  const vm = (): EnvironmentSsh => ({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_SSH_TEST_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint });
  const writeScript = async (name: string, body: string) => {
    await writeFile(join(scriptsDir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(scriptsDir, name), 0o755);
  };
  /** One run in its own activity (each action or job target is one). */
  const startRun = (script: string, args: string[], timeoutMs = 60_000) => {
    const activity = new MockActivityEnvironment(undefined, { logger: quiet });
    const run: Promise<ScriptActionResult> = activity.run(() => runOnManagementVm(vm(), [remoteScriptPath(script, env), ...args], timeoutMs, env));
    return { activity, run };
  };

  it('runs at most SELFHEAL_SSH_MAX_SESSIONS_PER_HOST scripts at once on one VM, the others in turn, all to the end', async () => {
    // Each run logs its start and end at the peer, with two seconds in between, so runs let in together overlap there.
    const log = join(work, 'log');
    await writeScript('fix.sh', `echo "start $1" >> ${log}; sleep 2; echo "end $1" >> ${log}`);
    const runs = Array.from({ length: 8 }, (_, i) => startRun('fix.sh', [`run-${i}`]).run);
    const results: ScriptActionResult[] = await Promise.all(runs);
    for (const r of results) assert.equal(r.exitCode, 0, r.error ?? r.outputExcerpt);
    const seen = await readFile(log, 'utf8');
    for (let i = 0; i < 8; i++) assert.match(seen, new RegExp(`^end run-${i}$`, 'm'), `run-${i} ran to its end at the peer`);
    const most = maxAtOnce(seen);
    assert.ok(most <= 3, `${most} scripts ran at once on the VM (cap 3):\n${seen}`);
  });

  it('a run cancelled while waiting for its turn leaves the line, heartbeating until then, and never runs on the VM', async () => {
    env.SELFHEAL_SSH_MAX_SESSIONS_PER_HOST = '1';
    // The first run holds the VM's only turn until the test lets it go.
    const go = join(work, 'go');
    await writeScript('hold.sh', `touch ${join(work, 'held')}; while [ ! -e ${go} ]; do sleep 0.1; done`);
    await writeScript('mark.sh', `touch ${join(work, 'ran')}-"$1"`);
    const holder = startRun('hold.sh', []);
    await appears(join(work, 'held'), 30_000);
    const waiter = startRun('mark.sh', ['cancelled']);
    // Heartbeats while in line: Temporal would neither time it out as dead nor miss its cancellation.
    const first = await Promise.race([once(waiter.activity, 'heartbeat').then(() => 'heartbeat'), waiter.run.then(() => 'ended', () => 'failed')]);
    assert.equal(first, 'heartbeat', 'the run did not wait for its turn');
    assert.deepEqual(sessionCounts(sshd.host, sshd.port), { running: 1, waiting: 1 });
    waiter.activity.cancel();
    await assert.rejects(waiter.run, (err: unknown) => err instanceof CancelledFailure);
    assert.deepEqual(sessionCounts(sshd.host, sshd.port), { running: 1, waiting: 0 }, 'the cancelled run is still in line');
    await writeFile(go, '');
    assert.equal((await holder.run).exitCode, 0);
    // First come, first served: had the cancelled run stayed in line, it would have run before this one.
    const next = await startRun('mark.sh', ['next']).run;
    assert.equal(next.exitCode, 0, next.error ?? next.outputExcerpt);
    assert.equal(await exists(`${join(work, 'ran')}-next`), true);
    assert.equal(await exists(`${join(work, 'ran')}-cancelled`), false, 'the cancelled run ran on the VM');
  });

  it('a run whose run time passes while it waits for its turn is not run: the wait counts against its deadline', async () => {
    env.SELFHEAL_SSH_MAX_SESSIONS_PER_HOST = '1';
    const go = join(work, 'go');
    await writeScript('hold.sh', `touch ${join(work, 'held')}; while [ ! -e ${go} ]; do sleep 0.1; done`);
    await writeScript('mark.sh', `touch ${join(work, 'ran')}`);
    const holder = startRun('hold.sh', []);
    await appears(join(work, 'held'), 30_000);
    // A rule or job asking 3 s for its script: the turn never comes within them.
    const late = startRun('mark.sh', [], 3000);
    await assert.rejects(late.run, (err: unknown) => err instanceof SshConnectionError && /not run: 1 session\(s\) to this host ran at once \(SELFHEAL_SSH_MAX_SESSIONS_PER_HOST\) for the whole of its 3 s run time/.test(err.message));
    assert.equal(await exists(join(work, 'ran')), false, 'the run ran after its deadline');
    await writeFile(go, '');
    assert.equal((await holder.run).exitCode, 0);
  });
});
