import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeExport, type ExportDocument } from '../../src/cli/gitops/export.js';
import { readManifests } from '../../src/cli/gitops/manifests.js';
import { BIN } from '../helpers/cli.js';

// The CLI runs in folders it does not own: CI runs `selfheal diff` in a pull request's checkout, an SRE
// runs `selfheal export -o selfheal/` in a cloned repository. Nothing in such a folder may run code in
// the CLI, take its writes out of the folder, or hold the runner for hours.
describe('the CLI in a checkout it does not trust', function () {
  let dir: string;
  const io = { out: () => {}, err: () => {}, env: {} };
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-checkout-'));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("a tsconfig.json in the working folder does not point the CLI's imports at the folder's code", async function () {
    this.timeout(60_000);
    const repo = path.join(dir, 'pr');
    const marker = path.join(dir, 'ran');
    await mkdir(path.join(repo, 'selfheal'), { recursive: true });
    // tsx reads the tsconfig of the folder it runs in: `paths` would resolve `commander` to this file.
    await writeFile(path.join(repo, 'tsconfig.json'), JSON.stringify({ compilerOptions: { baseUrl: '.', paths: { commander: ['./selfheal/pwn.ts'] } } }));
    await writeFile(
      path.join(repo, 'selfheal', 'pwn.ts'),
      `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(marker)}, String(process.env.SELFHEAL_TOKEN));\nexport class Command {}\nexport class CommanderError {}\nexport class Option {}\n`,
    );
    await writeFile(path.join(repo, 'selfheal', 'env.yaml'), 'kind: Environment\nname: pr-env\n');
    const run = await new Promise<{ code: number; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, '--url', 'http://127.0.0.1:9', 'diff', '-f', 'selfheal'],
        { cwd: repo, env: { ...process.env, SELFHEAL_TOKEN: 'ci-read-token-0123456789' }, timeout: 50_000 },
        (err, _stdout, stderr) => resolve({ code: err ? Number((err as { code?: unknown }).code ?? -1) : 0, stderr }),
      );
    });
    assert.equal(existsSync(marker), false, "the checkout's code ran in the CLI");
    // The CLI itself ran: it read the folder and then could not reach the (absent) API.
    assert.equal(run.code, 3, run.stderr);
    assert.match(run.stderr, /127\.0\.0\.1:9/);
  });

  const doc: ExportDocument = { kind: 'Rule', key: 'disk-cleanup', body: { name: 'disk-cleanup', services: ['PABC123'], actions: [] } };

  it('export -o does not write through a symbolic link in the folder, or into a folder that is one', async () => {
    const victim = path.join(dir, 'authorized_keys');
    await writeFile(victim, 'ssh-ed25519 AAAA original\n');
    const out = path.join(dir, 'repo', 'selfheal');
    await mkdir(out, { recursive: true });
    await symlink(victim, path.join(out, 'rule-disk-cleanup.yaml'));
    assert.throws(() => writeExport([doc], out, io), /rule-disk-cleanup\.yaml is a symbolic link; nothing was written through it/);
    assert.equal(await readFile(victim, 'utf8'), 'ssh-ed25519 AAAA original\n');

    // The folder named by -o a link itself (to a folder holding the victim's name), and a single file.
    const linkedFolder = path.join(dir, 'repo', 'linked');
    await symlink(dir, linkedFolder);
    assert.throws(() => writeExport([{ ...doc, key: 'x' }], `${linkedFolder}/`, io), /linked is a symbolic link/);
    assert.equal(existsSync(path.join(dir, 'rule-x.yaml')), false);
    const single = path.join(dir, 'repo', 'all.yaml');
    await symlink(victim, single);
    assert.throws(() => writeExport([doc], single, io), /all\.yaml is a symbolic link/);
    assert.equal(await readFile(victim, 'utf8'), 'ssh-ed25519 AAAA original\n');

    // An ordinary folder and file are written (and written again).
    const plain = path.join(dir, 'repo', 'plain');
    for (let i = 0; i < 2; i++) assert.deepEqual(writeExport([doc], plain, io), [path.join(plain, 'rule-disk-cleanup.yaml')]);
    assert.match(await readFile(path.join(plain, 'rule-disk-cleanup.yaml'), 'utf8'), /^kind: Rule\nname: disk-cleanup\n/);
  });

  it('many invalid objects are refused as too many, and a long list of problems is cut', async function () {
    this.timeout(60_000);
    const many = path.join(dir, 'many.yaml');
    await writeFile(many, '- 1\n'.repeat(5001));
    assert.throws(
      () => readManifests([many]),
      (err: Error) => /more than 5000 objects in .*many\.yaml/.test(err.message) && err.message.length < 300,
    );
    const some = path.join(dir, 'some.yaml');
    await writeFile(some, '- 1\n'.repeat(60));
    assert.throws(
      () => readManifests([some]),
      (err: Error) => err.message.split('\n').length === 52 && /object 50: must be a mapping/.test(err.message) && !/object 51:/.test(err.message) && /\.\.\. and 10 more$/.test(err.message),
    );
  });

  it('files are read up to 16 MiB together', async function () {
    this.timeout(60_000);
    const big = path.join(dir, 'big');
    await mkdir(big);
    // Five files of 3.5 MB each, each under the 4 MiB per-file bound.
    for (let i = 0; i < 5; i++) await writeFile(path.join(big, `c${i}.yaml`), `# ${'x'.repeat(3_500_000)}\nkind: Environment\nname: env-${i}\n`);
    assert.throws(() => readManifests([big]), /c4\.yaml: the files read before it and this one are more than 16 MiB together/);
    await rm(path.join(big, 'c4.yaml'));
    assert.equal(readManifests([big]).length, 4);
  });
});
