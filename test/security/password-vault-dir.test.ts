// Review finding: the shipped check-root-password-expiry.sh took its vault command from its own directory,
// the scripts directory, so that program was itself a script whoever writes a rule or job may run, with
// arguments of their choosing: `script: store-root-password, args: [root]` with empty input replaced the
// stored root password with an empty one. Now the vault command lives in a vault directory of root's outside
// the scripts directory (/etc/selfheal/vault, or the one check-root-password-expiry.vault-dir names), and
// one left in the scripts directory is not used. The script runs here as the agent runs it (runScript), from
// a copy of the shipped file, with fake chage and chpasswd first on PATH (the agent's own environment).
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScriptNotAllowedError } from '../../src/executors/errors.js';
import { runScript } from '../../src/executors/script-runner.js';

const SHIPPED = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts', 'check-root-password-expiry.sh');
const README = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md');
const SECURITY = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'security.md');

describe('security: the password script keeps its vault command out of the scripts directory', function () {
  this.timeout(30_000);
  let root: string;
  let scripts: string;
  let vaultDir: string;
  let bin: string;
  let stored: string;
  let chpasswdLog: string;

  const exists = (path: string) => stat(path).then(() => true, () => false);
  async function writeTool(path: string, body: string, mode = 0o755): Promise<void> {
    await writeFile(path, `#!/bin/sh\n${body}\n`);
    await chmod(path, mode);
  }
  async function makeDir(path: string): Promise<void> {
    await mkdir(path);
    await chmod(path, 0o755);
  }
  const vaultBody = () => `echo "user=$1" > ${stored}; cat >> ${stored}`;
  const run = (args: string[]) =>
    runScript({ scriptsDir: scripts, script: 'check-root-password-expiry.sh', args, timeoutMs: 15_000, baseEnv: { PATH: `${bin}:/usr/bin:/bin` } });
  const reset = () => run(['--days', '14', '--vault-cmd', 'store-root-password']);

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selfheal-vault-'));
    scripts = join(root, 'scripts');
    vaultDir = join(root, 'vault');
    bin = join(root, 'bin');
    stored = join(root, 'stored');
    chpasswdLog = join(root, 'chpasswd.log');
    for (const d of [scripts, vaultDir, bin]) await makeDir(d);
    await writeFile(join(scripts, 'check-root-password-expiry.sh'), await readFile(SHIPPED));
    await chmod(join(scripts, 'check-root-password-expiry.sh'), 0o755);
    await writeFile(join(scripts, 'check-root-password-expiry.vaults'), 'store-root-password\n');
    // The operator's vault directory (the default, /etc/selfheal/vault, is not the test's to write).
    await writeFile(join(scripts, 'check-root-password-expiry.vault-dir'), `${vaultDir}\n`);
    // The password expires in 3 days.
    const when = new Date(Date.now() + 3 * 86_400_000).toLocaleDateString('en-US', { month: 'short', day: '2-digit', year: 'numeric', timeZone: 'UTC' });
    await writeTool(join(bin, 'chage'), `echo "Password expires : ${when}"`);
    await writeTool(join(bin, 'chpasswd'), `cat > ${chpasswdLog}`);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('finds its vault command in the vault directory, stores the new password there first, then sets it', async () => {
    await writeTool(join(vaultDir, 'store-root-password'), vaultBody());
    const r = await reset();
    assert.equal(r.exitCode, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /^RESULT user=root expires_in_days=3 action=reset$/m);
    const [user, password] = (await readFile(stored, 'utf8')).split('\n');
    assert.equal(user, 'user=root');
    assert.match(password ?? '', /^[0-9a-f]{48}$/);
    assert.equal((await readFile(chpasswdLog, 'utf8')).trim(), `root:${password}`);
  });

  it('the vault command is no script: a rule naming it with args [root] and no input reaches nothing', async () => {
    await writeTool(join(vaultDir, 'store-root-password'), vaultBody());
    await assert.rejects(runScript({ scriptsDir: scripts, script: 'store-root-password', args: ['root'], timeoutMs: 5000 }), ScriptNotAllowedError);
    // Linked into the scripts directory, it leads outside it: refused too (over SSH as well, test/integration/executors-ssh.test.ts).
    await symlink(join(vaultDir, 'store-root-password'), join(scripts, 'store-root-password'));
    await assert.rejects(runScript({ scriptsDir: scripts, script: 'store-root-password', args: ['root'], timeoutMs: 5000 }), /resolves outside the scripts directory/);
    assert.equal(await exists(stored), false, 'an empty root password was stored');
  });

  it('does not use a vault command left in the scripts directory (the old place): nothing stored, password untouched', async () => {
    // Only there, as the docs once said to put it.
    await writeTool(join(scripts, 'store-root-password'), vaultBody());
    const old = await reset();
    assert.equal(old.exitCode, 1, old.stdout);
    assert.match(old.stdout, /action=error reason=vault-cmd-in-scripts-dir$/m);
    assert.match(old.stderr, /store-root-password is in the scripts directory .* could run it with arguments of their choosing/);
    // Moved to the vault directory but a copy left behind: still refused, until the copy is gone.
    await writeTool(join(vaultDir, 'store-root-password'), vaultBody());
    assert.match((await reset()).stdout, /reason=vault-cmd-in-scripts-dir/);
    await rm(join(scripts, 'store-root-password'));
    // A vault directory that is the scripts directory, or a link from the vault directory into it.
    await writeFile(join(scripts, 'check-root-password-expiry.vault-dir'), `${scripts}\n`);
    await writeTool(join(scripts, 'store-root-password'), vaultBody());
    assert.match((await reset()).stdout, /reason=vault-cmd-in-scripts-dir/);
    await rm(join(vaultDir, 'store-root-password'));
    await writeFile(join(scripts, 'check-root-password-expiry.vault-dir'), `${vaultDir}\n`);
    await symlink(join(scripts, 'store-root-password'), join(vaultDir, 'store-root-password'));
    assert.match((await reset()).stdout, /reason=vault-cmd-in-scripts-dir/);
    assert.equal(await exists(stored), false, 'the vault command in the scripts directory ran');
    assert.equal(await exists(chpasswdLog), false, 'the password was changed');
  });

  it('hands no password to a vault command whose directory someone other than root could change, nor reads such a vault-dir file', async () => {
    await writeTool(join(vaultDir, 'store-root-password'), vaultBody());
    await chmod(vaultDir, 0o775);
    const grouped = await reset();
    assert.equal(grouped.exitCode, 1, grouped.stdout);
    assert.match(grouped.stdout, /reason=vault-cmd-untrusted$/m);
    await chmod(vaultDir, 0o755);
    await chmod(join(scripts, 'check-root-password-expiry.vault-dir'), 0o666);
    const file = await reset();
    assert.equal(file.exitCode, 2, file.stdout);
    assert.match(file.stderr, /check-root-password-expiry\.vault-dir could be changed by someone other than root/);
    assert.equal(await exists(stored), false, 'the vault command ran');
    await chmod(join(scripts, 'check-root-password-expiry.vault-dir'), 0o644);
    assert.equal((await reset()).exitCode, 0, 'trusted again');
  });

  it('the docs say to keep vault commands in the vault directory, never in the scripts directory, and why', async () => {
    for (const doc of [README, SECURITY]) {
      const text = (await readFile(doc, 'utf8')).replace(/\s+/g, ' ');
      assert.match(text, /\/etc\/selfheal\/vault/, doc);
      assert.match(text, /never in the scripts directory/, doc);
      assert.doesNotMatch(text, /inside the same scripts directory|name inside its own directory/, doc);
    }
  });
});
