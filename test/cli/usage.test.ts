// Usage errors and help, in process (no server): commander's errors become exit 2 with one line on
// stderr; --help is exit 0; every command group and command is reachable.
import assert from 'node:assert/strict';
import { main, type Io } from '../../src/cli/index.js';

async function run(argv: string[], env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), env: { SELFHEAL_URL: 'http://127.0.0.1:9', ...env } };
  const code = await main(argv, io);
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

describe('selfheal usage errors and help (in process)', () => {
  for (const [argv, message] of [
    [['rules', 'list', '--bogus'], /^error: unknown option '--bogus' \(see --help\)$/],
    [['rules', 'frobnicate'], /^error: unknown command 'frobnicate' \(see --help\)$/],
    [['rules', 'get'], /^error: missing required argument 'name-or-id' \(see --help\)$/],
    [['rules', 'list', 'extra'], /^error: too many arguments for 'list'/],
    [['rules', 'apply'], /^error: required option '-f, --file <file>' not specified \(see --help\)$/],
    [['apply', '-f'], /^error: option '-f, --file <path>' argument missing \(see --help\)$/],
    [['apply'], /^-f <file or folder> is required$/],
    [['diff', '-f', 'x', '--prune', 'everything'], /^--prune takes kinds separated by commas \(environment, job, rule\), not "everything"$/],
    [['rules', 'list', '--url', 'not a url'], /^--url "not a url" is not a URL$/],
    [['jobs', 'runs', 'some-job', '--limit', '0'], /^--limit must be a whole number from 1 to 200 \(got "0"\)$/],
    [['incidents', 'list', '--limit', 'lots'], /^--limit must be a whole number from 1 to 200 \(got "lots"\)$/],
    [['environments', 'add', 'e1', '--label', 'novalue'], /^--label "novalue" must be key=value$/],
    // The API refuses ssh.scriptsDir (operator configuration): the CLI says where it went instead of sending it.
    [['environments', 'add', 'e1', '--ssh-host', 'h', '--ssh-user', 'u', '--ssh-key-ref', 'env:SELFHEAL_SECRET_K', '--ssh-fingerprint', 'SHA256:x', '--ssh-scripts-dir', '/bin'], /^--ssh-scripts-dir is gone: .*SELFHEAL_SSH_SCRIPTS_DIR on the worker/],
    [['tokens', 'create', '--name', 'x', '--scope', 'root'], /^error: option '--scope <scope>' argument 'root' is invalid\. Allowed choices are read, write, admin \(see --help\)$/],
    [['tokens', 'create', '--name', 'x', '--scope', 'read', '--expires-in', '1d', '--expires-at', '2030-01-01T00:00:00Z'], /^error: option '--expires-in <duration>' cannot be used with option '--expires-at <instant>' \(see --help\)$/],
    [['tokens', 'revoke'], /^error: missing required argument 'id' \(see --help\)$/],
  ] as [string[], RegExp][]) {
    it(`selfheal ${argv.join(' ')} → exit 2, one line`, async () => {
      const r = await run(argv);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stderr.split('\n').length, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stdout, '');
    });
  }

  it('no command: the help on stderr, exit 2; --help: on stdout, exit 0, listing every group', async () => {
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage: selfheal/);
    const help = await run(['--help']);
    assert.equal(help.code, 0);
    for (const group of ['rules', 'apply', 'diff', 'export', 'incidents', 'jobs', 'environments', 'pagerduty', 'tokens']) assert.match(help.stdout, new RegExp(`^  ${group}\\b`, 'm'));
    assert.match(help.stdout, /exit codes: 0 ok, 1 negative answer/);
    const group = await run(['rules']);
    assert.equal(group.code, 2, 'a group without its command is a usage error');
    for (const cmd of ['list', 'get', 'apply', 'diff', 'export', 'test']) assert.match(group.stderr, new RegExp(`^  ${cmd}\\b`, 'm'));
  });

  it('every command takes --json and the global options (shown in its help)', async () => {
    for (const argv of [['rules', 'test'], ['apply'], ['jobs', 'trigger'], ['pagerduty', 'ping'], ['environments', 'check'], ['tokens', 'create'], ['tokens', 'list'], ['tokens', 'revoke']]) {
      const r = await run([...argv, '--help']);
      assert.equal(r.code, 0, argv.join(' '));
      assert.match(r.stdout, /--json +machine-readable output/);
      assert.match(r.stdout, /--url <url>/);
    }
  });

  it('environments add --help offers no scripts directory and says the SSH settings and agent queue need an admin token', async () => {
    const r = await run(['environments', 'add', '--help']);
    assert.equal(r.code, 0);
    assert.doesNotMatch(r.stdout, /scripts-dir/);
    // Each option with its description (wrapped lines start with spaces only).
    const options = new Map(r.stdout.split(/\n(?= {2}-)/).map((block) => [block.trim().split(/[ ,]/)[0], block.replace(/\s+/g, ' ')]));
    for (const flag of ['--ssh-host', '--ssh-user', '--ssh-key-ref', '--ssh-fingerprint', '--ssh-port', '--agent-task-queue']) {
      assert.match(options.get(flag) ?? '', /admin token\)/, `${flag} says it needs an admin token`);
    }
    assert.doesNotMatch(options.get('--label') ?? '', /admin/);
    assert.match(r.stdout, /the --ssh-\* options and --agent-task-queue need an\s+admin token/);
    assert.match(r.stdout, /SELFHEAL_SSH_SCRIPTS_DIR/);
  });
});
