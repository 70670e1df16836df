import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SecretResolutionError } from '../../src/executors/errors.js';
import { resolveSecretRef } from '../../src/executors/secrets.js';

describe('executors/secrets', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'selfheal-secrets-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('resolves env: references, trimmed', async () => {
    assert.equal(await resolveSecretRef('env:TOKEN', { TOKEN: '  abc\n' }), 'abc');
  });

  it('resolves file: references, trimmed', async () => {
    const path = join(dir, 'token');
    await writeFile(path, 'from-file\n');
    await chmod(path, 0o600);
    assert.equal(await resolveSecretRef(`file:${path}`), 'from-file');
  });

  it('fails with the reference named and no value leaked', async () => {
    const cases: Array<[string, RegExp]> = [
      ['env:MISSING', /env:MISSING/],
      ['env:EMPTY', /env:EMPTY/],
      ['env:bad-name', /invalid/],
      [`file:${join(dir, 'nope')}`, /ENOENT/],
      ['file:relative/path', /absolute/],
      ['vault:kv/x', /scheme "vault"/],
      ['hunter2-pasted-token', /no scheme/],
    ];
    for (const [ref, pattern] of cases) {
      await assert.rejects(resolveSecretRef(ref, { EMPTY: '   ' }), (err: Error) => {
        assert.ok(err instanceof SecretResolutionError, ref);
        assert.match(err.message, pattern);
        assert.ok(!err.message.includes('hunter2'));
        return true;
      });
    }
  });
});
