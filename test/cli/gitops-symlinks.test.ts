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
});
