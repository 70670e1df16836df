import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeOwnFile } from '../../src/cli/files.js';
import { writeExport, type ExportDocument } from '../../src/cli/gitops/export.js';

// `selfheal export -o` refuses a symbolic link as the target itself and as the file written (O_NOFOLLOW),
// and, for a target named inside the working folder, a linked folder on the way that leads out of it: in a
// checkout whose committed `selfheal` is a link to a folder outside it, `export -o selfheal/prod` (or
// `-o selfheal/all.yaml`, or `rules export -o selfheal/rules.yaml`) wrote there, where the reader
// (readManifests) refuses the same path for -f. Found in review, with nothing refused before.
describe('selfheal export -o: a linked folder on the way to the target', () => {
  let dir: string;
  let cwd: string;
  const io = { out: () => {}, err: () => {}, env: {} };
  const doc: ExportDocument = { kind: 'Rule', key: 'disk-cleanup', body: { name: 'disk-cleanup', services: ['PABC123'], actions: [] } };

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-review-export-'));
    cwd = process.cwd();
    await mkdir(path.join(dir, 'home'), { recursive: true });
    await writeFile(path.join(dir, 'home', 'all.yaml'), 'precious: true\n');
    await mkdir(path.join(dir, 'checkout'), { recursive: true });
    // The checkout's `selfheal` is a committed link to a folder outside it.
    await symlink(path.join(dir, 'home'), path.join(dir, 'checkout', 'selfheal'));
    process.chdir(path.join(dir, 'checkout'));
  });
  after(async () => {
    process.chdir(cwd);
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses a folder target whose parent is a link leading outside the working folder, writing nothing there', () => {
    assert.throws(() => writeExport([doc], path.join('selfheal', 'prod'), io), /symbolic link/);
    assert.equal(existsSync(path.join(dir, 'home', 'prod')), false, 'export created home/prod/rule-disk-cleanup.yaml outside the checkout');
  });

  it('refuses a file target whose parent is such a link, leaving the file outside as it was', async () => {
    assert.throws(() => writeExport([doc], path.join('selfheal', 'all.yaml'), io), /symbolic link/);
    assert.equal(await readFile(path.join(dir, 'home', 'all.yaml'), 'utf8'), 'precious: true\n', 'export overwrote a file outside the checkout');
  });

  it('rules export -o refuses a file whose folder is such a link, and a `..` after the link is taken from where it leads', async () => {
    assert.throws(() => writeOwnFile(path.join('selfheal', 'all.yaml'), 'rules: []\n'), /selfheal: leads outside the working folder .* through a symbolic link; nothing was written/);
    assert.equal(await readFile(path.join(dir, 'home', 'all.yaml'), 'utf8'), 'precious: true\n', 'rules export overwrote a file outside the checkout');
    // Named, `selfheal/../x` is inside the checkout; the system follows the link first and lands next to home/.
    assert.throws(() => writeExport([doc], `selfheal${path.sep}..${path.sep}x`, io), /leads outside the working folder/);
    assert.equal(existsSync(path.join(dir, 'x')), false, 'export created x/ next to home/, outside the checkout');
  });
});
