// The rules and jobs the README, the runbooks and examples/ show are copied as they are. Each one that runs
// a shipped script (scripts/) must pass that script's own argument check, or the copied rule fails on
// every incident with "unknown argument" (exit 2): the disk-cleanup examples passed the host and a
// --min-free-percent the script never had. Each invocation is run here in the script's harmless mode.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { jobScriptArgs } from '../../src/domain/jobs.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SCRIPTS = path.join(ROOT, 'scripts');

/** How each shipped script is run without changing the machine: its dry-run flag, or nothing to drop. */
const HARMLESS: Record<string, (args: string[]) => string[]> = {
  'disk-cleanup.sh': (args) => args.filter((a) => a !== '--apply'),
  'check-root-password-expiry.sh': (args) => [...args, '--dry-run'],
  'restart-service.sh': (args) => ['--dry-run', ...args.filter((a) => a !== '--dry-run')],
  'health-check.sh': (args) => args,
};

interface Invocation {
  where: string;
  script: string;
  args: string[];
}

function files(dir: string, ext: RegExp): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(path.join(dir, e.name), ext) : ext.test(e.name) ? [path.join(dir, e.name)] : [],
  );
}

/** YAML documents: every examples/ file, and every ```yaml block of README.md and docs/. */
function documents(): { where: string; value: unknown }[] {
  const docs: { where: string; value: unknown }[] = [];
  for (const f of files('examples', /\.ya?ml$/)) {
    for (const d of YAML.parseAllDocuments(readFileSync(path.join(ROOT, f), 'utf8'))) docs.push({ where: f, value: d.toJS() });
  }
  for (const f of ['README.md', ...files('docs', /\.md$/)]) {
    const text = readFileSync(path.join(ROOT, f), 'utf8');
    for (const m of text.matchAll(/^```ya?ml[^\n]*\n([\s\S]*?)^```/gm)) {
      const where = `${f}:${text.slice(0, m.index).split('\n').length}`;
      for (const d of YAML.parseAllDocuments(m[1]!)) if (d.errors.length === 0) docs.push({ where, value: d.toJS() });
    }
  }
  return docs;
}

/** Script runs a document asks for: rule actions, a rule's verify check, a job. */
function invocations(where: string, doc: unknown): Invocation[] {
  if (!doc || typeof doc !== 'object') return [];
  const d = doc as Record<string, unknown>;
  const of = (x: unknown): Invocation[] => {
    const a = x as { script?: unknown; args?: unknown };
    return typeof a?.script === 'string' ? [{ where, script: a.script, args: Array.isArray(a.args) ? a.args.map(String) : [] }] : [];
  };
  return [
    ...(Array.isArray(d.actions) ? d.actions.flatMap(of) : []),
    ...of((d.verify as { check?: unknown } | undefined)?.check),
    ...(typeof d.script === 'string' && d.targets !== undefined ? of(d) : []),
  ];
}

/** Templates take a host-like value, as environment.host would give. */
const render = (arg: string) => arg.replace(/\{\{[^}]*\}\}/g, 'db-7.prod.example.com');

describe('the rules and jobs the docs and examples show pass their script\'s argument check', function () {
  const all = documents().flatMap((d) => invocations(d.where, d.value));
  const shipped = all.filter((i) => existsSync(path.join(SCRIPTS, i.script)));

  it('finds them (a reader that finds none would pass anything)', function () {
    assert.ok(shipped.length >= 8, `only ${shipped.length} runs of shipped scripts found: ${JSON.stringify(shipped)}`);
    assert.ok(shipped.some((i) => i.script === 'disk-cleanup.sh' && i.where.startsWith('examples/')));
    assert.ok(shipped.some((i) => i.script === 'disk-cleanup.sh' && i.where.startsWith('README.md')));
  });

  it('each runs past its usage check (exit 2 is a usage error in every shipped script)', function () {
    this.timeout(60_000);
    const bad: string[] = [];
    for (const i of shipped) {
      const harmless = HARMLESS[i.script];
      assert.ok(harmless, `${i.script} (${i.where}) has no harmless mode in this test: add one`);
      const args = harmless(i.args.map(render));
      const r = spawnSync('sh', [path.join(SCRIPTS, i.script), ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
      if (r.status === 2) bad.push(`${i.where}: ${i.script} ${JSON.stringify(i.args)} → exit 2: ${r.stderr.trim()}`);
    }
    assert.deepEqual(bad, []);
  });
});

// The README advises a `--` before a templated value (src/domain/script-args.ts passes what follows it as
// it is). The shipped scripts refused it as an unknown argument, so a rule that followed the advice failed
// on every incident; they take it as the end of their options, and what follows it never as an option.
describe('the shipped scripts take `--` as the end of their options', function () {
  const run = (script: string, ...args: string[]) => {
    const r = spawnSync('sh', [path.join(SCRIPTS, script), ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };

  it('restart-service.sh: the unit after `--` is the unit, and one that looks like an option is still refused', function () {
    assert.deepEqual(run('restart-service.sh', '--dry-run', '--', 'web-1'), { status: 0, out: 'RESULT unit=web-1 action=would-restart', err: '' });
    const dashed = run('restart-service.sh', '--dry-run', '--', '--now');
    assert.equal(dashed.status, 2);
    assert.equal(dashed.out, 'RESULT action=rejected reason=invalid-unit-name');
  });

  it('disk-cleanup.sh and check-root-password-expiry.sh: `--` ends the options; an option after it is an operand, refused', function () {
    this.timeout(30_000);
    const dry = run('disk-cleanup.sh', '--days', '3', '--');
    assert.equal(dry.status, 0, dry.err);
    assert.match(dry.out, /^RESULT mode=dry-run days=3 /m);
    // `--apply` after `--` is no option: nothing is deleted, the script says why.
    assert.deepEqual(run('disk-cleanup.sh', '--', '--apply'), { status: 2, out: '', err: 'unexpected operand: --apply' });
    assert.notEqual(run('check-root-password-expiry.sh', '--dry-run', '--').status, 2);
    assert.deepEqual(run('check-root-password-expiry.sh', '--dry-run', '--', '--user'), { status: 2, out: '', err: 'unexpected operand: --user' });
  });
});

// A dry-run job (`dryRun: true`) passes `--dry-run` to its script (jobScriptArgs). It was appended after the
// job's arguments, after a `--` too, where every shipped script refuses it: a dry run of each failed with a
// usage error on every target, so a job could not be tried before it was enabled.
describe("a dry-run job's arguments pass every shipped script's check and change nothing", function () {
  const run = (script: string, args: string[]) => {
    const r = spawnSync('sh', [path.join(SCRIPTS, script), ...args], { encoding: 'utf8', timeout: 20_000, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    return { status: r.status, out: r.stdout.trim(), err: r.stderr.trim() };
  };

  it('restart-service.sh, disk-cleanup.sh and check-root-password-expiry.sh, with and without `--`', function () {
    this.timeout(60_000);
    const cases: [string, string[]][] = [
      ['restart-service.sh', ['nginx']],
      ['restart-service.sh', ['--', 'nginx']],
      ['disk-cleanup.sh', ['--days', '7']],
      ['disk-cleanup.sh', ['--days', '7', '--']],
      ['check-root-password-expiry.sh', ['--days', '14']],
      ['check-root-password-expiry.sh', ['--days', '14', '--']],
    ];
    for (const [script, args] of cases) {
      const r = run(script, jobScriptArgs({ args, dryRun: true }));
      assert.notEqual(r.status, 2, `${script} ${JSON.stringify(args)}: ${r.err}`);
    }
    assert.equal(run('restart-service.sh', jobScriptArgs({ args: ['--', 'nginx'], dryRun: true })).out, 'RESULT unit=nginx action=would-restart');
  });

  it('disk-cleanup.sh: a dry-run job whose arguments say --apply deletes nothing', function () {
    this.timeout(30_000);
    const dir = mkdtempSync(path.join('/tmp', 'dry-run-job-'));
    try {
      const old = path.join(dir, 'old.log');
      writeFileSync(old, 'x');
      utimesSync(old, new Date(Date.now() - 30 * 86_400_000), new Date(Date.now() - 30 * 86_400_000));
      const r = run('disk-cleanup.sh', jobScriptArgs({ args: ['--apply', '--days', '1', '--path', dir], dryRun: true }));
      assert.equal(r.status, 0, r.err);
      assert.match(r.out, /^RESULT mode=dry-run /m);
      assert.ok(existsSync(old), 'the old file is still there');
      // Not a dry run, the same arguments delete it (the file is old enough, the path allowed).
      const applied = run('disk-cleanup.sh', jobScriptArgs({ args: ['--apply', '--days', '1', '--path', dir], dryRun: false }));
      assert.match(applied.out, /^RESULT mode=apply /m, applied.err);
      assert.ok(!existsSync(old), 'applied, it is deleted');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
