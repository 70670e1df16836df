// The CLI is a client: running it must not load the server (routes, Kysely, pg, Hono, the Temporal SDK).
// Each command runs in a child process with a module hook that records every module it loads.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const HOOK = path.join(ROOT, 'test/cli/record-modules.mjs');

/** Server code and server libraries, as module URLs. */
const FORBIDDEN = [
  /\/node_modules\/(kysely|pg|pg-[a-z-]+|hono|@hono|@temporalio|pino|ssh2|nodemailer|prom-client|@electric-sql)\//,
  /\/src\/(api|db|executors|temporal)\//,
  /\/(activities|workflows)\//,
  /\/src\/(config|logger|metrics|server|worker|agent|dev)\.ts$/,
];

let dir: string;

async function loadedBy(args: string[], env: Record<string, string> = {}): Promise<{ code: number; modules: string[]; stderr: string }> {
  const out = path.join(dir, `modules-${Math.random().toString(36).slice(2)}.txt`);
  const code = await new Promise<{ code: number; stderr: string }>((resolve) => {
    execFile(process.execPath, ['--import', HOOK, ...args], { cwd: ROOT, env: { ...process.env, SELFHEAL_URL: 'http://127.0.0.1:9', ...env, SELFHEAL_LOADED_MODULES: out }, timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0, stderr });
    });
  });
  return { ...code, modules: (await readFile(out, 'utf8')).split('\n').filter(Boolean) };
}

const forbiddenIn = (modules: string[]) => modules.filter((m) => FORBIDDEN.some((re) => re.test(m)));

describe('selfheal loads no server code', function () {
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-modules-'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('the recorder sees server code when it is loaded (the check can fail)', async () => {
    const { modules } = await loadedBy(['--import', 'tsx', '-e', "await import('./src/api/routes/rules.ts')"]);
    const bad = forbiddenIn(modules);
    assert.ok(bad.some((m) => m.includes('/node_modules/kysely/')), 'kysely is seen');
    assert.ok(bad.some((m) => m.includes('/node_modules/hono/')), 'hono is seen');
    assert.ok(bad.some((m) => m.endsWith('/src/api/routes/rules.ts')), 'the route module is seen');
  });

  for (const args of [
    ['rules', 'list'],
    ['rules', 'apply', '-f', 'examples/rules/disk-full-cleanup.yaml'],
    ['apply', '-f', 'examples/gitops/selfheal', '--prune', 'rule'],
    ['export'],
    ['jobs', 'list', '--json'],
    ['tokens', 'list'],
    ['--help'],
  ]) {
    it(`selfheal ${args.join(' ')}`, async () => {
      const run = await loadedBy([path.join(ROOT, 'bin/selfheal.js'), ...args]);
      assert.ok(run.code === 0 || run.code === 3, `exit ${run.code}: ${run.stderr}`);
      assert.ok(run.modules.some((m) => m.endsWith('/src/cli/index.ts')), 'the CLI itself is recorded');
      assert.ok(run.modules.some((m) => m.includes('/node_modules/commander/')), 'commander is recorded');
      assert.deepEqual(forbiddenIn(run.modules), []);
    });
  }

  it('selfheal rules test works offline and loads the rule engine, not the server', async () => {
    await writeFile(path.join(dir, 'env.json'), '{"host":"db-07"}');
    const run = await loadedBy([path.join(ROOT, 'bin/selfheal.js'), 'rules', 'test', '-f', 'examples/rules/disk-full-cleanup.yaml', '--payload', 'examples/pagerduty/incident.triggered.json', '--environment', path.join(dir, 'env.json')]);
    assert.ok(run.code === 0 || run.code === 1, `exit ${run.code}: ${run.stderr}`);
    assert.ok(run.modules.some((m) => m.endsWith('/src/domain/rules/test-rule.ts')));
    assert.deepEqual(forbiddenIn(run.modules), []);
  });
});
