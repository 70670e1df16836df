import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { chmod, chown, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'ssh2';
import { toFailure } from '../../activities/actions.js';
import { remoteScriptPath, runOnManagementVm, type ScriptActionResult } from '../../activities/script-result.js';
import type { EnvironmentSsh } from '../../src/db/database.js';
import { HostKeyMismatchError, ScriptNotAllowedError, SshAuthError, SshConfigError, SshConnectionError } from '../../src/executors/errors.js';
import { MAX_RENDERED_FIELD, MAX_RENDERED_TOTAL } from '../../src/domain/template.js';
import { buildRemoteCommand, COMMAND_CUT_SHORT_EXIT_CODE, commandOverInput, fingerprintOfPublicKey, runSshCommand, shellQuote, underRemoteTimeout, withEnv } from '../../src/executors/ssh.js';
import { exitsJustBeforeDeadline } from '../helpers/exit-before-deadline.js';
import { startHostileSshd, type HostileExit } from '../helpers/hostile-sshd.js';
import { generateKeyPair, startSshd, type SshdHandle } from '../helpers/sshd.js';
import { startDelayingProxy, startTcpProxy } from '../helpers/tcp-proxy.js';

/** Whether the process whose pid `pidFile` holds is gone (or a zombie awaiting its reaper) within `ms` (0: now). */
async function goneWithin(pidFile: string, ms: number): Promise<boolean> {
  const pid = Number((await readFile(pidFile, 'utf8')).trim());
  const deadline = Date.now() + ms;
  for (;;) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    if (stat === '' || / Z /.test(stat.slice(stat.lastIndexOf(')')))) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until `file` holds a whole pid line (the command wrote it), `ms` at most. */
async function pidWritten(file: string, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!/^\d+\n$/.test(await readFile(file, 'utf8').catch(() => ''))) {
    assert.ok(Date.now() < deadline, 'the command started on the host');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('executors/ssh', () => {
  describe('shellQuote', () => {
    it('single-quotes every argument so the shell interprets nothing', () => {
      assert.equal(shellQuote('plain'), `'plain'`);
      assert.equal(shellQuote(''), `''`);
      assert.equal(shellQuote(`it's`), `'it'\\''s'`);
      assert.equal(buildRemoteCommand(['echo', '$(id)', 'a b']), `'echo' '$(id)' 'a b'`);
      assert.throws(() => shellQuote('a\0b'));
      assert.throws(() => buildRemoteCommand([]));
    });

    // The remote login shell runs what underRemoteTimeout sends; sh here plays that part, its stdin a pipe
    // kept open as the SSH channel's is while the command runs.
    const runSent = (line: string, opts: { env?: NodeJS.ProcessEnv; closeStdinAfterMs?: number } = {}) =>
      new Promise<{ status: number | null; stdout: string; ms: number }>((resolve) => {
        const started = Date.now();
        const child = spawn('/bin/sh', ['-c', line], { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
        let stdout = '';
        child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
        if (opts.closeStdinAfterMs !== undefined) setTimeout(() => child.stdin.end(), opts.closeStdinAfterMs);
        child.on('close', (status) => {
          child.stdin.destroy();
          resolve({ status, stdout, ms: Date.now() - started });
        });
      });

    it('the sent command stops itself at the deadline (timeout exits 124)', async () => {
      const run = await runSent(underRemoteTimeout(buildRemoteCommand(['sleep', '30']), 1200));
      assert.equal(run.status, 124);
      assert.ok(run.ms < 10_000, `stopped after ${run.ms} ms`);
    });

    it('the sent command is stopped when its input ends (the channel closed), children included', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'selfheal-watch-'));
      try {
        const run = await runSent(underRemoteTimeout(buildRemoteCommand(['sh', '-c', `sleep 600 & echo $! > ${dir}/child; wait`]), 60_000), { closeStdinAfterMs: 800 });
        assert.notEqual(run.status, 0);
        assert.ok(run.ms < 10_000, `stopped after ${run.ms} ms`);
        assert.ok(await goneWithin(join(dir, 'child'), 5000), 'the process the command started is gone too');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('the sent command runs as before on a host without timeout, and is itself stopped when its input ends', async () => {
      // cat and sleep on PATH (the watcher needs cat), no timeout(1).
      const bin = await mkdtemp(join(tmpdir(), 'selfheal-bin-'));
      try {
        for (const tool of ['cat', 'sleep']) await symlink(execFileSync('/bin/sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).trim(), join(bin, tool));
        const run = await runSent(underRemoteTimeout(buildRemoteCommand(['/bin/echo', "it's $(not) expanded"]), 1000), { env: { PATH: bin } });
        assert.equal(run.status, 0);
        assert.equal(run.stdout, "it's $(not) expanded\n");
        const pidFile = join(bin, 'pid');
        const stopped = await runSent(underRemoteTimeout(buildRemoteCommand(['/bin/sh', '-c', `echo $$ > ${pidFile}; exec sleep 600`]), 60_000), { env: { PATH: bin }, closeStdinAfterMs: 800 });
        assert.notEqual(stopped.status, 0);
        assert.ok(await goneWithin(pidFile, 5000), 'the command is gone');
      } finally {
        await rm(bin, { recursive: true, force: true });
      }
    });

    // The login shell reads a command too long for one argument from its input (commandOverInput): input
    // that ends short (the connection dropped while it was sent) must run nothing of it.
    it('a command sent on the input runs only when all of it arrived, then stops when the rest of the input ends', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'selfheal-input-'));
      try {
        const ran = join(dir, 'ran');
        const { line, input, cutShort } = commandOverInput(underRemoteTimeout(buildRemoteCommand(['sh', '-c', `touch ${ran}; exec sleep 600`, 'x'.repeat(100_000), 'y'.repeat(100_000)]), 60_000));
        const send = (bytes: Buffer, endAfterMs: number, env: NodeJS.ProcessEnv = process.env) =>
          new Promise<{ status: number | null; stderr: string; ms: number }>((resolve) => {
            const started = Date.now();
            const child = spawn('/bin/sh', ['-c', line], { stdio: ['pipe', 'ignore', 'pipe'], env });
            let stderr = '';
            child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
            child.stdin.write(bytes);
            setTimeout(() => child.stdin.end(), endAfterMs);
            child.on('close', (status) => resolve({ status, stderr, ms: Date.now() - started }));
          });
        const cut = await send(input.subarray(0, input.length - 1), 0);
        assert.deepEqual([cut.status, cut.stderr], [COMMAND_CUT_SHORT_EXIT_CODE, `${cutShort}\n`]);
        assert.match(cutShort, /^selfheal: the command did not arrive whole; nothing of it ran \(selfheal-end-[0-9a-f]{24}\)$/);
        assert.equal(await stat(ran).then(() => true, () => false), false, 'a command cut short ran');
        const whole = await send(input, 1500);
        assert.equal(await stat(ran).then(() => true, () => false), true, `the whole command did not run: ${whole.stderr}`);
        assert.notEqual(whole.status, 0);
        assert.ok(whole.ms < 10_000, `stopped after ${whole.ms} ms`);
        // A host with head but no wc, printf or dd outside the shell: the check is the shell's own. A count
        // through wc refused every long command there ("did not arrive whole").
        await rm(ran);
        const bin = join(dir, 'bin');
        await mkdir(bin);
        for (const tool of ['head', 'cat', 'sleep', 'sh', 'touch', 'timeout', 'setsid', 'pkill']) {
          const at = execFileSync('/bin/sh', ['-c', `command -v ${tool} || true`], { encoding: 'utf8' }).trim();
          if (at) await symlink(at, join(bin, tool));
        }
        const bare = await send(input, 1500, { PATH: bin });
        assert.equal(await stat(ran).then(() => true, () => false), true, `the whole command did not run on a host without wc: ${bare.stderr}`);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('sets SELFHEAL_PARAM_* variables with env(1) in front of argv, and refuses every other name', () => {
      assert.deepEqual(withEnv(['/opt/x.sh', 'a'], { SELFHEAL_PARAM_DRY_RUN: '1', SELFHEAL_PARAM_NOTE: "it's $(id)" }), [
        'env',
        'SELFHEAL_PARAM_DRY_RUN=1',
        "SELFHEAL_PARAM_NOTE=it's $(id)",
        '/opt/x.sh',
        'a',
      ]);
      assert.throws(() => withEnv(['/opt/a=b.sh'], { SELFHEAL_PARAM_DRY_RUN: '1' }), SshConfigError);
      assert.deepEqual(withEnv(['/opt/x.sh'], {}), ['/opt/x.sh']);
      // An allow list: the names a deny list once refused, the ones it missed (audit finding 1), and any plain name.
      const refused = ['PATH', 'LD_PRELOAD', 'BASH_ENV', 'ENV', 'NODE_OPTIONS', 'SELFHEAL_INCIDENT_ID', 'CHAGE_CMD', 'VIMINIT', 'EXINIT', 'PYTHONWARNINGS', 'BROWSER',
        'GIT_CONFIG_COUNT', 'GIT_CONFIG_KEY_0', 'GIT_CONFIG_PARAMETERS', 'LUA_INIT', 'JDK_JAVA_OPTIONS', 'PAGER', 'EDITOR', 'https_proxy', 'KUBECONFIG', 'AWS_CONFIG_FILE',
        'DRY_RUN', 'selfheal_param_x', 'SELFHEAL_PARAM_', 'SELFHEAL_PARAM_lower'];
      for (const name of refused) {
        assert.throws(() => withEnv(['/opt/x.sh'], { [name]: 'x' }), (err: Error) => err instanceof SshConfigError && err.message.includes(name), name);
      }
    });

    it('round-trips hostile strings through a real shell', () => {
      const hostile = [`'`, `"`, '$HOME', '`id`', '; touch /tmp/x', 'a\nb', '\\', `'\\''`, '*', '-n'];
      for (const arg of hostile) {
        const out = execFileSync('/bin/sh', ['-c', `printf '%s' ${shellQuote(arg)}`], { encoding: 'utf8' });
        assert.equal(out, arg);
      }
    });
  });

  describe('fingerprintOfPublicKey', () => {
    it('matches ssh-keygen -lf', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'selfheal-fp-'));
      try {
        const pair = await generateKeyPair(dir, 'k');
        assert.match(pair.fingerprint, /^SHA256:[A-Za-z0-9+/]{43}$/);
        assert.equal(fingerprintOfPublicKey(pair.publicKey), pair.fingerprint);
        assert.throws(() => fingerprintOfPublicKey('ssh-rsa not-base64!'));
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('against a real sshd', function () {
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
      work = await mkdtemp(join(tmpdir(), 'selfheal-ssh-'));
    });
    afterEach(async () => {
      await rm(work, { recursive: true, force: true });
    });

    const base = () => ({
      host: sshd.host,
      port: sshd.port,
      username: sshd.username,
      privateKey: sshd.privateKey,
      hostKeyFingerprint: sshd.hostKeyFingerprint,
      timeoutMs: 15_000,
    });

    it('runs a command and captures exit code, stdout and stderr', async () => {
      const result = await runSshCommand({ ...base(), command: ['sh', '-c', 'echo "out:$1"; echo err >&2; exit 7', 'sh', "it's $(not) expanded"] });
      assert.equal(result.exitCode, 7);
      assert.equal(result.stdout, "out:it's $(not) expanded\n");
      assert.equal(result.stderr, 'err\n');
      assert.equal(result.timedOut, false);
      assert.ok(result.durationMs > 0);
    });

    it('passes arguments verbatim (no remote shell injection)', async () => {
      const marker = join(work, 'injected');
      const result = await runSshCommand({ ...base(), command: ['echo', `; touch ${marker}`, '$(touch ' + marker + ')'] });
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, `; touch ${marker} $(touch ${marker})\n`);
      await assert.rejects(stat(marker));
    });

    it('caps output', async () => {
      const result = await runSshCommand({ ...base(), command: ['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" a; echo; echo RESULT done'], maxOutputBytes: 1024 });
      assert.equal(result.exitCode, 0);
      // Its start and its end: the last line, where a script reports, is kept.
      assert.equal(result.stdout, `${'a'.repeat(512)}\n[… ${100_000 + 1 + 12 - 1024} bytes of output omitted …]\n${'a'.repeat(499)}\nRESULT done\n`);
      assert.equal(result.stdoutTruncated, true);
    });

    it('caps output counted in bytes read; NUL bytes are kept as U+FFFD (Postgres text cannot hold NUL)', async () => {
      const result = await runSshCommand({ ...base(), command: ['head', '-c', '100000', '/dev/zero'], maxOutputBytes: 1024 });
      assert.equal(result.exitCode, 0);
      assert.equal(result.stdout, `${'\uFFFD'.repeat(512)}\n[… ${100_000 - 1024} bytes of output omitted …]\n${'\uFFFD'.repeat(512)}`);
      assert.equal(result.stdoutTruncated, true);
    });

    it('refuses a host whose key does not match the pin, before running anything', async () => {
      const marker = join(work, 'ran');
      const other = await generateKeyPair(work, 'other');
      const logOffset = sshd.logs().length;
      await assert.rejects(
        runSshCommand({ ...base(), hostKeyFingerprint: other.fingerprint, command: ['touch', marker] }),
        (err: Error) => err instanceof HostKeyMismatchError && (err as HostKeyMismatchError).retryable === false && err.message.includes(sshd.hostKeyFingerprint),
      );
      await assert.rejects(stat(marker), 'the command must not have run');
      // Our credentials were never offered: sshd saw no authentication attempt.
      await new Promise((r) => setTimeout(r, 200));
      const logs = sshd.logs().slice(logOffset);
      assert.match(logs, /Connection from/);
      assert.doesNotMatch(logs, /Accepted key|Accepted publickey|Failed publickey|Postponed publickey|Starting session/);
    });

    it('maps a wrong client key to SshAuthError (non-retryable)', async () => {
      const marker = join(work, 'ran');
      const stranger = await generateKeyPair(work, 'stranger');
      await assert.rejects(
        runSshCommand({ ...base(), privateKey: stranger.privateKey, command: ['touch', marker] }),
        (err: Error) => err instanceof SshAuthError && (err as SshAuthError).retryable === false,
      );
      await assert.rejects(stat(marker));
    });

    it('times out a long command, reports timedOut and tears the remote command down', async () => {
      const pidFile = join(work, 'pid');
      const started = Date.now();
      const result = await runSshCommand({ ...base(), timeoutMs: 3000, command: ['sh', '-c', `echo $$ > ${pidFile}; while :; do echo tick; sleep 0.2; done`] });
      assert.equal(result.timedOut, true);
      assert.equal(result.exitCode, null);
      assert.ok(Date.now() - started < 12_000);
      assert.ok(await goneWithin(pidFile, 5000), 'remote command should be killed after the timeout');
    });

    // Found in review: the deadline resolved the run timed out at once, while on the host a script with a
    // SIGTERM cleanup trap ran up to the kill grace (5 s) longer: the rule run went on to its on_failure
    // action and released the target's lease meanwhile. As on the agent, the result waits for the stop.
    it('a timed-out command that traps SIGTERM is reported only once it stopped on the host', async () => {
      const pidFile = join(work, 'pid');
      const run = runSshCommand({ ...base(), timeoutMs: 4000, command: ['sh', '-c', `trap 'echo cleaning' TERM; echo $$ > ${pidFile}; while :; do sleep 0.2; done`] });
      await pidWritten(pidFile, 4000);
      const result = await run;
      assert.equal(result.timedOut, true);
      assert.equal(result.exitCode, null);
      assert.ok(await goneWithin(pidFile, 0), 'reported timed out while the command still ran on the host');
    });

    // OpenSSH starts the command before it answers the exec request: for the trip back, the command runs while
    // our channel is not open yet. A server whose answers take 4 s to come from the session's opening on (far
    // away; the handshake at loopback speed) holds that window open: the channel's confirmation comes 4 s
    // after the handshake, the exec request goes then, its answer 4 s later. The script cleans up for 2 s on
    // SIGTERM.
    describe('while the exec answer is on its way', () => {
      const exec = Client.prototype.exec;
      const cleanup2s = (pidFile: string) => `trap 'sleep 2; exit 0' TERM; echo $$ > ${pidFile}; while :; do sleep 0.2; done`;
      let proxy: Awaited<ReturnType<typeof startDelayingProxy>>;
      beforeEach(async () => {
        proxy = await startDelayingProxy(sshd.host, sshd.port);
        (Client.prototype as unknown as { exec: (...a: unknown[]) => unknown }).exec = function (this: Client, ...args: unknown[]) {
          proxy.delayReplies(4000);
          return (exec as (...a: unknown[]) => unknown).apply(this, args);
        };
      });
      afterEach(async () => {
        Client.prototype.exec = exec;
        await proxy.close();
      });

      // Found in review: a cancel (the incident resolved) landing then rejected at once, so the action was
      // recorded cancelled and its lease released while the command still ran on the host.
      it('a cancelled command is stopped on the host before the call settles', async () => {
        const pidFile = join(work, 'pid');
        const controller = new AbortController();
        const run = runSshCommand({ ...base(), port: proxy.port, timeoutMs: 60_000, command: ['sh', '-c', cleanup2s(pidFile)], signal: controller.signal });
        run.catch(() => undefined);
        await pidWritten(pidFile, 10_000);
        controller.abort(new Error('cancelled: incident resolved'));
        await assert.rejects(run, /cancelled: incident resolved/);
        assert.ok(await goneWithin(pidFile, 0), 'settled as cancelled while the command still ran on the host');
      });

      // Found in review: the deadline then rejected with a retryable "timed out before the command started"
      // (a second attempt of a command that ran), while the command ran on. The deadline, 6 s, comes after
      // the exec request went (4 s) and before its answer (8 s).
      it('a command whose deadline comes is reported timed out once it stopped on the host, not as never started', async () => {
        const pidFile = join(work, 'pid');
        const result = await runSshCommand({ ...base(), port: proxy.port, timeoutMs: 6000, command: ['sh', '-c', cleanup2s(pidFile)] });
        assert.equal(result.timedOut, true);
        assert.ok(await goneWithin(pidFile, 0), 'reported timed out while the command still ran on the host');
      });
    });

    // A command that writes nothing gets no SIGPIPE when the channel closes, and OpenSSH ignores the
    // channel's signal request for root logins (CI logs in as root): only a timer on the remote side
    // stops it. Runaway remediation as root is what the timeout exists to prevent.
    it('tears down a silent command and its children at the timeout, root logins included', async () => {
      const pidFile = join(work, 'pid');
      const childFile = join(work, 'child');
      const result = await runSshCommand({ ...base(), timeoutMs: 2000, command: ['sh', '-c', `sleep 600 & echo $! > ${childFile}; echo $$ > ${pidFile}; wait`] });
      assert.equal(result.timedOut, true);
      assert.ok(await goneWithin(pidFile, 8000), 'the remote shell is gone after the timeout');
      assert.ok(await goneWithin(childFile, 2000), 'and so is the process it started');
    });

    // Found in review: a fix script that starts a daemon and exits 0 left the daemon holding the channel's
    // output, so the run was reported timed out at its deadline and the daemon ran on, root's, past it.
    it('a command that exits leaving a process that holds its output: its exit code at once, and what it left is gone', async () => {
      const childFile = join(work, 'child');
      const started = Date.now();
      const result = await runSshCommand({ ...base(), timeoutMs: 20_000, command: ['sh', '-c', `sleep 600 & echo $! > ${childFile}; echo done; exit 3`] });
      assert.equal(result.timedOut, false, 'reported timed out');
      assert.equal(result.exitCode, 3);
      assert.equal(result.stdout, 'done\n');
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms of a 20 s deadline`);
      assert.ok(await goneWithin(childFile, 2000), 'the process the command left behind still runs on the host');
    });

    // What left the command's group (setsid) is out of reach of the group kill: once the exit status is in,
    // the channel it holds open is not waited for beyond a short drain, so the result is the exit code.
    it('a command that exits leaving a process outside its group holding its output: its exit code, not a timeout', async () => {
      const childFile = join(work, 'child');
      const started = Date.now();
      try {
        const result = await runSshCommand({ ...base(), timeoutMs: 20_000, command: ['sh', '-c', `setsid sleep 60 & echo $! > ${childFile}; echo done; exit 4`] });
        assert.equal(result.timedOut, false, 'reported timed out');
        assert.equal(result.exitCode, 4);
        assert.equal(result.stdout, 'done\n');
        assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms of a 20 s deadline`);
      } finally {
        const pid = Number((await readFile(childFile, 'utf8').catch(() => '')).trim());
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
    });

    // Found in review: the drain above ran into the deadline when the exit status came in less than 2 s before
    // it, and the deadline reported the run timed out though the command had exited. The command exits once
    // `go` exists, which the test creates 1.5 s before the deadline (both clocks start with the call): the
    // drain would end 0.5 s after the deadline at the earliest, so only the deadline can end the run, and the
    // exit status has 1.5 s to come in before it, however long the connection took.
    it('a command that exits shortly before its deadline, leaving a process outside its group holding its output: its exit code, not a timeout', async () => {
      await exitsJustBeforeDeadline(work, 8000, (script) => runSshCommand({ ...base(), timeoutMs: 8000, command: ['sh', '-c', script] }));
    });

    // The same race when cancelled: the remote shell exits at the cancellation, what left its group holds the
    // channel, and the run waits for the kill grace (10 s), which outlasts this 8 s deadline. The deadline
    // resolved the run as timed out; a cancelled run rejects with its cancellation.
    it('a cancelled command whose process outside its group holds its output rejects with the cancellation at its deadline, not as timed out', async () => {
      const childFile = join(work, 'child');
      const controller = new AbortController();
      try {
        const run = runSshCommand({ ...base(), timeoutMs: 8000, command: ['sh', '-c', `setsid sleep 60 & echo $! > ${childFile}; sleep 600`], signal: controller.signal });
        const deadline = Date.now() + 6000;
        while (!/^\d+\n$/.test(await readFile(childFile, 'utf8').catch(() => ''))) {
          assert.ok(Date.now() < deadline, 'the command started');
          await new Promise((r) => setTimeout(r, 50));
        }
        controller.abort(new Error('cancelled: incident resolved'));
        await assert.rejects(run, /cancelled: incident resolved/);
      } finally {
        const pid = Number((await readFile(childFile, 'utf8').catch(() => '')).trim());
        if (pid > 0) process.kill(pid, 'SIGKILL');
      }
    });

    // Found in review: cancelled while the remote shell ignored TERM (it then dies within the host's kill
    // grace, 5 s), the deadline came first and the run resolved timed out: recorded a failure, not a cancel.
    it('a cancelled command still dying when its deadline comes rejects with its cancellation, not as timed out', async () => {
      const started = join(work, 'started');
      const controller = new AbortController();
      const run = runSshCommand({ ...base(), timeoutMs: 8000, command: ['sh', '-c', `trap '' TERM; touch ${started}; sleep 600`], signal: controller.signal });
      const t0 = Date.now();
      while (!(await stat(started).catch(() => undefined))) {
        assert.ok(Date.now() - t0 < 6000, 'the command started');
        await new Promise((r) => setTimeout(r, 50));
      }
      // 2 s before the deadline at most, which the 5 s remote kill grace and our 10 s outlast.
      await new Promise((r) => setTimeout(r, Math.max(0, 6000 - (Date.now() - t0))));
      controller.abort(new Error('cancelled: incident resolved'));
      await assert.rejects(run, /cancelled: incident resolved/);
    });

    it('cancels through AbortSignal', async () => {
      const controller = new AbortController();
      const run = runSshCommand({ ...base(), command: ['sleep', '30'], signal: controller.signal });
      setTimeout(() => controller.abort(new Error('cancelled')), 500);
      await assert.rejects(run, /cancelled/);
    });

    // Cancelling a remediation (the incident resolved) must stop it where it runs, not only our side of the
    // channel: a silent command, run as root in CI, with a child of its own.
    it('a cancelled command stops on the host, with what it started, before the call settles', async () => {
      const pidFile = join(work, 'pid');
      const childFile = join(work, 'child');
      const controller = new AbortController();
      const run = runSshCommand({ ...base(), timeoutMs: 120_000, command: ['sh', '-c', `sleep 600 & echo $! > ${childFile}; echo $$ > ${pidFile}; wait`], signal: controller.signal });
      const deadline = Date.now() + 10_000;
      while (!(await stat(childFile).catch(() => undefined))) {
        assert.ok(Date.now() < deadline, 'the command started');
        await new Promise((r) => setTimeout(r, 50));
      }
      controller.abort(new Error('cancelled: incident resolved'));
      await assert.rejects(run, /cancelled: incident resolved/);
      // Settled only once the remote shell exited: both are gone already, or within the kill grace.
      assert.ok(await goneWithin(pidFile, 6000), 'the remote command is gone after the cancel');
      assert.ok(await goneWithin(childFile, 2000), 'and so is the process it started');
    });

    // The worker died (or the network between it and the VM): the connection drops without a goodbye.
    it('a command whose connection drops is stopped on the host, with what it started', async () => {
      const proxy = await startTcpProxy(sshd.host, sshd.port);
      try {
        const pidFile = join(work, 'pid');
        const childFile = join(work, 'child');
        const run = runSshCommand({ ...base(), port: proxy.port, timeoutMs: 120_000, command: ['sh', '-c', `sleep 600 & echo $! > ${childFile}; echo $$ > ${pidFile}; wait`] });
        // Both pids written in full (the shell writes the child's first, its own after), then the drop.
        const written = async (f: string) => /^\d+\n$/.test(await readFile(f, 'utf8').catch(() => ''));
        const deadline = Date.now() + 10_000;
        while (!((await written(childFile)) && (await written(pidFile)))) {
          assert.ok(Date.now() < deadline, 'the command started');
          await new Promise((r) => setTimeout(r, 50));
        }
        proxy.down();
        await assert.rejects(run, SshConnectionError);
        assert.ok(await goneWithin(pidFile, 8000), 'the remote command is gone after the connection dropped');
        assert.ok(await goneWithin(childFile, 2000), 'and so is the process it started');
      } finally {
        await proxy.close();
      }
    });

    it('passes the SELFHEAL_PARAM_* variables of a rule to the command', async () => {
      const result = await runSshCommand({
        ...base(),
        env: { SELFHEAL_PARAM_DRY_RUN: '1', SELFHEAL_PARAM_NOTE: "it's $(id)" },
        command: ['sh', '-c', 'printf "%s|%s" "$SELFHEAL_PARAM_DRY_RUN" "$SELFHEAL_PARAM_NOTE"'],
      });
      assert.equal(result.exitCode, 0, result.stderr);
      assert.equal(result.stdout, "1|it's $(id)");
      await assert.rejects(runSshCommand({ ...base(), env: { LD_PRELOAD: '/tmp/evil.so' }, command: ['true'] }), SshConfigError);
    });

    describe('scripts run from the scripts directory (script.ssh actions and SSH jobs)', () => {
      // The worker's own path: remoteScriptPath builds <SELFHEAL_SSH_SCRIPTS_DIR>/<script>, runOnManagementVm
      // runs it inside an activity (a mock one here), and toFailure is what the action or job target records.
      // The loopback sshd shares this filesystem, so what the "VM" ran is seen in files.
      let scriptsDir: string;
      let env: NodeJS.ProcessEnv;
      const vm = (): EnvironmentSsh => ({ host: sshd.host, port: sshd.port, user: sshd.username, keyRef: 'env:SELFHEAL_SECRET_SSH_TEST_KEY', hostKeyFingerprint: sshd.hostKeyFingerprint });
      const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
      const runOnVm = (script: string, args: string[], timeoutMs = 15_000): Promise<ScriptActionResult> =>
        new MockActivityEnvironment(undefined, { logger: quiet }).run(() => runOnManagementVm(vm(), [remoteScriptPath(script, env), ...args], timeoutMs, env));
      const exists = (path: string) => stat(path).then(() => true, () => false);
      /** The failure the action run records: a non-retryable ScriptNotAllowedError whose message names no path on the VM. */
      const refusedAs = async (run: Promise<unknown>, message: RegExp): Promise<void> => {
        const err = await run.then(
          (r) => assert.fail(`the script ran: ${JSON.stringify(r)}`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof ScriptNotAllowedError, String(err));
        const failure = toFailure(err);
        assert.ok(failure instanceof ApplicationFailure);
        assert.equal(failure.type, 'ScriptNotAllowedError');
        assert.equal(failure.nonRetryable, true);
        assert.match(failure.message, message);
        assert.doesNotMatch(failure.message, /\/(tmp|usr|root|opt|home)\b/, 'the message shows paths on the VM');
      };

      beforeEach(async () => {
        scriptsDir = join(work, 'scripts');
        await mkdir(scriptsDir);
        await chmod(scriptsDir, 0o755);
        env = { SELFHEAL_SSH_SCRIPTS_DIR: scriptsDir, SELFHEAL_SECRET_SSH_TEST_KEY: sshd.privateKey };
      });

      const writeScript = async (path: string, body: string, mode = 0o755) => {
        await writeFile(path, `#!/bin/sh\n${body}\n`);
        await chmod(path, mode);
      };

      it('runs a script of the directory with its arguments as they are', async () => {
        await writeScript(join(scriptsDir, 'health-check.sh'), 'printf "%s|" "$@"; id -u');
        const r = await runOnVm('health-check.sh', ["it's $(id)", '--x']);
        assert.equal(r.error, undefined, r.outputExcerpt);
        assert.equal(r.exitCode, 0);
        assert.equal(r.outputExcerpt, `it's $(id)|--x|${process.getuid?.() ?? 0}\n`);
      });

      it('refuses a script name that is a symlink to a program elsewhere: a write token picking /usr/bin/env with sh -c runs nothing', async () => {
        const pwned = join(work, 'pwned');
        await symlink('/usr/bin/env', join(scriptsDir, 'store-root-password'));
        await refusedAs(runOnVm('store-root-password', ['sh', '-c', `id -u > ${pwned}`]), /script "store-root-password" resolves outside the scripts directory/);
        assert.equal(await exists(pwned), false, 'the program behind the link ran on the VM');
      });

      it('refuses a vault command reached through a link in the scripts directory: no empty root password stored', async () => {
        // The documented layout keeps the vault command out of the scripts directory; an operator who links it
        // back in still does not make it a script a rule may run with `args: [root]` and empty input.
        const vaultDir = join(work, 'vault');
        const stored = join(work, 'stored');
        await mkdir(vaultDir);
        await chmod(vaultDir, 0o755);
        await writeScript(join(vaultDir, 'store-root-password'), `echo "user=$1" > ${stored}; cat >> ${stored}`);
        await symlink(join(vaultDir, 'store-root-password'), join(scriptsDir, 'store-root-password'));
        await refusedAs(runOnVm('store-root-password', ['root']), /resolves outside the scripts directory/);
        assert.equal(await exists(stored), false, 'the vault command ran');
      });

      it('refuses a script that someone other than root or the login user could change, and one in such a directory', async function () {
        this.timeout(120_000);
        const ran = join(work, 'ran');
        await writeScript(join(scriptsDir, 'group.sh'), `echo group > ${ran}`, 0o775);
        await refusedAs(runOnVm('group.sh', []), /script "group\.sh" is refused on the management VM: its file is group-writable \(owner uid \d+, mode -rwxrwxr-x\)/);
        await mkdir(join(scriptsDir, 'shared'));
        await chmod(join(scriptsDir, 'shared'), 0o777);
        await writeScript(join(scriptsDir, 'shared', 'fix.sh'), `echo shared > ${ran}`);
        await refusedAs(runOnVm('shared/fix.sh', []), /its directory "shared" in the scripts directory is group-writable and world-writable/);
        await chmod(scriptsDir, 0o757);
        await writeScript(join(scriptsDir, 'plain.sh'), `echo plain > ${ran}`);
        await refusedAs(runOnVm('plain.sh', []), /the scripts directory is world-writable/);
        await chmod(scriptsDir, 0o755);
        await chmod(work, 0o770);
        await refusedAs(runOnVm('plain.sh', []), /the directory 1 level above the scripts directory is group-writable/);
        await chmod(work, 0o700);
        assert.equal(await exists(ran), false, 'a refused script ran');
        if (process.getuid?.() === 0) {
          await chown(join(scriptsDir, 'plain.sh'), 65534, 65534);
          await refusedAs(runOnVm('plain.sh', []), /its file is owned by neither root nor the login user \(uid 0\)/);
          await chown(join(scriptsDir, 'plain.sh'), 0, 0);
        }
        // Made safe again, it runs (the directories above include the sticky, root-owned /tmp).
        const r = await runOnVm('plain.sh', []);
        assert.equal(r.exitCode, 0, r.outputExcerpt);
        assert.equal(await readFile(ran, 'utf8'), 'plain\n');
      });

      it('runs a script linked to another inside the directory (the real path is what is checked and run)', async () => {
        await mkdir(join(scriptsDir, 'lib'));
        await writeScript(join(scriptsDir, 'lib', 'real.sh'), 'echo "real $0 $1"');
        await symlink('lib/real.sh', join(scriptsDir, 'alias.sh'));
        const r = await runOnVm('alias.sh', ['a']);
        assert.equal(r.exitCode, 0, r.outputExcerpt);
        assert.equal(r.outputExcerpt, `real ${join(scriptsDir, 'lib', 'real.sh')} a\n`);
        await refusedAs(runOnVm('missing.sh', []), /script "missing\.sh" not found in the scripts directory/);
      });

      // sshd hands the command line to the login shell as one argument, and Linux refuses one of 128 KiB or
      // more (E2BIG): a rule's arguments past it (64 elements of 4096 characters without a placeholder are
      // 256 KiB already) failed on the VM as "exit 1", like the script. The largest a rule gives: 60
      // elements of 4096 characters, and 4 of a rendered field's 64 Ki (their values within the render's
      // 256 Ki), with quotes and $(…) in each.
      it('runs a script with the largest arguments a rule can give it, each as it is', async () => {
        const element = (n: number, i: number) => `${i}: it's $(id) "x" \\ `.repeat(Math.ceil(n / 20)).slice(0, n);
        const args = [...Array.from({ length: 60 }, (_, i) => element(4096, i)), ...Array.from({ length: 4 }, (_, i) => element(MAX_RENDERED_FIELD, 60 + i))];
        assert.ok(args.length <= 64 && args.slice(60).reduce((n, a) => n + a.length, 0) <= MAX_RENDERED_TOTAL);
        await writeScript(join(scriptsDir, 'many-args.sh'), `echo "$#"; printf '%s\\0' "$@" | sha256sum`);
        const r = await runOnVm('many-args.sh', args);
        assert.equal(r.error, undefined, r.outputExcerpt);
        assert.equal(r.exitCode, 0, r.outputExcerpt);
        const sum = createHash('sha256').update(args.map((a) => `${a}\0`).join('')).digest('hex');
        assert.equal(r.outputExcerpt, `64\n${sum}  -\n`);
      });

      it('stops a run at SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS, whatever the rule or job asked', async () => {
        await writeScript(join(scriptsDir, 'slow.sh'), 'sleep 60');
        // The cap is the whole budget, connection included: a few seconds, so a loaded machine still connects.
        env.SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS = '5';
        const started = Date.now();
        const r = await runOnVm('slow.sh', [], 86_400_000);
        assert.equal(r.timedOut, true);
        assert.equal(r.error, 'timed out after 5 s; connection closed');
        assert.ok(Date.now() - started < 20_000, `stopped after ${Date.now() - started} ms`);
      });
    });

    it('a rule variable naming a program never makes the VM run it (audit finding 1): refused before connecting', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'selfheal-ssh-env-'));
      try {
        const marker = join(dir, 'pwned');
        const payload = join(dir, 'payload');
        await writeFile(payload, `#!/bin/sh\nid > ${marker}\n`, { mode: 0o755 });
        // Stands for an allow-listed script that runs what a variable names (the old
        // check-root-password-expiry.sh with CHAGE_CMD), or for git with GIT_CONFIG_*.
        const command = ['sh', '-c', '"${CHAGE_CMD:-true}"; git -C / status >/dev/null 2>&1; true'];
        await assert.rejects(runSshCommand({ ...base(), env: { CHAGE_CMD: payload }, command }), SshConfigError);
        await assert.rejects(
          runSshCommand({ ...base(), env: { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'core.fsmonitor', GIT_CONFIG_VALUE_0: payload }, command }),
          SshConfigError,
        );
        assert.equal(await stat(marker).then(() => true, () => false), false, 'a program the rule named ran on the VM');
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });

  describe('against a hostile host (a compromised management VM answering what it likes)', function () {
    this.timeout(30_000);
    const quiet = { log: () => undefined, trace: () => undefined, debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
    /** What runOnManagementVm (script.ssh actions and SSH jobs) reports of a script run on a host that ends it with `exit`. */
    const runOn = async (exit: HostileExit): Promise<ScriptActionResult> => {
      const host = await startHostileSshd(exit);
      const scriptsDir = '/opt/selfheal/scripts';
      const env = { SELFHEAL_SSH_SCRIPTS_DIR: scriptsDir, SELFHEAL_SECRET_SSH_TEST_KEY: host.privateKey };
      const vm: EnvironmentSsh = { host: host.host, port: host.port, user: host.username, keyRef: 'env:SELFHEAL_SECRET_SSH_TEST_KEY', hostKeyFingerprint: host.hostKeyFingerprint };
      try {
        return await new MockActivityEnvironment(undefined, { logger: quiet }).run(() => runOnManagementVm(vm, [remoteScriptPath('fix.sh', env)], 10_000, env));
      } finally {
        await host.stop();
      }
    };

    for (const [status, name] of [
      [4294967295, '0xFFFFFFFF'],
      [0xc0000005, "Windows OpenSSH's 0xC0000005"],
      [2147483648, '2^31'],
    ] as const) {
      it(`an exit status Postgres's integer cannot hold (${name}) is a failure with no exit code, whose error shows the value`, async () => {
        const r = await runOn({ status });
        assert.equal(r.exitCode, null);
        assert.equal(r.error, `the host sent an exit status out of range (${status}); an exit status is at most 2147483647`);
        assert.equal(r.timedOut, false);
        assert.match(r.outputExcerpt, /hostile host here/);
      });
    }

    it('the largest exit status an integer holds (2147483647) is kept as the exit code', async () => {
      const r = await runOn({ status: 2147483647 });
      assert.equal(r.exitCode, 2147483647);
      assert.equal(r.error, 'exit code 2147483647');
    });

    it('a signal name of 30,000 characters is not repeated: the error shows its first 32, quoted', async () => {
      const r = await runOn({ signal: 'X'.repeat(30_000) });
      assert.equal(r.exitCode, null);
      assert.equal(r.error, `killed by a signal whose name is not of the form of one, "SIG${'X'.repeat(29)}"…; no exit code`);
    });

    it('a signal name with other characters is quoted, never taken as one', async () => {
      const r = await runOn({ signal: 'KILL"\n<B>' });
      assert.equal(r.exitCode, null);
      assert.equal(r.error, `killed by a signal whose name is not of the form of one, ${JSON.stringify('SIGKILL"\n<B>')}; no exit code`);
    });

    // Before, "exit code SIGKILL", and "exit code null" for a channel closed with neither.
    it('a command killed by a signal says so, naming the signal', async () => {
      const r = await runOn({ signal: 'KILL' });
      assert.equal(r.exitCode, null);
      assert.equal(r.error, 'killed by signal SIGKILL; no exit code');
    });

    it('a channel closed with no exit status nor signal says there was no exit status', async () => {
      const r = await runOn({ none: true });
      assert.equal(r.exitCode, null);
      assert.equal(r.error, 'no exit status: the script ended without an exit status or a signal (over SSH, the host closed the channel without sending either)');
      assert.equal(r.timedOut, false);
      assert.match(r.outputExcerpt, /hostile host here/);
    });

    it("runSshCommand answers an exit status Postgres's integer cannot hold as no exit code, the status kept apart", async () => {
      const host = await startHostileSshd({ status: 4294967295 });
      try {
        const r = await runSshCommand({ host: host.host, port: host.port, username: host.username, privateKey: host.privateKey, hostKeyFingerprint: host.hostKeyFingerprint, command: ['true'], timeoutMs: 10_000 });
        assert.deepEqual([r.exitCode, r.exitStatusOutOfRange, r.timedOut], [null, 4294967295, false]);
      } finally {
        await host.stop();
      }
    });
  });

  it('maps a refused connection to a retryable SshConnectionError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'selfheal-ssh-'));
    try {
      const pair = await generateKeyPair(dir, 'k');
      await assert.rejects(
        runSshCommand({
          host: '127.0.0.1',
          port: 1,
          username: 'nobody',
          privateKey: pair.privateKey,
          hostKeyFingerprint: pair.fingerprint,
          command: ['true'],
          timeoutMs: 5000,
        }),
        (err: Error) => err instanceof SshConnectionError && (err as SshConnectionError).retryable === true && /ECONNREFUSED/.test(err.message),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
