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
    for (const group of ['rules', 'apply', 'diff', 'export', 'incidents', 'jobs', 'environments', 'pagerduty']) assert.match(help.stdout, new RegExp(`^  ${group}\\b`, 'm'));
    assert.match(help.stdout, /exit codes: 0 ok, 1 negative answer/);
    const group = await run(['rules']);
    assert.equal(group.code, 2, 'a group without its command is a usage error');
    for (const cmd of ['list', 'get', 'apply', 'diff', 'export', 'test']) assert.match(group.stderr, new RegExp(`^  ${cmd}\\b`, 'm'));
  });

  it('every command takes --json and the global options (shown in its help)', async () => {
    for (const argv of [['rules', 'test'], ['apply'], ['jobs', 'trigger'], ['pagerduty', 'ping'], ['environments', 'check']]) {
      const r = await run([...argv, '--help']);
      assert.equal(r.code, 0, argv.join(' '));
      assert.match(r.stdout, /--json +machine-readable output/);
      assert.match(r.stdout, /--url <url>/);
    }
  });
});
