import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { BIN, ROOT, selfheal } from '../helpers/cli.js';

// The command line of a running process is readable by every user of the machine: `ps -ef`, or
// /proc/<pid>/cmdline, which Linux leaves world-readable. `--token` was the only way to give the CLI its token
// other than SELFHEAL_TOKEN, and nothing said what it exposes: on a shared CI runner or a bastion, any
// other account read the admin token of a `selfheal apply --token …` while it ran (this test reads it the
// same way). `--token-file <path>` now reads it from a file, keeping it off the command line, and
// `--token` (and `--pagerduty-token`) warn on stderr when used. Found in review.
const TOKEN = 'sht_live_ARGVSECRET0123456789abcdef';

describe('selfheal CLI: the token and the command line', function () {
  this.timeout(60_000);
  let server: Server;
  let url: string;
  let dir: string;
  /** The request being held, with what `ps` shows of the CLI while it waits. */
  const held: { authorization: string | undefined; res: ServerResponse }[] = [];
  let arrived: (() => void) | undefined;

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'selfheal-token-file-'));
    server = createServer((req: IncomingMessage, res) => {
      req.resume();
      held.push({ authorization: req.headers.authorization, res });
      arrived?.();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    held.length = 0;
  });

  /** Runs the CLI; while the server holds its request, reads its command line as `ps` does. */
  async function runHeld(args: string[]): Promise<{ cmdline: string; authorization: string | undefined; code: number | null; stderr: string }> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'SELFHEAL_TOKEN') env[k] = v;
    env.SELFHEAL_URL = url;
    const request = new Promise<void>((resolve) => (arrived = resolve));
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    // A CLI that ends before asking (an option it does not know) has nothing to read.
    const ended = await Promise.race([request.then(() => false), exited.then(() => true)]);
    assert.ok(!ended, `the CLI ended before asking the server: ${stderr}`);
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    for (const h of held) h.res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ items: [], nextCursor: null }));
    const code = await exited;
    return { cmdline, authorization: held[0]?.authorization, code, stderr };
  }

  it('--token-file sends the token from the file and keeps it off the command line that every user can read', async () => {
    const file = path.join(dir, 'token');
    writeFileSync(file, `${TOKEN}\n`);
    chmodSync(file, 0o600);
    const r = await runHeld(['--token-file', file, 'rules', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.authorization, `Bearer ${TOKEN}`);
    assert.ok(!r.cmdline.includes('ARGVSECRET'), `the token in the command line: ${r.cmdline}`);
    assert.ok(!r.stderr.includes('warning'), r.stderr);
  });

  it('--token still works, but says on stderr that every user of the machine can read it and what to use instead', async () => {
    const r = await runHeld(['--token', TOKEN, 'rules', 'list']);
    assert.equal(r.code, 0, r.stderr);
    // What the warning is about: the token is there for anyone who looks.
    assert.ok(r.cmdline.includes(TOKEN));
    assert.match(r.stderr, /^warning: --token puts the token on the command line, where every user of this machine can read it \(ps, \/proc\/<pid>\/cmdline\)/);
    assert.match(r.stderr, /set SELFHEAL_TOKEN or use --token-file <path> instead/);
    assert.ok(!r.stderr.includes('ARGVSECRET'), r.stderr);
  });

  it('a token file that is missing, too long or holds two lines is refused (exit 2) without its text, and nothing is sent', async () => {
    const missing = await selfheal(['--token-file', path.join(dir, 'nope'), 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /--token-file .*nope: cannot read it \(ENOENT\)/);
    const long = path.join(dir, 'long');
    writeFileSync(long, `ARGVSECRET${'x'.repeat(5000)}`);
    const tooLong = await selfheal(['--token-file', long, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(tooLong.code, 2, tooLong.stderr);
    assert.match(tooLong.stderr, /holds 5010 bytes; a token file holds the token alone/);
    const two = path.join(dir, 'two');
    writeFileSync(two, `${TOKEN}\nARGVSECRET-second\n`);
    chmodSync(two, 0o600);
    const twoLines = await selfheal(['--token-file', two, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(twoLines.code, 2, twoLines.stderr);
    assert.match(twoLines.stderr, /^the token given by --token-file holds a line break/);
    const both = await selfheal(['--token-file', two, '--token', TOKEN, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(both.code, 2, both.stderr);
    assert.match(both.stderr, /give --token or --token-file, not both/);
    for (const r of [missing, tooLong, twoLines, both]) assert.ok(!`${r.stdout}${r.stderr}`.includes('ARGVSECRET'), r.stderr);
    assert.deepEqual(held, []);
  });
  it('a FIFO with no writer given as --token-file is refused at once (exit 2), naming the file, and nothing is sent', async () => {
    // Before, the CLI opened the pipe first and checked it after: with no writer, open() waited for ever.
    const fifo = path.join(dir, 'token.fifo');
    execFileSync('mkfifo', [fifo]);
    const link = path.join(dir, 'fifo-link');
    symlinkSync(fifo, link);
    for (const given of [fifo, link]) {
      const started = Date.now();
      const r = await selfheal(['--token-file', given, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 15_000);
      assert.notEqual(r.code, -1, `the CLI still waited on the FIFO after 15 s: ${r.stderr}`);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.trim(), `--token-file ${given} is not a regular file (a named pipe); give a file that holds the token`);
      assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`);
    }
    const sub = path.join(dir, 'a-directory');
    mkdirSync(sub);
    const r = await selfheal(['--token-file', sub, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 15_000);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /is not a regular file \(a directory\)/);
    assert.deepEqual(held, []);
  });

  it('an empty token file (nothing, a line end, only white space) is refused (exit 2) as empty, and nothing is sent', async () => {
    // Before, it was read as an empty token and the request went out with no credentials worth the name.
    for (const [name, text] of [['empty', ''], ['newline', '\n'], ['crlf', '\r\n'], ['blank', ' \t \n\n']] as const) {
      const file = path.join(dir, `empty-${name}`);
      writeFileSync(file, text);
      chmodSync(file, 0o600);
      const r = await selfheal(['--token-file', file, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
      assert.equal(r.code, 2, `${name}: ${r.stderr}`);
      assert.equal(r.stderr.trim(), `--token-file ${file} is empty; it must hold the token`, name);
    }
    // A space or control character inside the token is refused too, naming where it came from, not the token.
    const tab = path.join(dir, 'inner-tab');
    writeFileSync(tab, 'ARGVSECRET\tpart2\n');
    chmodSync(tab, 0o600);
    const inner = await selfheal(['--token-file', tab, 'rules', 'list'], { SELFHEAL_URL: url, SELFHEAL_TOKEN: undefined }, 30_000);
    assert.equal(inner.code, 2, inner.stderr);
    assert.match(inner.stderr, /^the token given by --token-file holds a space or tab/);
    assert.ok(!`${inner.stdout}${inner.stderr}`.includes('ARGVSECRET'), inner.stderr);
    assert.deepEqual(held, []);
  });

  it('a token file its group or other users can read is used, with a warning naming the file, its mode and chmod 600, never the token', async () => {
    for (const [mode, who] of [
      [0o644, 'its group and other users'],
      [0o640, 'its group'],
      [0o604, 'other users'],
    ] as const) {
      const file = path.join(dir, `token-${mode.toString(8)}`);
      writeFileSync(file, `${TOKEN}\n`);
      chmodSync(file, mode);
      const r = await runHeld(['--token-file', file, 'rules', 'list']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.authorization, `Bearer ${TOKEN}`);
      assert.equal(
        r.stderr.trim(),
        `warning: --token-file ${file} is open to ${who} (mode 0${mode.toString(8)}); the token is used, but keep the file to its owner: chmod 600 ${file}`,
      );
      assert.ok(!r.stderr.includes('ARGVSECRET'), r.stderr);
      held.length = 0;
    }
    // A link to a 0600 file (a Kubernetes secret volume links each key) is followed: the target's mode counts.
    const target = path.join(dir, 'token-private');
    writeFileSync(target, `${TOKEN}\n`);
    chmodSync(target, 0o600);
    const link = path.join(dir, 'token-link');
    symlinkSync(target, link);
    const r = await runHeld(['--token-file', link, 'rules', 'list']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.authorization, `Bearer ${TOKEN}`);
    assert.equal(r.stderr, '');
  });
});
