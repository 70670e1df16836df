import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findTemporalCli, TemporalCliMissingError } from '../../src/temporal/dev-server.js';

describe('finding the Temporal CLI', function () {
  let dir: string;
  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-cli-'));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  async function fakeBinary(at: string): Promise<string> {
    await mkdir(path.dirname(at), { recursive: true });
    await writeFile(at, '#!/bin/sh\necho temporal\n');
    await chmod(at, 0o755);
    return at;
  }

  it('uses TEMPORAL_CLI_PATH first, and names it when it is not executable', async function () {
    const bin = await fakeBinary(path.join(dir, 'explicit', 'temporal'));
    assert.equal(await findTemporalCli({ cliPath: bin, env: { PATH: '' } }), bin);
    await assert.rejects(findTemporalCli({ cliPath: path.join(dir, 'nope'), env: { PATH: '' } }), (err: Error) => {
      assert.ok(err instanceof TemporalCliMissingError);
      assert.match(err.message, /TEMPORAL_CLI_PATH=.*nope is not an executable file/);
      assert.match(err.message, /go install github\.com\/temporalio\/cli\/cmd\/temporal@v1\.5\.1/);
      return true;
    });
  });

  it('then PATH, then the tool cache', async function () {
    const onPath = await fakeBinary(path.join(dir, 'path-dir', 'temporal'));
    const cached = await fakeBinary(path.join(dir, 'tools', 'bin', 'temporal'));
    assert.equal(await findTemporalCli({ env: { PATH: path.dirname(onPath), SELFHEAL_TOOLS_DIR: path.join(dir, 'tools') } }), onPath);
    assert.equal(await findTemporalCli({ env: { PATH: path.join(dir, 'empty'), SELFHEAL_TOOLS_DIR: path.join(dir, 'tools') } }), cached);
  });

  it('finds nothing (without provisioning) when it is nowhere', async function () {
    assert.equal(await findTemporalCli({ env: { PATH: path.join(dir, 'empty'), SELFHEAL_TOOLS_DIR: path.join(dir, 'no-tools') }, provision: false }), undefined);
    // With provisioning but no Go on PATH, it still answers undefined (the caller then tries the SDK download).
    assert.equal(await findTemporalCli({ env: { PATH: path.join(dir, 'empty'), SELFHEAL_TOOLS_DIR: path.join(dir, 'no-tools') }, provision: true }), undefined);
  });
});
