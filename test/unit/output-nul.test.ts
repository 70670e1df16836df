import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { excerpt } from '../../activities/action-runs.js';
import { CappedBuffer } from '../../src/executors/output-buffer.js';
import { runScript } from '../../src/executors/script-runner.js';

// Postgres text and jsonb cannot hold U+0000: a script that prints one (a binary dump, `find -print0`)
// used to make its action run unrecordable, retried for ever.
describe('script output with NUL bytes is storable', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-nul-'));
    await chmod(dir, 0o755);
    await writeFile(path.join(dir, 'nul.sh'), "#!/bin/sh\nprintf 'one\\000two'\nprintf 'err\\000or' >&2\n", { mode: 0o755 });
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('a real script printing NUL: stdout and stderr carry U+FFFD instead', async () => {
    const r = await runScript({ scriptsDir: dir, script: 'nul.sh', timeoutMs: 10_000 });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout, 'one\uFFFDtwo');
    assert.equal(r.stderr, 'err\uFFFDor');
  });

  it('CappedBuffer and the recorded excerpt replace NUL', () => {
    const b = new CappedBuffer(100);
    b.push(Buffer.from([0x61, 0x00, 0x62]));
    assert.equal(b.text(), 'a\uFFFDb');
    assert.equal(excerpt('x\u0000y'), 'x\uFFFDy');
  });
});
