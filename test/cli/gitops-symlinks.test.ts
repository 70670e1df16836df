import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { readManifests } from '../../src/cli/gitops/manifests.js';

// A GitOps folder is read in CI from a change anyone may propose. A symbolic link in it that leads out of
// the folder (to the runner's SSH key, /proc/self/environ, a credentials file) is refused, so its target
// is never read, printed in a parse error, or sent to the API.
describe('gitops manifests: symbolic links', () => {
  let dir: string;
  const SECRET = 'AKIAEXAMPLESECRET1234';
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-gitops-links-'));
    // Not YAML: before, the parse error quoted the line holding the secret.
    await writeFile(path.join(dir, 'credentials'), `[default]\naws_secret_access_key: ${SECRET}: {\n`);
    await mkdir(path.join(dir, 'repo', 'gitops'), { recursive: true });
    await writeFile(path.join(dir, 'repo', 'gitops', 'env.yaml'), 'kind: Environment\nname: linked-env\n');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('refuses a link that leads outside the folder, naming it, without reading its target', async () => {
    const link = path.join(dir, 'repo', 'gitops', 'zz-evil.yaml');
    await symlink(path.join(dir, 'credentials'), link);
    try {
      assert.throws(
        () => readManifests([path.join(dir, 'repo', 'gitops')]),
        (err: Error) => err.message.includes('zz-evil.yaml: a symbolic link that leads outside') && !err.message.includes(SECRET),
      );
    } finally {
      await rm(link);
    }
  });

  it('refuses a dangling link too, and follows a link that stays inside the folder', async () => {
    const dangling = path.join(dir, 'repo', 'gitops', 'gone.yaml');
    await symlink(path.join(dir, 'nowhere.yaml'), dangling);
    assert.throws(() => readManifests([path.join(dir, 'repo', 'gitops')]), /gone\.yaml: a symbolic link that leads outside .* \(or nowhere\)/);
    await rm(dangling);
    await symlink('env.yaml', path.join(dir, 'repo', 'gitops', 'alias.yaml'));
    const manifests = readManifests([path.join(dir, 'repo', 'gitops')]);
    assert.deepEqual(
      manifests.map((m) => [path.basename(m.file), m.raw.name]),
      [
        ['alias.yaml', 'linked-env'],
        ['env.yaml', 'linked-env'],
      ],
    );
  });
  it('refuses a target given with -f that is itself a link (a file, or the folder: `selfheal/ -> /`), without reading it', async () => {
    await mkdir(path.join(dir, 'outside'), { recursive: true });
    await writeFile(path.join(dir, 'outside', 'creds.yaml'), `kind: Environment\nname: ${SECRET.toLowerCase()}\n`);
    const folderLink = path.join(dir, 'repo', 'selfheal');
    const fileLink = path.join(dir, 'repo', 'gitops', 'linked-file.yaml');
    await symlink(path.join(dir, 'outside'), folderLink);
    await symlink(path.join(dir, 'outside', 'creds.yaml'), fileLink);
    try {
      for (const target of [folderLink, fileLink]) {
        assert.throws(
          () => readManifests([target]),
          (err: Error) => err.message.startsWith(`${target}: a symbolic link; not followed`) && !err.message.toLowerCase().includes(SECRET.toLowerCase()),
          target,
        );
      }
    } finally {
      await rm(folderLink);
      await rm(fileLink);
    }
  });

  it('refuses a target named inside the working folder whose path leads out of it through a linked folder', async () => {
    await mkdir(path.join(dir, 'outside2'), { recursive: true });
    await writeFile(path.join(dir, 'outside2', 'rules.yaml'), 'kind: Environment\nname: leaked\n');
    await mkdir(path.join(dir, 'checkout'), { recursive: true });
    await symlink(path.join(dir, 'outside2'), path.join(dir, 'checkout', 'selfheal'));
    await mkdir(path.join(dir, 'checkout', 'real'), { recursive: true });
    await writeFile(path.join(dir, 'checkout', 'real', 'env.yaml'), 'kind: Environment\nname: in-checkout\n');
    const cwd = process.cwd();
    process.chdir(path.join(dir, 'checkout'));
    try {
      assert.throws(() => readManifests([path.join('selfheal', 'rules.yaml')]), /selfheal\/rules\.yaml: leads outside the working folder .* through a symbolic link; not read/);
      assert.deepEqual(readManifests([path.join('real', 'env.yaml')]).map((m) => m.raw.name), ['in-checkout'], 'a plain path inside is read');
    } finally {
      process.chdir(cwd);
    }
  });

  it('a YAML syntax error names the line and column, never the source line (which could hold a secret)', async () => {
    const file = path.join(dir, 'broken.yaml');
    for (const text of [`[default]\naws_secret_access_key: ${SECRET}: {\n`, `a: !${SECRET} x\nb: [\n`, `key: "bad \\q ${SECRET}"\n`, `a: |${SECRET}\n  y\n`, `a: *${SECRET}\n`]) {
      await writeFile(file, text);
      assert.throws(
        () => readManifests([file]),
        (err: Error) => {
          assert.ok(err.message.startsWith(`${file}: `), err.message);
          assert.ok(!err.message.includes(SECRET), `no source text: ${err.message}`);
          assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
          return true;
        },
        text,
      );
    }
    await writeFile(file, `[default]\naws_secret_access_key: ${SECRET}: {\n`);
    assert.throws(() => readManifests([file]), /broken\.yaml: Unexpected scalar at node end at line 2, column 1$/);
  });
});
