import assert from 'node:assert/strict';
import { chmod, chown, mkdir, mkdtemp, readFile, realpath, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScriptNotAllowedError, ScriptsDirError } from '../../src/executors/errors.js';
import { resolveAllowedScript, runScript, sweepRunDirs, validateScriptsDir } from '../../src/executors/script-runner.js';
import { exitsJustBeforeDeadline } from '../helpers/exit-before-deadline.js';

const SHIPPED_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');

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

describe('executors/script-runner', () => {
  let root: string;
  let dir: string;

  async function addScript(name: string, body: string, mode = 0o755): Promise<void> {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`);
    await chmod(join(dir, name), mode);
  }

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selfheal-scripts-'));
    dir = join(root, 'scripts');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('runs each script in a directory of its own (0700, removed after): a relative write does not follow a link planted in the shared temp dir', async () => {
    // Another user of the host plants `report.txt` in /tmp, pointing at a file of root's.
    const name = `selfheal-cwd-${process.pid}-${Date.now()}.txt`;
    const victim = join(root, 'victim');
    await writeFile(victim, 'intact\n');
    await symlink(victim, join(tmpdir(), name));
    try {
      await addScript('report.sh', `pwd; stat -c %a .; echo pwned > ${name}`);
      const result = await runScript({ scriptsDir: dir, script: 'report.sh', timeoutMs: 5000 });
      assert.equal(result.exitCode, 0, result.stderr);
      const [cwd, mode] = result.stdout.trim().split('\n');
      assert.equal(await readFile(victim, 'utf8'), 'intact\n', 'the script wrote through the planted link');
      assert.notEqual(cwd, await realpath(tmpdir()));
      assert.equal(dirname(cwd!), await realpath(tmpdir()));
      assert.equal(mode, '700');
      await assert.rejects(stat(cwd!), /ENOENT/, 'the directory is removed after the run');
    } finally {
      await rm(join(tmpdir(), name), { force: true });
    }
  });

  it('sweeps the run directories a killed agent left: only its own user’s, untouched for a day', async () => {
    const stamp = `${process.pid}-${Date.now()}`;
    const made = async (name: string, daysAgo: number, uid?: number) => {
      const p = join(tmpdir(), `selfheal-run-${stamp}-${name}`);
      await mkdir(p, { mode: 0o700 });
      await writeFile(join(p, 'left.txt'), 'x');
      if (uid !== undefined) await chown(p, uid, uid);
      const t = new Date(Date.now() - daysAgo * 86_400_000);
      await utimes(p, t, t);
      return p;
    };
    const stale = await made('stale', 2);
    const fresh = await made('fresh', 0.5);
    const others = process.getuid?.() === 0 ? await made('others', 2, 65534) : undefined;
    try {
      assert.ok((await sweepRunDirs()) >= 1);
      await assert.rejects(stat(stale), /ENOENT/);
      await stat(fresh);
      if (others) await stat(others);
    } finally {
      for (const p of [stale, fresh, others]) if (p) await rm(p, { recursive: true, force: true });
    }
  });

  it('runs a script with argv (no shell) and captures exit code and output', async () => {
    await addScript('echo-args.sh', 'for a in "$@"; do printf "[%s]\\n" "$a"; done; echo oops >&2; exit 3');
    const result = await runScript({ scriptsDir: dir, script: 'echo-args.sh', args: ['a b', '$(id)', ';rm -rf /'], timeoutMs: 5000 });
    assert.equal(result.exitCode, 3);
    assert.equal(result.signal, null);
    assert.equal(result.timedOut, false);
    assert.equal(result.stdout, '[a b]\n[$(id)]\n[;rm -rf /]\n');
    assert.equal(result.stderr, 'oops\n');
    assert.equal(result.stdoutTruncated, false);
    assert.ok(result.durationMs >= 0);
  });

  it('an argument or variable longer than Linux passes in one string is refused before anything runs, saying which; one just within it runs whole', async () => {
    const marker = join(root, 'ran');
    await addScript('len.sh', `touch ${marker}; printf %s "$1" | wc -c; printf %s "$SELFHEAL_PARAM_NOTE" | wc -c`);
    // 64 Ki characters of two bytes each: what one rendered field may hold (src/domain/template.ts).
    const tooLong = 'é'.repeat(65_536);
    await assert.rejects(
      runScript({ scriptsDir: dir, script: 'len.sh', args: ['a', tooLong], timeoutMs: 5000 }),
      (err: Error) => err instanceof ScriptNotAllowedError && err.message === 'argument 2 is 131072 bytes in UTF-8, more than Linux passes in one argument (131071): the script was not run',
    );
    await assert.rejects(
      runScript({ scriptsDir: dir, script: 'len.sh', args: ['a'], env: { SELFHEAL_PARAM_NOTE: tooLong }, timeoutMs: 5000 }),
      (err: Error) => err instanceof ScriptNotAllowedError && /^the variable SELFHEAL_PARAM_NOTE is \d+ bytes in UTF-8/.test(err.message) && !err.message.includes('é'),
    );
    await assert.rejects(stat(marker), /ENOENT/, 'nothing ran');
    // Each within, all of them past what the host takes at once (ARG_MAX: 2 MiB under the usual 8 MiB stack).
    await assert.rejects(
      runScript({ scriptsDir: dir, script: 'len.sh', args: Array.from({ length: 80 }, () => 'é'.repeat(65_000)), timeoutMs: 5000 }),
      (err: Error) => err instanceof ScriptNotAllowedError && /^the script's arguments and environment are \d+ bytes, more than this host passes to a program: the script was not run$/.test(err.message),
    );
    const within = 'é'.repeat(65_535);
    const ok = await runScript({ scriptsDir: dir, script: 'len.sh', args: [within], env: { SELFHEAL_PARAM_NOTE: 'é'.repeat(65_000) }, timeoutMs: 5000 });
    assert.equal(ok.exitCode, 0, ok.stderr);
    assert.deepEqual(ok.stdout.trim().split(/\s+/), ['131070', '130000']);
  });

  it('rejects names escaping the scripts directory', async () => {
    await writeFile(join(root, 'outside.sh'), '#!/bin/sh\necho escaped\n', { mode: 0o755 });
    await symlink(join(root, 'outside.sh'), join(dir, 'link.sh'));
    for (const script of ['../outside.sh', join(root, 'outside.sh'), 'link.sh', 'missing.sh', '', 'sub/../../outside.sh']) {
      await assert.rejects(runScript({ scriptsDir: dir, script, timeoutMs: 1000 }), ScriptNotAllowedError, `script ${JSON.stringify(script)}`);
    }
  });

  it('allows a name that starts with two dots inside the directory, refuses `..` escapes and absolute paths', async () => {
    await addScript('..check.sh', 'echo dotted');
    await writeFile(join(root, 'x'), '#!/bin/sh\necho escaped\n', { mode: 0o755 });
    assert.equal(await resolveAllowedScript(dir, '..check.sh'), join(await realpath(dir), '..check.sh'));
    const ran = await runScript({ scriptsDir: dir, script: '..check.sh', timeoutMs: 5000 });
    assert.equal(ran.stdout, 'dotted\n');
    for (const script of ['../x', join(root, 'x'), '..']) {
      await assert.rejects(resolveAllowedScript(dir, script), ScriptNotAllowedError, `script ${JSON.stringify(script)}`);
    }
  });

  it('allows a symlink that stays inside the directory, rejects non-executables and directories', async () => {
    await addScript('real.sh', 'echo real');
    await symlink('real.sh', join(dir, 'alias.sh'));
    const ok = await runScript({ scriptsDir: dir, script: 'alias.sh', timeoutMs: 5000 });
    assert.equal(ok.stdout, 'real\n');
    await addScript('plain.sh', 'echo x', 0o644);
    await assert.rejects(runScript({ scriptsDir: dir, script: 'plain.sh', timeoutMs: 1000 }), ScriptNotAllowedError);
    await mkdir(join(dir, 'subdir'));
    await assert.rejects(runScript({ scriptsDir: dir, script: 'subdir', timeoutMs: 1000 }), ScriptNotAllowedError);
  });

  it('passes only PATH, LANG, HOME, SELFHEAL_* context and the rule\'s SELFHEAL_PARAM_* variables to the script', async () => {
    await addScript('env.sh', 'env | sort');
    const result = await runScript({
      scriptsDir: dir,
      script: 'env.sh',
      timeoutMs: 5000,
      env: { SELFHEAL_PARAM_TARGET_HOST: 'vm-1' },
      context: { incidentId: 'Q1ABC', ruleId: 'r-7' },
      baseEnv: { PATH: '/usr/bin:/bin', LANG: 'C.UTF-8', HOME: '/root', AWS_SECRET_ACCESS_KEY: 'leak-me', SELFHEAL_ADMIN_TOKEN: 'leak-me-too' },
    });
    const vars = Object.fromEntries(
      result.stdout.trim().split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
    delete vars.PWD; // set by the shell itself
    delete vars.SHLVL;
    delete vars._;
    assert.deepEqual(vars, {
      HOME: '/root',
      LANG: 'C.UTF-8',
      PATH: '/usr/bin:/bin',
      SELFHEAL_INCIDENT_ID: 'Q1ABC',
      SELFHEAL_RULE_ID: 'r-7',
      SELFHEAL_PARAM_TARGET_HOST: 'vm-1',
    });
    assert.ok(!result.stdout.includes('leak-me'));
  });

  it('caps output and flags truncation, keeping its start and its end (the RESULT line a script prints last)', async () => {
    await addScript('big.sh', 'echo "START line"\nhead -c 200000 /dev/zero | tr "\\0" x\necho\necho "RESULT status=ok"');
    const result = await runScript({ scriptsDir: dir, script: 'big.sh', timeoutMs: 5000, maxOutputBytes: 1000 });
    assert.equal(result.exitCode, 0);
    assert.equal(result.stdoutTruncated, true);
    assert.equal(result.stderrTruncated, false);
    // Before, the first 1,000 bytes only: the RESULT line was lost behind 200 KB of progress output.
    assert.match(result.stdout, /^START line\nx+\n\[… 199\d{3} bytes of output omitted …\]\nx+\nRESULT status=ok\n$/);
    const omitted = Number(/\[… (\d+) bytes/.exec(result.stdout)![1]);
    assert.equal(result.stdout.length - result.stdout.match(/\n\[… .* …\]\n/)![0].length, 1000, 'exactly the cap is kept, half at each end');
    assert.equal(omitted + 1000, 'START line\n'.length + 200_000 + 1 + 'RESULT status=ok\n'.length);
  });

  it('on timeout kills the whole process group, children included', async () => {
    const pidFile = join(root, 'child.pid');
    await addScript('hang.sh', `sleep 300 &\necho $! > ${pidFile}\nwait`);
    const result = await runScript({ scriptsDir: dir, script: 'hang.sh', timeoutMs: 500, killGraceMs: 1000 });
    assert.equal(result.timedOut, true);
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 'SIGTERM');
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(childPid > 0);
    assert.ok(await waitUntil(() => !isAlive(childPid)), 'child sleep must be killed with its group');
  });

  it('escalates to SIGKILL when the script ignores SIGTERM', async () => {
    await addScript('stubborn.sh', 'trap "" TERM\nwhile :; do sleep 0.1; done');
    const started = Date.now();
    const result = await runScript({ scriptsDir: dir, script: 'stubborn.sh', timeoutMs: 300, killGraceMs: 500 });
    assert.equal(result.timedOut, true);
    assert.equal(result.signal, 'SIGKILL');
    assert.ok(Date.now() - started < 5000);
  });

  it('a script that exited shortly before its deadline, a process outside its group holding its output, ends with its exit code, not timed out', async function () {
    this.timeout(20_000);
    // It exits 1.5 s before the deadline; the 2 s wait for its output after the exit runs past the deadline,
    // and the deadline used to report the run timed out.
    await exitsJustBeforeDeadline(root, 4000, async (script) => {
      await addScript('leaves.sh', script);
      return runScript({ scriptsDir: dir, script: 'leaves.sh', timeoutMs: 4000 });
    });
  });

  it('cancellation through AbortSignal kills the group and rejects', async () => {
    const pidFile = join(root, 'child.pid');
    await addScript('hang.sh', `sleep 300 &\necho $! > ${pidFile}\nwait`);
    const controller = new AbortController();
    const run = runScript({ scriptsDir: dir, script: 'hang.sh', timeoutMs: 60_000, signal: controller.signal });
    // The pid, not just the file: the shell creates the file before it writes to it, and a pid read
    // as "" (0) would make isAlive() probe our own process group.
    assert.ok(await waitUntil(async () => /^\d+\n$/.test(await readFile(pidFile, 'utf8').catch(() => ''))));
    controller.abort(new Error('cancelled by test'));
    await assert.rejects(run, /cancelled by test/);
    const childPid = Number((await readFile(pidFile, 'utf8')).trim());
    assert.ok(await waitUntil(() => !isAlive(childPid)), 'child sleep must be killed on cancel');
  });

  it('reports progress at most once per second', async () => {
    await addScript('slow.sh', 'echo start; sleep 2.5; echo end');
    const seen: Array<{ stdoutBytes: number; elapsedMs: number }> = [];
    const result = await runScript({ scriptsDir: dir, script: 'slow.sh', timeoutMs: 10_000, onProgress: (p) => seen.push(p) });
    assert.equal(result.exitCode, 0);
    assert.ok(seen.length >= 1 && seen.length <= 3, `got ${seen.length} progress calls`);
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.elapsedMs - seen[i - 1]!.elapsedMs >= 900);
    assert.equal(seen[0]!.stdoutBytes, 'start\n'.length);
  });

  it('refuses a script inside a world-writable subdirectory (anyone on the host could have planted it)', async () => {
    await mkdir(join(dir, 'open', 'deeper'), { recursive: true });
    await writeFile(join(dir, 'open', 'deeper', 'planted.sh'), '#!/bin/sh\necho planted\n', { mode: 0o755 });
    await chmod(join(dir, 'open'), 0o777);
    await assert.rejects(runScript({ scriptsDir: dir, script: 'open/deeper/planted.sh', timeoutMs: 5000 }), (err: Error) => err instanceof ScriptNotAllowedError && /is in the directory open \(.*\), which is group- and world-writable/.test(err.message));
    await chmod(join(dir, 'open'), 0o755);
    assert.equal((await runScript({ scriptsDir: dir, script: 'open/deeper/planted.sh', timeoutMs: 5000 })).stdout, 'planted\n');
  });

  it('validateScriptsDir rejects missing, non-directory and world-writable dirs', async () => {
    await assert.rejects(validateScriptsDir(join(root, 'nope')), (err: Error) => err instanceof ScriptsDirError && /does not exist/.test(err.message));
    await writeFile(join(root, 'file'), 'x');
    await assert.rejects(validateScriptsDir(join(root, 'file')), /not a directory/);
    await chmod(dir, 0o777);
    await assert.rejects(validateScriptsDir(dir), /world-writable/);
    await assert.rejects(runScript({ scriptsDir: dir, script: 'x.sh', timeoutMs: 1000 }), ScriptsDirError);
    await chmod(dir, 0o755);
    assert.equal(typeof (await validateScriptsDir(dir)), 'string');
  });

  describe('who may change what runs (sshd StrictModes: owned by root or the agent, not group- or world-writable)', () => {
    const me = process.getuid?.() ?? 0;
    const asRoot = function (this: Mocha.Context): void {
      if (me !== 0) this.skip(); // chown to another user needs root
    };
    /** Refused by resolveAllowedScript and runScript alike, with a message matching every pattern; the script's side effect never happens. */
    async function refused(script: string, kind: typeof ScriptNotAllowedError | typeof ScriptsDirError, patterns: RegExp[], marker?: string): Promise<void> {
      const check = (err: Error) => {
        assert.ok(err instanceof kind, `${err.name}: ${err.message}`);
        for (const p of patterns) assert.match(err.message, p);
        return true;
      };
      await assert.rejects(resolveAllowedScript(dir, script), check);
      await assert.rejects(runScript({ scriptsDir: dir, script, timeoutMs: 5000 }), check);
      if (marker) await assert.rejects(stat(marker), `${script} ran`);
    }
    const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

    it('refuses a group-writable script (0775) and runs nothing; at 0755 it runs', async () => {
      const marker = join(root, 'ran');
      await addScript('a.sh', `touch ${marker}`, 0o775);
      const file = join(await realpath(dir), 'a.sh');
      await refused('a.sh', ScriptNotAllowedError, [
        new RegExp(`^script "a\\.sh" \\(${esc(file)}\\) is group-writable \\(owner uid ${me}, mode 775\\): the members of group \\d+ could change what the agent runs as uid ${me}; run chmod go-w ${esc(file)}$`),
      ], marker);
      await chmod(join(dir, 'a.sh'), 0o755);
      assert.equal((await runScript({ scriptsDir: dir, script: 'a.sh', timeoutMs: 5000 })).exitCode, 0);
      await stat(marker);
    });

    it('refuses a script, or a subdirectory, owned by another user (uid 65534), even at 0755', async function () {
      asRoot.call(this);
      const marker = join(root, 'ran');
      await addScript('a.sh', `touch ${marker}`);
      await chown(join(dir, 'a.sh'), 65534, 65534);
      await refused('a.sh', ScriptNotAllowedError, [/is not owned by root \(owner uid 65534, mode 755\): uid 65534 could change what the agent runs as uid 0; run chown root \/.*\/a\.sh$/], marker);
      await mkdir(join(dir, 'sub'), { mode: 0o755 });
      await writeFile(join(dir, 'sub', 'b.sh'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      await chown(join(dir, 'sub'), 65534, 65534);
      await refused('sub/b.sh', ScriptNotAllowedError, [/^script "sub\/b\.sh" is in the directory sub \(\/.*\/sub\), which is not owned by root \(owner uid 65534, mode 755\).*run chown root /], marker);
      // Both at once: both fixes are named.
      await chmod(join(dir, 'a.sh'), 0o777);
      await refused('a.sh', ScriptNotAllowedError, [/is not owned by root and group- and world-writable \(owner uid 65534, mode 777\): uid 65534 and any user could change .*; run chown root \S+ && chmod go-w \S+$/]);
    });

    it('refuses a group-writable scripts directory (0775) at start and on every run', async () => {
      const marker = join(root, 'ran');
      await addScript('a.sh', `touch ${marker}`);
      await chmod(dir, 0o775);
      const real = await realpath(dir);
      const message = new RegExp(`^scripts directory ${esc(dir)}( \\(${esc(real)}\\))? is group-writable \\(owner uid ${me}, mode 775\\): .*; run chmod go-w ${esc(real)}$`);
      await assert.rejects(validateScriptsDir(dir), (err: Error) => err instanceof ScriptsDirError && message.test(err.message));
      await refused('a.sh', ScriptsDirError, [message], marker);
    });

    it('refuses a scripts directory owned by another user', async function () {
      asRoot.call(this);
      await chown(dir, 65534, 65534);
      await assert.rejects(validateScriptsDir(dir), (err: Error) => err instanceof ScriptsDirError && /is not owned by root \(owner uid 65534, mode 755\).*run chown root /.test(err.message));
    });

    it('refuses a scripts directory below a directory another user owns, or others can write: they could swap the whole directory', async function () {
      const marker = join(root, 'ran');
      await addScript('a.sh', `touch ${marker}`);
      const above = await realpath(root);
      await chmod(root, 0o770);
      await refused('a.sh', ScriptsDirError, [new RegExp(`: the directory ${esc(above)} above it is group-writable \\(owner uid ${me}, mode 770\\).*; run chmod go-w ${esc(above)}$`)], marker);
      await chmod(root, 0o700);
      await validateScriptsDir(dir);
      if (me !== 0) return;
      await chown(root, 65534, 65534);
      await refused('a.sh', ScriptsDirError, [new RegExp(`: the directory ${esc(above)} above it is not owned by root \\(owner uid 65534, mode 700\\).*; run chown root ${esc(above)}$`)], marker);
      await chown(root, 0, 0);
    });

    it('accepts a root-owned sticky directory above (as /tmp), not one another user owns, and never a sticky scripts directory or subdirectory', async function () {
      asRoot.call(this);
      const sticky = join(root, 'shared');
      const inner = join(sticky, 'scripts');
      await mkdir(inner, { recursive: true });
      await chmod(sticky, 0o1777);
      await chmod(inner, 0o755);
      await writeFile(join(inner, 'a.sh'), '#!/bin/sh\necho ok\n', { mode: 0o755 });
      assert.equal(await resolveAllowedScript(inner, 'a.sh'), join(await realpath(inner), 'a.sh'));
      await chown(sticky, 65534, 65534);
      await assert.rejects(resolveAllowedScript(inner, 'a.sh'), /above it is not owned by root and group- and world-writable \(owner uid 65534, mode 1777\)/);
      await chown(sticky, 0, 0);
      await chmod(inner, 0o1777);
      await assert.rejects(resolveAllowedScript(inner, 'a.sh'), (err: Error) => err instanceof ScriptsDirError && /^scripts directory \S+ is group- and world-writable \(owner uid 0, mode 1777\)/.test(err.message));
      await chmod(inner, 0o755);
      await mkdir(join(inner, 'drop'));
      await writeFile(join(inner, 'drop', 'b.sh'), '#!/bin/sh\necho ok\n', { mode: 0o755 });
      await chmod(join(inner, 'drop'), 0o1777);
      await assert.rejects(resolveAllowedScript(inner, 'drop/b.sh'), /in the directory drop .* which is group- and world-writable \(owner uid 0, mode 1777\)/);
    });

    it('judges a symlink by what it points at: a link to a writable or foreign script, into a writable directory, or a scripts directory reached through a link below an unsafe one, is refused', async () => {
      const marker = join(root, 'ran');
      await addScript('good.sh', 'echo good');
      await addScript('bad.sh', `touch ${marker}`, 0o775);
      await mkdir(join(dir, 'open'));
      await writeFile(join(dir, 'open', 'x.sh'), `#!/bin/sh\ntouch ${marker}\n`, { mode: 0o755 });
      await chmod(join(dir, 'open'), 0o757);
      await symlink('good.sh', join(dir, 'alias-good.sh'));
      await symlink('bad.sh', join(dir, 'alias-bad.sh'));
      await symlink('open/x.sh', join(dir, 'alias-open.sh'));
      // The link itself is 0777 (as every symlink): what counts is its target.
      assert.equal((await runScript({ scriptsDir: dir, script: 'alias-good.sh', timeoutMs: 5000 })).stdout, 'good\n');
      await refused('alias-bad.sh', ScriptNotAllowedError, [/^script "alias-bad\.sh" \(\/\S+\/bad\.sh\) is group-writable \(owner uid \d+, mode 775\)/], marker);
      await refused('alias-open.sh', ScriptNotAllowedError, [/^script "alias-open\.sh" is in the directory open \(\S+\), which is world-writable \(owner uid \d+, mode 757\): any user could change/], marker);
      if (me === 0) {
        await chmod(join(dir, 'bad.sh'), 0o755);
        await chown(join(dir, 'bad.sh'), 65534, 65534);
        await refused('alias-bad.sh', ScriptNotAllowedError, [/\(\/\S+\/bad\.sh\) is not owned by root \(owner uid 65534, mode 755\)/], marker);
      }
      // The scripts directory named through a symlink: its real parent is checked, not the link's.
      const unsafe = join(root, 'unsafe');
      await mkdir(join(unsafe, 'scripts'), { recursive: true });
      await chmod(join(unsafe, 'scripts'), 0o755);
      await chmod(unsafe, 0o775);
      await symlink(join(unsafe, 'scripts'), join(root, 'linked'));
      await assert.rejects(validateScriptsDir(join(root, 'linked')), (err: Error) => err instanceof ScriptsDirError && new RegExp(`^scripts directory ${esc(join(root, 'linked'))} \\(\\S+\\): the directory \\S+/unsafe above it is group-writable`).test(err.message));
      await chmod(unsafe, 0o755);
      assert.equal(await validateScriptsDir(join(root, 'linked')), await realpath(join(unsafe, 'scripts')));
    });

    it('accepts root-owned 0755 (and read-only 0555) scripts and directories, in subdirectories too', async () => {
      await mkdir(join(dir, 'sub', 'deeper'), { recursive: true });
      await chmod(join(dir, 'sub'), 0o755);
      await chmod(join(dir, 'sub', 'deeper'), 0o555);
      await writeFile(join(dir, 'sub', 'deeper', 'ok.sh'), '#!/bin/sh\necho fine\n');
      await chmod(join(dir, 'sub', 'deeper', 'ok.sh'), 0o555);
      await addScript('top.sh', 'echo top');
      assert.equal(await validateScriptsDir(dir), await realpath(dir));
      assert.equal((await runScript({ scriptsDir: dir, script: 'top.sh', timeoutMs: 5000 })).stdout, 'top\n');
      assert.equal((await runScript({ scriptsDir: dir, script: 'sub/deeper/ok.sh', timeoutMs: 5000 })).stdout, 'fine\n');
      await chmod(join(dir, 'sub', 'deeper'), 0o755); // so that afterEach can remove it as a non-root user
    });

    it('an agent running as another user (uid 65534 here; the image runs as 1000) accepts its own files and root\'s, refuses a third user\'s', async function () {
      asRoot.call(this);
      const cases: Record<string, number> = { own: 65534, roots: 0, third: 1000 };
      for (const [name, owner] of Object.entries(cases)) {
        const d = join(root, name);
        await mkdir(d, { mode: 0o755 });
        await chmod(d, 0o755);
        await writeFile(join(d, 'a.sh'), '#!/bin/sh\necho ok\n', { mode: 0o755 });
        await chown(d, owner === 1000 ? 65534 : owner, owner === 1000 ? 65534 : owner);
        await chown(join(d, 'a.sh'), owner, owner);
      }
      // The check asks process.getuid() each time: answer as the unprivileged agent would.
      const getuid = process.getuid;
      process.getuid = () => 65534;
      try {
        assert.equal(await resolveAllowedScript(join(root, 'own'), 'a.sh'), join(await realpath(root), 'own', 'a.sh'));
        assert.equal(await resolveAllowedScript(join(root, 'roots'), 'a.sh'), join(await realpath(root), 'roots', 'a.sh'));
        await assert.rejects(resolveAllowedScript(join(root, 'third'), 'a.sh'), /\(\S+\/third\/a\.sh\) is owned by neither root nor the agent's own uid 65534 \(owner uid 1000, mode 755\): uid 1000 could change what the agent runs as uid 65534; run chown root /);
        // A sticky directory above must be root's: one of the agent's own is not enough.
        await chown(root, 65534, 65534);
        await chmod(root, 0o1777);
        await assert.rejects(validateScriptsDir(join(root, 'own')), /above it is group- and world-writable \(owner uid 65534, mode 1777\)/);
      } finally {
        process.getuid = getuid;
        await chown(root, 0, 0);
        await chmod(root, 0o700);
      }
    });
  });

  describe('shipped scripts', () => {
    it('scripts/ is a valid scripts dir and health-check.sh succeeds', async () => {
      await validateScriptsDir(SHIPPED_SCRIPTS);
      const result = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'health-check.sh', timeoutMs: 10_000 });
      assert.equal(result.exitCode, 0, result.stderr);
      assert.match(result.stdout, /^hostname: /m);
      assert.match(result.stdout, /^uptime: /m);
      assert.match(result.stdout, /RESULT status=ok/);
    });

    it('restart-service.sh validates the unit name', async () => {
      const ok = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: ['--dry-run', 'nginx@a-1.service'], timeoutMs: 5000 });
      assert.equal(ok.exitCode, 0);
      assert.match(ok.stdout, /RESULT unit=nginx@a-1.service action=would-restart/);
      const plain = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: ['--dry-run', 'nginx'], timeoutMs: 5000 });
      assert.match(plain.stdout, /RESULT unit=nginx action=would-restart/);
      for (const bad of ['a;reboot', '$(id)', '-x', 'a b', '']) {
        const r = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: ['--dry-run', bad], timeoutMs: 5000 });
        assert.equal(r.exitCode, 2, `unit ${JSON.stringify(bad)}`);
      }
      // A unit name may come from an incident's fields: restarting one of these reboots or powers off the
      // host, unmounts a file system, or stops everything under a slice (systemd.special(7)).
      for (const unit of ['reboot.target', 'poweroff.target', 'emergency.target', 'var-lib.mount', 'user.slice', 'sshd.socket', 'nginx.service.target']) {
        const r = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: [unit], timeoutMs: 5000 });
        assert.equal(r.exitCode, 2, `unit ${unit}: ${r.stdout}`);
        assert.match(r.stdout, /RESULT action=rejected reason=not-a-service/, unit);
      }
      // Nor the services that are the system's own changes of state: systemd-poweroff.service carries
      // SuccessAction=poweroff-force, so "restarting" it (a unit named by an alert's details) powered the
      // host off; with or without the suffix.
      for (const unit of ['systemd-poweroff', 'systemd-reboot.service', 'systemd-halt', 'systemd-kexec.service', 'systemd-soft-reboot', 'systemd-suspend', 'systemd-hibernate.service', 'emergency', 'rescue.service', 'debug-shell', 'initrd-switch-root.service']) {
        const r = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: ['--dry-run', unit], timeoutMs: 5000 });
        assert.equal(r.exitCode, 2, `unit ${unit}: ${r.stdout}`);
        assert.match(r.stdout, /RESULT action=rejected reason=system-state-unit/, unit);
      }
      const journald = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: ['--dry-run', 'systemd-journald'], timeoutMs: 5000 });
      assert.match(journald.stdout, /RESULT unit=systemd-journald action=would-restart/);
    });

    it('restart-service.sh asks systemd what a name resolves to: an alias of a shutdown service, or a unit acting on the system, is never restarted', async () => {
      // A fake systemctl first on PATH (the agent's own environment): answers `show` as systemd would and
      // records every call.
      const bin = join(root, 'systemctl-bin');
      await mkdir(bin);
      const calls = join(root, 'systemctl.calls');
      await writeFile(
        join(bin, 'systemctl'),
        [
          '#!/bin/sh',
          `echo "$*" >> '${calls}'`,
          'for last; do :; done',
          'case "$1:$last" in',
          "  show:power-button) printf 'Id=systemd-poweroff.service\\nSuccessAction=poweroff-force\\nFailureAction=none\\n' ;;",
          "  show:watchdogged) printf 'Id=watchdogged.service\\nSuccessAction=none\\nFailureAction=reboot\\n' ;;",
          "  show:*) printf 'Id=%s.service\\nSuccessAction=none\\nFailureAction=none\\n' \"$last\" ;;",
          'esac',
          'exit 0',
          '',
        ].join('\n'),
      );
      await chmod(join(bin, 'systemctl'), 0o755);
      const restart = (unit: string) => runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'restart-service.sh', args: [unit], timeoutMs: 5000, baseEnv: { PATH: `${bin}:/usr/bin:/bin` } });
      for (const unit of ['power-button', 'watchdogged']) {
        const r = await restart(unit);
        assert.equal(r.exitCode, 2, `${unit}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /RESULT action=rejected reason=system-state-unit/);
      }
      const ok = await restart('nginx');
      assert.equal(ok.exitCode, 0, ok.stderr);
      assert.match(ok.stdout, /RESULT unit=nginx action=restarted/);
      const made = (await readFile(calls, 'utf8')).trim().split('\n');
      assert.deepEqual(
        made.filter((c) => c.startsWith('restart')),
        ['restart -- nginx'],
        'only nginx was restarted',
      );
    });

    it('disk-cleanup.sh is a dry run by default and deletes only with --apply', async () => {
      const target = join(root, 'junk');
      await mkdir(target);
      const old = join(target, 'old.log');
      const fresh = join(target, 'fresh.log');
      await writeFile(old, 'x'.repeat(100));
      await writeFile(fresh, 'y');
      const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
      await utimes(old, tenDaysAgo, tenDaysAgo);
      const dry = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'disk-cleanup.sh', args: ['--path', target, '--days', '7'], timeoutMs: 5000 });
      assert.equal(dry.exitCode, 0, dry.stderr);
      assert.match(dry.stdout, /RESULT mode=dry-run days=7 files=1 bytes=100/);
      await stat(old);
      const applied = await runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'disk-cleanup.sh', args: ['--apply', '--path', target, '--days', '7'], timeoutMs: 5000 });
      assert.match(applied.stdout, /RESULT mode=apply days=7 files=1 bytes=100/);
      await assert.rejects(stat(old));
      await stat(fresh);
    });

    describe('check-root-password-expiry.sh', () => {
      // The script runs from a copy of the shipped file in a scripts directory of the test's own, next to
      // the vault command it may name; fake chage and chpasswd come first on PATH through baseEnv (the
      // agent's own environment, which no rule can set).
      let bin: string;
      let fakeChage: string;
      let fakeChpasswd: string;
      let vault: string;
      let chpasswdLog: string;
      let vaultLog: string;

      async function writeTool(path: string, body: string): Promise<void> {
        await writeFile(path, `#!/bin/sh\n${body}\n`);
        await chmod(path, 0o755);
      }

      async function setExpiry(daysFromNow: number | 'never'): Promise<void> {
        const when = daysFromNow === 'never' ? 'never' : new Date(Date.now() + daysFromNow * 86_400_000).toLocaleDateString('en-US', { month: 'short', day: '2-digit', year: 'numeric', timeZone: 'UTC' });
        await writeTool(fakeChage, `echo "Last password change : Jan 01, 2025"\necho "Password expires : ${when}"\necho "Account expires : never"`);
      }

      beforeEach(async () => {
        bin = join(root, 'bin');
        await mkdir(bin);
        fakeChage = join(bin, 'chage');
        fakeChpasswd = join(bin, 'chpasswd');
        // The vault directory: root's, outside the scripts directory (where a vault command would be a script anyone writing a rule could run).
        const vaultDir = join(root, 'vault-dir');
        await mkdir(vaultDir, { mode: 0o755 });
        await chmod(vaultDir, 0o755);
        await writeFile(join(dir, 'check-root-password-expiry.vault-dir'), `${vaultDir}\n`);
        vault = join(vaultDir, 'vault');
        chpasswdLog = join(root, 'chpasswd.log');
        vaultLog = join(root, 'vault.log');
        await writeFile(join(dir, 'check-root-password-expiry.sh'), await readFile(join(SHIPPED_SCRIPTS, 'check-root-password-expiry.sh')));
        await chmod(join(dir, 'check-root-password-expiry.sh'), 0o755);
        await writeTool(fakeChpasswd, `cat > ${chpasswdLog}`);
        await writeTool(vault, `echo "user=$1" > ${vaultLog}; cat >> ${vaultLog}`);
        // The operator's list of vault commands, next to the script.
        await writeFile(join(dir, 'check-root-password-expiry.vaults'), '# vault clients this script may hand a password to\nvault\n');
      });

      const run = (args: string[], env: Record<string, string> = {}) =>
        runScript({ scriptsDir: dir, script: 'check-root-password-expiry.sh', args, timeoutMs: 10_000, env, baseEnv: { PATH: `${bin}:/usr/bin:/bin` } });

      it('reports never-expiring passwords without action', async () => {
        await setExpiry('never');
        const r = await run(['--days', '14']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^RESULT user=root expires_in_days=never action=none$/m);
      });

      it('with --dry-run changes nothing even when expiry is near', async () => {
        await setExpiry(3);
        const r = await run(['--days', '14', '--dry-run', '--vault-cmd', 'vault']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^RESULT user=root expires_in_days=3 action=would-reset$/m);
        await assert.rejects(stat(chpasswdLog));
        await assert.rejects(stat(vaultLog));
      });

      it('does nothing when expiry is far away', async () => {
        await setExpiry(60);
        const r = await run(['--days', '14', '--vault-cmd', 'vault']);
        assert.match(r.stdout, /expires_in_days=60 action=none/);
        await assert.rejects(stat(chpasswdLog));
      });

      it('refuses to reset without a vault command', async () => {
        await setExpiry(2);
        const r = await run(['--days', '14']);
        assert.equal(r.exitCode, 1);
        assert.match(r.stdout, /action=error reason=no-vault-cmd/);
        await assert.rejects(stat(chpasswdLog));
      });

      it('hands no password to a vault command, nor reads a list, that someone other than root could change', async () => {
        // The agent checks the script it runs; the vault command it then runs as root, with the new password,
        // and the lists saying who may be reset are checked by the script itself.
        await setExpiry(2);
        await chmod(vault, 0o775);
        const grouped = await run(['--days', '14', '--vault-cmd', 'vault']);
        assert.equal(grouped.exitCode, 1);
        assert.match(grouped.stdout, /action=error reason=vault-cmd-untrusted/);
        assert.match(grouped.stderr, /vault could be changed by someone other than root/);
        await assert.rejects(stat(vaultLog), 'the vault command ran');
        await assert.rejects(stat(chpasswdLog));
        await chmod(vault, 0o755);
        if (process.getuid?.() === 0) {
          await chown(vault, 65534, 65534);
          assert.match((await run(['--days', '14', '--vault-cmd', 'vault'])).stdout, /reason=vault-cmd-untrusted/);
          await chown(vault, 0, 0);
        }
        await chmod(join(dir, 'check-root-password-expiry.vaults'), 0o664);
        const list = await run(['--days', '14', '--vault-cmd', 'vault']);
        assert.equal(list.exitCode, 2);
        assert.match(list.stderr, /check-root-password-expiry\.vaults could be changed by someone other than root/);
        await assert.rejects(stat(vaultLog));
        await chmod(join(dir, 'check-root-password-expiry.vaults'), 0o644);
        assert.equal((await run(['--days', '14', '--vault-cmd', 'vault'])).exitCode, 0, 'trusted again');
      });

      it('stores the new password in the vault first, then sets it, never printing it', async () => {
        await setExpiry(2);
        const r = await run(['--days', '14', '--user', 'root', '--vault-cmd', 'vault']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /^RESULT user=root expires_in_days=2 action=reset$/m);
        const stored = (await readFile(vaultLog, 'utf8')).split('\n');
        assert.equal(stored[0], 'user=root');
        const password = stored[1]!;
        assert.match(password, /^[0-9a-f]{48}$/);
        assert.equal((await readFile(chpasswdLog, 'utf8')).trim(), `root:${password}`);
        assert.ok(!r.stdout.includes(password) && !r.stderr.includes(password));
      });

      it('does not change the password when the vault fails', async () => {
        await setExpiry(2);
        await writeTool(vault, 'cat > /dev/null; exit 1');
        const r = await run(['--days', '14', '--vault-cmd', 'vault']);
        assert.equal(r.exitCode, 1);
        assert.match(r.stdout, /reason=vault-store-failed/);
        await assert.rejects(stat(chpasswdLog));
      });

      it('runs no program outside the scripts directory as the vault command: usage error, password untouched', async () => {
        await setExpiry(2);
        const marker = join(root, 'outside-ran');
        const outside = join(root, 'outside-vault');
        await writeTool(outside, `cat > /dev/null; echo ran > ${marker}`);
        await mkdir(join(dir, 'sub'));
        for (const name of [outside, '../outside-vault', 'sub/../../outside-vault', './../outside-vault', '/bin/true', '-x', 'a b', '']) {
          const r = await run(['--days', '14', '--vault-cmd', name]);
          assert.notEqual(r.exitCode, 0, `--vault-cmd ${JSON.stringify(name)} was accepted: ${r.stdout}`);
          assert.doesNotMatch(r.stdout, /action=reset/, name);
        }
        await assert.rejects(stat(marker), 'a program outside the scripts directory ran');
        await assert.rejects(stat(chpasswdLog), 'the password was changed');
      });

      it('hands the password only to a vault command the operator listed: a sibling script that exits 0 is refused, the password untouched', async () => {
        await setExpiry(300);
        // The review's repro: health-check.sh ignores its stdin and exits 0, which read as "stored".
        await writeFile(join(dir, 'health-check.sh'), await readFile(join(SHIPPED_SCRIPTS, 'health-check.sh')));
        await chmod(join(dir, 'health-check.sh'), 0o755);
        for (const args of [
          ['--days', '90', '--vault-cmd', 'health-check.sh'],
          ['--days', '90', '--vault-cmd', 'check-root-password-expiry.sh'],
        ]) {
          const r = await run(args);
          assert.equal(r.exitCode, 2, `${args.join(' ')}: ${r.stdout}`);
          assert.match(r.stderr, /is not listed in check-root-password-expiry\.vaults/);
        }
        // Without the list, no vault command is accepted at all.
        await rm(join(dir, 'check-root-password-expiry.vaults'));
        const unlisted = await run(['--days', '14', '--vault-cmd', 'vault']);
        assert.equal(unlisted.exitCode, 2, unlisted.stdout);
        await assert.rejects(stat(chpasswdLog), 'the password was changed');
        await assert.rejects(stat(vaultLog), 'the vault command ran');
      });

      it('--days is at most 90 and --user is root or a user the operator listed', async () => {
        await setExpiry(80);
        for (const days of ['91', '99999', '99999999999999999999999']) {
          const r = await run(['--days', days, '--vault-cmd', 'vault']);
          assert.equal(r.exitCode, 2, `--days ${days}: ${r.stdout}`);
          assert.match(r.stderr, /--days is at most 90/);
        }
        const other = await run(['--days', '90', '--user', 'postgres', '--vault-cmd', 'vault']);
        assert.equal(other.exitCode, 2, other.stdout);
        assert.match(other.stderr, /--user postgres is not root and not listed in check-root-password-expiry\.users/);
        await assert.rejects(stat(chpasswdLog), 'the password was changed');

        await writeFile(join(dir, 'check-root-password-expiry.users'), 'postgres\n');
        const listed = await run(['--days', '90', '--user', 'postgres', '--vault-cmd', 'vault']);
        assert.equal(listed.exitCode, 0, listed.stderr);
        assert.match(listed.stdout, /^RESULT user=postgres expires_in_days=80 action=reset$/m);
        assert.match(await readFile(chpasswdLog, 'utf8'), /^postgres:[0-9a-f]{48}\n$/);
      });

      it('takes chage and chpasswd from PATH only: a rule variable naming another program is refused, nothing else runs', async () => {
        await setExpiry(3);
        const marker = join(root, 'payload-ran');
        const payload = join(root, 'payload');
        await writeTool(payload, `id > ${marker}`);
        // The audit's repro: before, CHAGE_CMD named the program the script ran as root, even with --dry-run.
        await assert.rejects(run(['--dry-run'], { CHAGE_CMD: payload }), ScriptNotAllowedError);
        // Even under the prefix rules may use, the script gives the variable no meaning.
        const r = await run(['--dry-run'], { SELFHEAL_PARAM_CHAGE_CMD: payload, SELFHEAL_PARAM_CHPASSWD_CMD: payload });
        assert.equal(r.exitCode, 0, r.stderr);
        assert.match(r.stdout, /action=would-reset/);
        await assert.rejects(stat(marker), 'a program outside the scripts directory ran');
        assert.doesNotMatch(await readFile(join(SHIPPED_SCRIPTS, 'check-root-password-expiry.sh'), 'utf8'), /CHAGE_CMD|CHPASSWD_CMD/);
      });
    });
  });
});
