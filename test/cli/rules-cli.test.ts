import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { ROOT, selfheal } from '../helpers/cli.js';

const TOKEN = 'cli-test-admin-token-0123456789abcdef';

const disk = `
name: disk-full-cleanup
services: [PA2P440]
conditions:
  all:
    - { field: incident.urgency, op: equals, value: high }
    - { field: incident.title, op: matches, value: '^Disk full', flags: i }
actions:
  - { type: script.agent, script: disk-cleanup.sh, args: ['{{ environment.host }}'], idempotent: true }
  - { type: pagerduty.note, content: 'cleaned {{ environment.host }}' }
`;
const ack = `
name: ack-everything
actions:
  - type: pagerduty.acknowledge
`;

describe('selfheal CLI (rules)', function () {
  let db: TestDatabase;
  let server: ApiServer;
  let dir: string;
  let env: Record<string, string>;
  const file = (name: string) => path.join(dir, name);

  before(async function () {
    db = await createTestDatabase();
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    server = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) });
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-cli-'));
    env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: TOKEN };
  });
  beforeEach(async () => db.truncate());
  after(async () => {
    await server?.close();
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('apply creates, a second apply changes nothing, edits update with If-Match, --prune deletes', async () => {
    await writeFile(file('rules.yaml'), `rules:\n${[disk, ack].map((r) => r.trim().replace(/^/gm, '    ').replace(/^ {4}/, '  - ')).join('\n')}\n`);
    const dry = await selfheal(['rules', 'apply', '-f', file('rules.yaml'), '--dry-run'], env);
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, /\+ would create disk-full-cleanup/);
    // Its args begin with a value: the plan says a run refuses it whenever that value starts with "-".
    assert.match(dry.stderr, /^! disk-full-cleanup: actions\.0\.args\.0: "\{\{ environment\.host \}\}" begins with a value: when it starts with "-"/m);
    assert.doesNotMatch(dry.stderr, /! ack-everything/);
    assert.equal(await db.db.selectFrom('rules').select('id').executeTakeFirst(), undefined, 'dry run changes nothing');

    const first = await selfheal(['rules', 'apply', '-f', file('rules.yaml')], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /2 to create, 0 to update, 0 to delete, 0 unchanged/);

    const second = await selfheal(['rules', 'apply', '-f', file('rules.yaml'), '--json'], env);
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(JSON.parse(second.stdout).plan.map((s: { action: string }) => s.action), ['unchanged', 'unchanged']);
    assert.doesNotMatch(second.stderr, /^! /m, 'an unchanged rule is not warned about again');
    const versions = await db.db.selectFrom('rule_versions').select('version').execute();
    assert.equal(versions.length, 2, 'the second apply wrote no version');

    assert.equal((await selfheal(['rules', 'diff', '-f', file('rules.yaml')], env)).code, 0);

    await writeFile(file('one.yaml'), disk.replace('disk-cleanup.sh', 'disk-cleanup-v2.sh'));
    const diff = await selfheal(['rules', 'diff', '-f', file('one.yaml'), '--prune'], env);
    assert.equal(diff.code, 1);
    assert.match(diff.stdout, /~ would update disk-full-cleanup/);
    assert.match(diff.stdout, /actions\.0\.script: "disk-cleanup\.sh" → "disk-cleanup-v2\.sh"/);
    assert.match(diff.stdout, /- would delete ack-everything/);

    const update = await selfheal(['rules', 'apply', '-f', file('one.yaml'), '--prune'], env);
    assert.equal(update.code, 0, update.stderr);
    assert.match(update.stdout, /0 to create, 1 to update, 1 to delete, 0 unchanged/);
    const rows = await db.db.selectFrom('rules').select(['name', 'version', 'deleted_at']).orderBy('name').execute();
    assert.deepEqual(rows.map((r) => [r.name, r.version, r.deleted_at !== null]), [
      ['ack-everything', 2, true],
      ['disk-full-cleanup', 2, false],
    ]);
  });

  it('export round-trips through apply with no change; list and get', async () => {
    await writeFile(file('rules.yaml'), `${disk}\n---\n${ack}`);
    assert.equal((await selfheal(['rules', 'apply', '-f', file('rules.yaml')], env)).code, 0);
    const exp = await selfheal(['rules', 'export', '-o', file('export.yaml')], env);
    assert.equal(exp.code, 0, exp.stderr);
    const exported = await readFile(file('export.yaml'), 'utf8');
    assert.match(exported, /^rules:/);
    const again = await selfheal(['rules', 'diff', '-f', file('export.yaml')], env);
    assert.equal(again.code, 0, again.stdout);
    assert.match(again.stdout, /0 to create, 0 to update, 0 to delete, 2 unchanged/);

    const list = await selfheal(['rules', 'list'], env);
    assert.equal(list.code, 0);
    assert.match(list.stdout, /ack-everything\t1\ttrue/);
    const get = await selfheal(['rules', 'get', 'disk-full-cleanup', '--json'], env);
    assert.equal(get.code, 0);
    const rule = JSON.parse(get.stdout);
    assert.equal(rule.name, 'disk-full-cleanup');
    assert.equal((await selfheal(['rules', 'get', rule.id], env)).code, 0);
    assert.equal((await selfheal(['rules', 'get', 'nope'], env)).code, 1);
  });

  it('exit codes: 2 for usage and invalid files, 3 for server and network errors', async () => {
    assert.equal((await selfheal(['rules', 'apply'], env)).code, 2);
    assert.equal((await selfheal(['rules', 'frobnicate'], env)).code, 2);
    assert.equal((await selfheal(['rules', 'list', '--bogus'], env)).code, 2);
    await writeFile(file('bad.yaml'), 'name: Bad Name\nactions: []\n');
    const bad = await selfheal(['rules', 'apply', '-f', file('bad.yaml')], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /rules\[0\] \(Bad Name\) name:/);
    assert.match(bad.stderr, /rules\[0\] \(Bad Name\) actions:/);
    assert.equal((await selfheal(['rules', 'list'], { ...env, SELFHEAL_TOKEN: 'wrong' })).code, 3);
    assert.equal((await selfheal(['rules', 'list', '--url', 'http://127.0.0.1:9'], env)).code, 3);
  });

  it('rules test evaluates offline against a real sample payload (0 match, 1 no match, 2 error)', async () => {
    await writeFile(file('disk.yaml'), disk);
    const match = sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: 'Disk full on db-07' } });
    await writeFile(file('match.json'), JSON.stringify(match));
    await writeFile(file('env.json'), JSON.stringify({ host: 'db-07' }));
    await writeFile(file('nomatch.json'), JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId())));
    const offline = { SELFHEAL_URL: 'http://127.0.0.1:9' };

    const yes = await selfheal(['rules', 'test', '-f', file('disk.yaml'), '--payload', file('match.json'), '--environment', file('env.json')], offline);
    assert.equal(yes.code, 0, yes.stderr);
    assert.match(yes.stdout, /MATCHES/);
    assert.match(yes.stdout, /"args":\["db-07"\]/);

    const no = await selfheal(['rules', 'test', '-f', file('disk.yaml'), '--payload', file('nomatch.json')], offline);
    assert.equal(no.code, 1);
    assert.match(no.stdout, /✗ incident\.title matches "\^Disk full" \/i: actual "Test Incident 3" → false/);

    await writeFile(file('junk.json'), '{"hello": 1}');
    assert.equal((await selfheal(['rules', 'test', '-f', file('disk.yaml'), '--payload', file('junk.json')], offline)).code, 2);
    assert.equal((await selfheal(['rules', 'test', '-f', file('disk.yaml')], offline)).code, 2);
  });

  it('the shipped examples are valid rules', async () => {
    for (const name of ['disk-full-cleanup.yaml', 'database-high-urgency.yaml', 'memory-restart-dry-run.yaml']) {
      const r = await selfheal(['rules', 'apply', '-f', path.join(ROOT, 'examples/rules', name), '--dry-run'], env);
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
    }
  });
});
