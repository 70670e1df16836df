import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { findTemporalCli, freePort, startDevServer, TemporalCliMissingError, worthRetrying, type DevServer } from '../../src/temporal/dev-server.js';

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

// A stand-in for `temporal server start-dev` (a Node script): it logs each start's --http-port, then either
// fails the way the real server does when a port is taken, or listens on --port like a healthy server.
describe('starting the dev server when a port is taken in between', function () {
  this.timeout(30_000);
  let dir: string;
  const started: DevServer[] = [];
  before(async function () {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-devserver-'));
  });
  after(async function () {
    await Promise.all(started.map((s) => s.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  /** `taken`: which port the first start finds taken ('http', one we picked; 'frontend', the pinned one). */
  async function fakeServer(name: string, taken: 'http' | 'frontend'): Promise<{ exe: string; starts: () => Promise<string[]> }> {
    const exe = path.join(dir, name);
    const log = `${exe}.log`;
    await writeFile(
      exe,
      `#!/usr/bin/env node
const fs = require('node:fs');
const net = require('node:net');
const args = process.argv.slice(2);
const arg = (flag) => args[args.indexOf(flag) + 1];
fs.appendFileSync(${JSON.stringify(log)}, arg('--http-port') + '\\n');
const first = fs.readFileSync(${JSON.stringify(log)}, 'utf8').trim().split('\\n').length === 1;
const port = ${JSON.stringify(taken)} === 'http' ? arg('--http-port') : arg('--port');
if (first) {
  process.stderr.write('failed listening for HTTP API on 127.0.0.1:' + port + ': listen tcp 127.0.0.1:' + port + ': bind: address already in use\\n');
  process.exit(1);
}
net.createServer((s) => s.destroy()).listen(Number(arg('--port')), '127.0.0.1');
`,
    );
    await chmod(exe, 0o755);
    return { exe, starts: async () => (await readFile(log, 'utf8')).trim().split('\n') };
  }

  it('with the frontend port pinned (npm start), tries again on fresh ports when a port it picked was taken', async function () {
    const fake = await fakeServer('picked-taken', 'http');
    const port = await freePort();
    const server = await startDevServer({ executable: fake.exe, port });
    started.push(server);
    assert.equal(server.address, `127.0.0.1:${port}`, 'the pinned port is kept');
    const starts = await fake.starts();
    assert.equal(starts.length, 2, 'started twice');
    assert.notEqual(starts[0], starts[1], 'the second start got a fresh HTTP port');
  });

  it('does not try again when the pinned port itself is taken: the error says so at once', async function () {
    const fake = await fakeServer('pinned-taken', 'frontend');
    const port = await freePort();
    await assert.rejects(startDevServer({ executable: fake.exe, port }), new RegExp(`127\\.0\\.0\\.1:${port}: bind: address already in use`));
    assert.equal((await fake.starts()).length, 1, 'started once');
  });

  it('classifies a failure by the port named in it', function () {
    const taken = (port: number) => new Error(`Temporal dev server did not start: … listen tcp 127.0.0.1:${port}: bind: address already in use`);
    assert.equal(worthRetrying(taken(38855), 7233), true);
    assert.equal(worthRetrying(taken(7233), 7233), false);
    assert.equal(worthRetrying(new Error('Temporal dev server did not start: timed out'), 7233), false, 'a pinned start that failed otherwise');
    assert.equal(worthRetrying(new Error('timed out'), undefined), true, 'nothing pinned: any failure is tried again');
  });
});
