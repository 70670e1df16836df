// Over SSH, what a command moved to a process group of its own, without leaving its session: a script that
// runs something under timeout(1) itself (`timeout 300 rsync …`: GNU timeout makes itself and its command a
// group of their own). The remote group kill at the deadline, at a cancellation and after the command's exit
// missed it: it ran on, as the login user (often root), past every deadline. Against a real sshd.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_COMMAND_LINE_BYTES, runSshCommand } from '../../src/executors/ssh.js';
import { startSshd, type SshdHandle } from '../helpers/sshd.js';

/** Whether the process whose pid `file` holds is gone (or a zombie awaiting its reaper) within `ms`. */
async function goneWithin(file: string, ms: number): Promise<boolean> {
  const pid = Number((await readFile(file, 'utf8')).trim());
  const deadline = Date.now() + ms;
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function pidWritten(file: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!/^\d+\n$/.test(await readFile(file, 'utf8').catch(() => ''))) {
    assert.ok(Date.now() < deadline, 'the command started on the host');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('executors/ssh: what a command runs in a process group of its own', function () {
  this.timeout(60_000);
  let sshd: SshdHandle;
  let work: string;

  before(async () => {
    sshd = await startSshd();
  });
  after(async () => {
    await sshd?.stop();
  });
  beforeEach(async () => {
    work = await mkdtemp(join(tmpdir(), 'selfheal-ssh-session-'));
  });
  afterEach(async () => {
    const pid = Number((await readFile(join(work, 'inner'), 'utf8').catch(() => '')).trim());
    if (pid > 0) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    await rm(work, { recursive: true, force: true });
  });

  const base = () => ({ host: sshd.host, port: sshd.port, username: sshd.username, privateKey: sshd.privateKey, hostKeyFingerprint: sshd.hostKeyFingerprint });
  /** A command that runs a sleep under its own timeout(1), the sleep's pid in `inner`; `pad` bytes more as its $0. */
  const underOwnTimeout = (file: string, then = 'wait', pad = 0) => [
    'sh',
    '-c',
    `timeout 300 sh -c 'echo $$ > ${file}; exec sleep 300' >/dev/null 2>&1 &\n${then}`,
    ...(pad > 0 ? ['x'.repeat(pad)] : []),
  ];

  it('at the deadline, what the command runs under timeout(1) itself is stopped on the host', async () => {
    const inner = join(work, 'inner');
    const result = await runSshCommand({ ...base(), timeoutMs: 6000, command: underOwnTimeout(inner) });
    assert.equal(result.timedOut, true);
    assert.ok(await goneWithin(inner, 5000), 'the sleep the command ran under its own timeout(1) still runs on the host');
  });

  // A command line too long for one argument on the host (MAX_COMMAND_LINE_BYTES) travels on the channel's
  // input and is eval'd there: the same watcher, setsid and pkill stop it and what it left in its session.
  for (const [sent, pad] of [
    ['', 0],
    [' (a command sent on its input, too long for one argument)', MAX_COMMAND_LINE_BYTES + 1],
  ] as const) {
    it(`on cancellation, what the command runs under timeout(1) itself is stopped on the host${sent}`, async () => {
      const inner = join(work, 'inner');
      const controller = new AbortController();
      const run = runSshCommand({ ...base(), timeoutMs: 30_000, command: underOwnTimeout(inner, 'wait', pad), signal: controller.signal });
      await pidWritten(inner, 10_000);
      controller.abort(new Error('cancelled by test'));
      await assert.rejects(run, /cancelled by test/);
      assert.ok(await goneWithin(inner, 5000), 'the sleep the command ran under its own timeout(1) still runs on the host');
    });

    it(`once the command exits, what it left running under timeout(1) is stopped on the host, and its exit code kept${sent}`, async () => {
      const inner = join(work, 'inner');
      const result = await runSshCommand({ ...base(), timeoutMs: 20_000, command: underOwnTimeout(inner, `while [ ! -s ${inner} ]; do sleep 0.05; done; exit 3`, pad) });
      assert.equal(result.timedOut, false);
      assert.equal(result.exitCode, 3, result.stderr);
      assert.ok(await goneWithin(inner, 5000), 'what the command left running under its own timeout(1) still runs on the host');
    });
  }
});
