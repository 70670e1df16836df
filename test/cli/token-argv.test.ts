import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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

  /**
   * Runs the CLI (through `via`, a command that ends by running the node and arguments it is given, when
   * given; with `extraEnv`); while the server holds its request, reads its command line as `ps` does.
   */
  async function runHeld(args: string[], opts: { via?: string[]; extraEnv?: Record<string, string> } = {}): Promise<{ cmdline: string; authorization: string | undefined; code: number | null; stderr: string }> {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && k !== 'SELFHEAL_TOKEN' && k !== 'SELFHEAL_TOKEN_FILE_READABLE_OK') env[k] = v;
    env.SELFHEAL_URL = url;
    Object.assign(env, opts.extraEnv);
    const request = new Promise<void>((resolve) => (arrived = resolve));
    const argv = [process.execPath, BIN, ...args];
    const child = opts.via ? spawn(opts.via[0]!, [...opts.via.slice(1), ...argv], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] }) : spawn(argv[0]!, argv.slice(1), { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
        `warning: --token-file ${file} is open to ${who} (mode 0${mode.toString(8)}); the token is used, but keep the file to its owner: chmod 600 ${file} (or, if it is shared on purpose, set SELFHEAL_TOKEN_FILE_READABLE_OK=1)`,
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

  it('a token file its group or other users can change, or that belongs to a user neither you nor root, is used with a warning that they can put their own token in it; SELFHEAL_TOKEN_FILE_READABLE_OK=1 silences only the readable one', async () => {
    // Before, a file others could write was reported like one they could read ("open to …"), and a 0600 file
    // of another user was used without a word: its owner reads it and can swap in a token of their own.
    const changed = (f: string, who: string, mode: string) =>
      `warning: --token-file ${f} can be changed by ${who} (mode ${mode}): whoever puts a token of their own in it has your commands run as them; the token is used, but keep the file to its owner: chmod 600 ${f}`;
    const readable = (f: string, who: string, mode: string) =>
      `warning: --token-file ${f} is open to ${who} (mode ${mode}); the token is used, but keep the file to its owner: chmod 600 ${f} (or, if it is shared on purpose, set SELFHEAL_TOKEN_FILE_READABLE_OK=1)`;
    const at = (mode: number) => {
      const file = path.join(dir, `token-w-${mode.toString(8)}`);
      writeFileSync(file, `${TOKEN}\n`);
      chmodSync(file, mode);
      return file;
    };
    const cases: [number, Record<string, string>, (f: string) => string[]][] = [
      [0o620, {}, (f) => [changed(f, 'its group', '0620')]],
      [0o602, {}, (f) => [changed(f, 'other users', '0602')]],
      [0o666, {}, (f) => [changed(f, 'its group and other users', '0666'), readable(f, 'its group and other users', '0666')]],
      // Acknowledged: a readable file says nothing more, one others can change still does.
      [0o644, { SELFHEAL_TOKEN_FILE_READABLE_OK: '1' }, () => []],
      [0o666, { SELFHEAL_TOKEN_FILE_READABLE_OK: '1' }, (f) => [changed(f, 'its group and other users', '0666')]],
      // Only 1 acknowledges.
      [0o640, { SELFHEAL_TOKEN_FILE_READABLE_OK: 'yes' }, (f) => [readable(f, 'its group', '0640')]],
    ];
    for (const [mode, extraEnv, expected] of cases) {
      const file = at(mode);
      const r = await runHeld(['--token-file', file, 'rules', 'list'], { extraEnv });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.authorization, `Bearer ${TOKEN}`);
      assert.deepEqual(r.stderr.split('\n').filter((l) => l !== ''), expected(file), `${mode.toString(8)} ${JSON.stringify(extraEnv)}`);
      assert.ok(!r.stderr.includes('ARGVSECRET'), r.stderr);
      held.length = 0;
    }
    // A 0600 file of another user (uid 65534, nobody): only root can hand a file to another user, and root
    // reads it all the same. The warning is said with the variable set too.
    if (process.getuid?.() === 0) {
      const theirs = at(0o600);
      chownSync(theirs, 65534, 65534);
      for (const extraEnv of [{}, { SELFHEAL_TOKEN_FILE_READABLE_OK: '1' }] as Record<string, string>[]) {
        const r = await runHeld(['--token-file', theirs, 'rules', 'list'], { extraEnv });
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.authorization, `Bearer ${TOKEN}`);
        assert.equal(
          r.stderr.trim(),
          `warning: --token-file ${theirs} belongs to uid 65534, neither you (uid 0) nor root: that user can read it and put another token in it; the token is used, but give a file of your own`,
        );
        held.length = 0;
      }
    }
  });

  it('a Kubernetes Secret volume (0644 root-owned files behind ..data links, mounted read-only) gives no warning, to root or to a non-root pod user; the same files on a writable mount still warn, naming the file the links lead to', async () => {
    // Kubernetes writes a Secret's keys 0644 (defaultMode) into a tmpfs, each key a link through ..data/ to a
    // timestamped directory, and bind-mounts it read-only into the container: nobody there can chmod it, so
    // the warning printed on every command and people learned to ignore it. Here, the same layout in a mount
    // namespace of the CLI's own (as root: unshare -m; otherwise in a user namespace, as its root).
    const asRoot = process.getuid?.() === 0;
    const ns = mkdtempSync(path.join(tmpdir(), 'selfheal-k8s-secret-'));
    chmodSync(ns, 0o755);
    writeFileSync(path.join(ns, 'source'), `${TOKEN}\n`);
    const stamp = '..2026_12_06_23_00_00.000000001';
    // The pod: a tmpfs the kubelet writes, bound (read-only unless RW=1) at secret/, Node bound where any user reaches it.
    const script = `
set -e
mount --make-rprivate /
mkdir -p "$NS/kubelet" "$NS/secret" "$NS/node"
mount -t tmpfs -o size=1m,mode=1777 tmpfs "$NS/kubelet"
mkdir -m 755 "$NS/kubelet/${stamp}"
cp "$NS/source" "$NS/kubelet/${stamp}/token"
chmod 644 "$NS/kubelet/${stamp}/token"
ln -s "${stamp}" "$NS/kubelet/..data"
ln -s ..data/token "$NS/kubelet/token"
mount --bind "$NS/kubelet" "$NS/secret"
[ "$RW" = 1 ] || mount -o remount,ro,bind "$NS/secret"
mount --bind "$NODE_DIR" "$NS/node"
node="$NS/node/bin/node"; shift
if [ -n "$AS_UID" ]; then exec setpriv --reuid="$AS_UID" --regid="$AS_UID" --clear-groups -- "$node" "$@"; fi
exec "$node" "$@"
`;
    const given = path.join(ns, 'secret', 'token');
    const target = path.join(ns, 'secret', stamp, 'token');
    try {
      const users = asRoot ? ['', '65534'] : [''];
      for (const rw of ['', '1']) {
        for (const uid of users) {
          const r = await runHeld(['--token-file', given, 'rules', 'list'], {
            via: [...(asRoot ? ['unshare', '-m'] : ['unshare', '-rm']), 'sh', '-c', script, 'pod'],
            extraEnv: { NS: ns, RW: rw, AS_UID: uid, NODE_DIR: path.dirname(path.dirname(process.execPath)) },
          });
          const what = `${rw ? 'writable' : 'read-only'} mount, ${uid ? `uid ${uid}` : 'root'}`;
          assert.equal(r.code, 0, `${what}: ${r.stderr}`);
          assert.equal(r.authorization, `Bearer ${TOKEN}`, what);
          assert.equal(
            r.stderr.trim(),
            rw
              ? `warning: --token-file ${given} (which leads to ${target}) is open to its group and other users (mode 0644); the token is used, but keep the file to its owner: chmod 600 ${given} (or, if it is shared on purpose, set SELFHEAL_TOKEN_FILE_READABLE_OK=1)`
              : '',
            what,
          );
          held.length = 0;
        }
      }
    } finally {
      rmSync(ns, { recursive: true, force: true });
    }
  });
});
