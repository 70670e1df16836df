// The shipped disk-cleanup.sh deletes, as root, what its arguments name, and those arguments are chosen by
// whoever writes a rule or job (a `write` token) and may hold incident values (`--path` templated from an
// alert's mount point). It refused only the literal "/": `--path //` or `/.` cleaned the whole root file
// system, and `--path /etc` or `/usr` was fine. Now every directory, resolved, must lie inside a cleanable
// root (defaults, or disk-cleanup.roots in the operator's scripts directory), checked before anything is
// looked at. Run through the Doctor agent's own runner on the shipped scripts directory.
import assert from 'node:assert/strict';
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runScript } from '../../src/executors/script-runner.js';

const SHIPPED_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');
const exists = (path: string) => stat(path).then(() => true, () => false);

describe('security: disk-cleanup.sh cleans only the cleanable roots', function () {
  let outside: string;
  let inside: string;
  let victim: string;

  beforeEach(async () => {
    // Outside every default root (/tmp, /var/tmp, /var/log, …): stands for /etc or /usr on a VM.
    outside = await mkdtemp(join(homedir(), '.selfheal-sec-disk-'));
    inside = await mkdtemp(join(tmpdir(), 'selfheal-sec-disk-'));
    victim = join(outside, 'etc', 'keep.conf');
    await mkdir(dirname(victim));
    await writeFile(victim, 'x');
    const old = new Date(Date.now() - 30 * 86_400_000);
    await utimes(victim, old, old);
  });
  afterEach(async () => {
    for (const d of [outside, inside]) await rm(d, { recursive: true, force: true });
  });

  const cleanup = (args: string[], scriptsDir = SHIPPED_SCRIPTS, path?: string) =>
    runScript({ scriptsDir, script: 'disk-cleanup.sh', args, timeoutMs: 5_000, ...(path ? { baseEnv: { PATH: path } } : {}) });

  it('--apply on a directory outside the roots is a usage error and deletes nothing, named directly, through "..", or through a symlink', async () => {
    await symlink(join(outside, 'etc'), join(inside, 'link'));
    for (const path of [join(outside, 'etc'), `${inside}/../..${outside}/etc`, join(inside, 'link')]) {
      const r = await cleanup(['--apply', '--path', path, '--days', '7']);
      assert.equal(r.exitCode, 2, `${path}: ${r.stdout} ${r.stderr}`);
      assert.match(r.stdout, /RESULT mode=refused reason=path-not-allowed/);
      assert.equal(await exists(victim), true, `${path}: ${victim} was deleted`);
    }
  });

  it('"/" in any spelling is refused at once, before the file system is walked', async () => {
    for (const path of ['/', '//', '/.', '/tmp/..', '/./']) {
      // A dry run: on the old script these walked the whole root file system (and --apply deleted it).
      const r = await cleanup(['--path', path, '--days', '100000']);
      assert.equal(r.timedOut, false, `${path}: still walking after 5 s`);
      assert.equal(r.exitCode, 2, `${path}: ${r.stdout.slice(0, 200)}`);
      assert.match(r.stdout, /^RESULT mode=refused reason=path-not-allowed\n?$/);
    }
  });

  it('a directory inside a root is cleaned, and the operator may add roots with disk-cleanup.roots', async () => {
    const junk = join(inside, 'junk');
    await mkdir(junk);
    const old = join(junk, 'old.log');
    await writeFile(old, 'y'.repeat(10));
    const t = new Date(Date.now() - 30 * 86_400_000);
    await utimes(old, t, t);
    const r = await cleanup(['--apply', '--path', junk, '--days', '7']);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /RESULT mode=apply days=7 files=1 bytes=10/);
    assert.equal(await exists(old), false);

    // The operator's own scripts directory, with the outside tree listed as a root.
    const scripts = join(inside, 'scripts');
    await mkdir(scripts);
    await chmod(scripts, 0o755);
    await copyFile(join(SHIPPED_SCRIPTS, 'disk-cleanup.sh'), join(scripts, 'disk-cleanup.sh'));
    await chmod(join(scripts, 'disk-cleanup.sh'), 0o755);
    await writeFile(join(scripts, 'disk-cleanup.roots'), `# site roots\n\n${outside}\n`);
    const allowed = await cleanup(['--apply', '--path', join(outside, 'etc'), '--days', '7'], scripts);
    assert.equal(allowed.exitCode, 0, allowed.stderr);
    assert.equal(await exists(victim), false);
    // ...and only those: the defaults no longer apply.
    const refused = await cleanup(['--path', junk], scripts);
    assert.equal(refused.exitCode, 2);
  });

  it('a directory above the one named, swapped for a symlink after the check, does not lead any walk outside the root', async () => {
    // A user of the VM owns /tmp/evil and has `--path /tmp/evil/etc` passed (an alert's mount point, a
    // job's argument). The path is checked, then walked three times (two counts, the deletion): swapping
    // /tmp/evil for a symlink to / in between made root delete the real /etc's old files, seen in 2 of 3
    // runs racing it from another process. Here the swap is made between the check and the walks every
    // time: an `awk` first on the agent's PATH (the byte count runs it) makes it, then runs the real one.
    const evil = join(inside, 'evil');
    await mkdir(join(evil, 'etc'), { recursive: true });
    const bait = join(evil, 'etc', 'keep.conf');
    await writeFile(bait, 'bait');
    const t = new Date(Date.now() - 30 * 86_400_000);
    await utimes(bait, t, t);
    const bin = join(inside, 'bin');
    await mkdir(bin);
    await writeFile(join(bin, 'awk'), ['#!/bin/sh', `if [ ! -L '${evil}' ]; then mv '${evil}' '${evil}.moved' && ln -s '${outside}' '${evil}'; fi`, 'exec /usr/bin/awk "$@"', ''].join('\n'));
    await chmod(join(bin, 'awk'), 0o755);
    const r = await cleanup(['--apply', '--path', join(evil, 'etc'), '--days', '7'], SHIPPED_SCRIPTS, `${bin}:/usr/bin:/bin`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(await exists(join(evil, 'etc')), true, 'the swap was made: the path now leads outside the root');
    assert.equal(await exists(victim), true, 'the file outside the root was deleted through the swapped directory');
    assert.equal(await exists(join(`${evil}.moved`, 'etc', 'keep.conf')), false, 'the directory checked was cleaned');
    assert.match(r.stdout, /RESULT mode=apply days=7 files=1 /);
  });

  it('a directory swapped for a symlink after the files were listed does not lead the deletion outside the root', async () => {
    // A user of the VM owns a directory under /tmp with an old file named like the one they want gone, and
    // swaps the directory for a symlink to /etc between the listing and the deletion. With `find … -exec rm
    // -f {} +`, rm looked the listed paths up again and root deleted /etc's file through the symlink (seen
    // racing a loop against it). Here the swap is made at the worst moment every time: an `rm` first on the
    // agent's PATH makes it, then runs the real one.
    const owned = join(inside, 'a');
    await mkdir(owned);
    const bait = join(owned, 'keep.conf');
    await writeFile(bait, 'bait');
    const t = new Date(Date.now() - 30 * 86_400_000);
    await utimes(bait, t, t);
    const bin = join(inside, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'rm'),
      ['#!/bin/sh', `if [ -d '${owned}' ] && [ ! -L '${owned}' ]; then mv '${owned}' '${owned}.moved' && ln -s '${join(outside, 'etc')}' '${owned}'; fi`, 'exec /bin/rm "$@"', ''].join('\n'),
    );
    await chmod(join(bin, 'rm'), 0o755);
    const r = await cleanup(['--apply', '--path', inside, '--days', '7'], SHIPPED_SCRIPTS, `${bin}:/usr/bin:/bin`);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(await exists(victim), true, 'the file outside the root was deleted through the swapped directory');
    assert.equal(await exists(bait), false, 'the old file inside the root was cleaned');
  });
});
