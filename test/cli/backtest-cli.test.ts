import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { buildHistory, eventsOf, storeHistory, TITLE_EXTRACTORS, type SeededIncident } from '../helpers/history.js';
import { selfheal } from '../helpers/cli.js';

// `selfheal rules backtest` and the backtest plan of `selfheal rules apply`, run as an SRE would (the real
// launcher in a child process) against the real API over a seeded history with an alert storm.

const TOKEN = 'cli-backtest-admin-token-0123456789';
const HOUR = 3_600_000;

const ruleYaml = (extra = '') => `
name: disk-full
services: [PSTORAGE1]
conditions: { field: incident.title, op: contains, value: 'Disk full' }
actions:
  - { id: clean, type: pagerduty.note, content: 'cleaning {{ environment.host }}' }
${extra}`;

describe('selfheal rules backtest / rules apply with backtests', function () {
  let db: TestDatabase;
  let server: ApiServer;
  let capped: ApiServer;
  let dir: string;
  let env: Record<string, string>;
  let history: SeededIncident[];
  let stormHour: string;
  const file = (name: string) => path.join(dir, name);

  before(async function () {
    db = await createTestDatabase();
    // Aligned to the hour, so the seeded history sits the same way around the storm's hour whatever minute the
    // suite runs at (unaligned, a background "Disk full" fell inside the rate limit's window some minutes of
    // the hour and the limited peak came out 4).
    const storm = new Date(Math.floor((Date.now() - 2 * 24 * HOUR) / HOUR) * HOUR);
    const base = new Date(storm.getTime() - 18 * 24 * HOUR);
    stormHour = storm.toISOString();
    history = buildHistory({ incidents: 200, from: base, hours: 18 * 24, storm: { at: storm, incidents: 40 }, prefix: 'C' });
    await storeHistory(db.db, history);
    const logger = createLogger({ level: 'silent' });
    const config = (extra: Record<string, string> = {}) =>
      loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', ...extra });
    server = await startApiServer({ config: config(), db: db.db, temporal: {} as Client, logger, extractors: TITLE_EXTRACTORS });
    capped = await startApiServer({ config: config({ SELFHEAL_BACKTEST_MAX_EVENTS: '50' }), db: db.db, temporal: {} as Client, logger, extractors: TITLE_EXTRACTORS });
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-cli-backtest-'));
    env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: TOKEN };
  });
  beforeEach(async () => {
    await db.db.deleteFrom('rule_backtests').execute();
    await db.db.deleteFrom('rule_versions').execute();
    await db.db.deleteFrom('rules').execute();
  });
  after(async () => {
    await server?.close();
    await capped?.close();
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const diskFullTriggers = () => eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && String(e.body.event.data.title).includes('Disk full') && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1');

  it('backtests a new rule: matches, decisions and the peak hour for people, everything with --json', async function () {
    await writeFile(file('disk.yaml'), ruleYaml());
    const run = await selfheal(['rules', 'backtest', '-f', file('disk.yaml'), '--since', '30d'], env);
    assert.equal(run.code, 0, run.stderr);
    const expected = diskFullTriggers().length;
    assert.match(run.stdout, /^backtest of disk-full \(new\): .+ → .+ \(\d+ event\(s\) read\)$/m);
    const storageTriggers = eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1').length;
    assert.match(run.stdout, new RegExp(`^  matched ${expected} of ${storageTriggers} events evaluated: run ${expected}, dry-run 0, notifications only 0, skipped 0$`, 'm'));
    assert.match(run.stdout, new RegExp(`peak (\\d+)/h at ${stormHour.slice(0, 13).replace('T', ' ')}:00Z`));
    assert.match(run.stdout, /^matched events \(20 of \d+\):$/m);

    const json = await selfheal(['rules', 'backtest', '-f', file('disk.yaml'), '--since', '30d', '--service', 'PSTORAGE1', '--environment', 'prod-eu', '--json', '--limit', '3'], env);
    assert.equal(json.code, 0, json.stderr);
    const answer = JSON.parse(json.stdout) as { summary: { candidate: { matched: number } }; items: { environment: { environment: string } }[]; totalItems: number };
    const prodEu = diskFullTriggers().filter((e) => String(e.body.event.data.title).includes(' prod-eu:')).length;
    assert.equal(answer.summary.candidate.matched, prodEu);
    assert.equal(answer.totalItems, prodEu);
    assert.equal(answer.items.length, 3);
    assert.ok(answer.items.every((i) => i.environment.environment === 'prod-eu'));
  });

  it('rules apply backtests each changed rule first, shows the diff with the stored version, and attaches the backtest to the new version', async function () {
    await writeFile(file('v1.yaml'), ruleYaml());
    const first = await selfheal(['rules', 'apply', '-f', file('v1.yaml')], env);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /^backtest of disk-full: /m);
    assert.match(first.stdout, /1 to create, 0 to update/);
    assert.match(first.stdout, /^backtest attached to disk-full v1$/m);

    // Edited: every disk problem, at most once per host per day.
    await writeFile(file('v2.yaml'), ruleYaml().replace("value: 'Disk full'", "value: 'Disk'") + `policies: { cooldownSeconds: 86400 }\n`);
    const show = await selfheal(['rules', 'backtest', '-f', file('v2.yaml'), '--since', '30d'], env);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^backtest of disk-full \(stored as v1\)/m);
    const m = /^ {2}vs current version: (\d+) newly matched, 0 no longer matched, (\d+) newly suppressed, 0 no longer suppressed$/m.exec(show.stdout);
    assert.ok(m, show.stdout);
    const usage = eventsOf(history).filter((e) => e.eventType === 'incident.triggered' && String(e.body.event.data.title).includes('Disk usage') && history.find((i) => i.id === e.incidentId)!.serviceId === 'PSTORAGE1');
    assert.equal(Number(m[1]), usage.length);
    assert.ok(Number(m[2]) > 0);
    assert.match(show.stdout, /^ {4}newly matched: C\d+/m);
    assert.match(show.stdout, /^changed events \(20 of \d+\):$/m);
    assert.match(show.stdout, /skipped \(cooldown\) \[newly suppressed\]/);

    const apply = await selfheal(['rules', 'apply', '-f', file('v2.yaml'), '--json'], env);
    assert.equal(apply.code, 0, apply.stderr);
    const out = JSON.parse(apply.stdout) as { plan: { action: string }[]; backtests: { name: string; summary: { vsCurrent: { counts: { newly_matched: number } } } }[]; attached: { name: string; version: number }[] };
    assert.deepEqual(out.plan.map((s) => s.action), ['update']);
    assert.equal(out.backtests[0]!.summary.vsCurrent.counts.newly_matched, usage.length);
    assert.deepEqual(out.attached, [{ name: 'disk-full', version: 2 }]);
    const stored = await db.db.selectFrom('rule_backtests').select(['version']).orderBy('version').execute();
    assert.deepEqual(stored.map((s) => s.version), [1, 2]);
  });

  it('--require-backtest refuses the whole apply when a changed rule would fire more often in one hour', async function () {
    await writeFile(file('disk.yaml'), ruleYaml());
    const refused = await selfheal(['rules', 'apply', '-f', file('disk.yaml'), '--require-backtest', '10'], env);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, new RegExp(`^✗ disk-full would have fired \\d+ times in the hour from ${stormHour.replace(/\./g, '\\.')}, more than 10$`, 'm'));
    assert.match(refused.stderr, /^nothing applied \(--require-backtest 10\)$/m);
    assert.equal(await db.db.selectFrom('rules').select('id').executeTakeFirst(), undefined, 'nothing applied');

    // With a rate limit the storm stays under the bar.
    await writeFile(file('limited.yaml'), ruleYaml(`policies: { rateLimit: { max: 5, windowSeconds: 3600 } }`));
    const ok = await selfheal(['rules', 'apply', '-f', file('limited.yaml'), '--require-backtest', '10'], env);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /peak 5\/h/);
    assert.ok(await db.db.selectFrom('rules').select('id').executeTakeFirst());
  });

  it('a backtest the server refuses: the command exits 2 with the server’s reason; apply goes on, unless the backtest is required', async function () {
    await writeFile(file('disk.yaml'), ruleYaml());
    const cappedEnv = { ...env, SELFHEAL_URL: capped.url };
    const bt = await selfheal(['rules', 'backtest', '-f', file('disk.yaml'), '--since', '30d'], cappedEnv);
    assert.equal(bt.code, 2);
    assert.match(bt.stderr, /400 Bad Request: the window holds \d+ events \(warm-up included\), more than the cap of 50: narrow it, e\.g\. since \d+[dhm]/);
    const required = await selfheal(['rules', 'apply', '-f', file('disk.yaml'), '--since', '30d', '--require-backtest', '100'], cappedEnv);
    assert.equal(required.code, 1);
    assert.match(required.stderr, /✗ disk-full could not be backtested \(400 Bad Request: the window holds/);
    assert.equal(await db.db.selectFrom('rules').select('id').executeTakeFirst(), undefined);
    const plain = await selfheal(['rules', 'apply', '-f', file('disk.yaml'), '--since', '30d'], cappedEnv);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(plain.stderr, /^backtest of disk-full not run: 400 Bad Request: the window holds/m);
    assert.ok(await db.db.selectFrom('rules').select('id').executeTakeFirst());
  });

  it('usage errors exit 2 before any call', async function () {
    await writeFile(file('disk.yaml'), ruleYaml());
    const bad = await selfheal(['rules', 'backtest', '-f', file('disk.yaml'), '--since', 'a-month'], env);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--since must be a duration such as 30d, 12h, 90m or 2w \(got "a-month"\)/);
    const both = await selfheal(['rules', 'apply', '-f', file('disk.yaml'), '--no-backtest', '--require-backtest', '5'], env);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /--require-backtest needs the backtests/);
  });
});
