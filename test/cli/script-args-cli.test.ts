import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, TITLE_EXTRACTORS } from '../helpers/history.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { selfheal } from '../helpers/cli.js';

// `selfheal rules test` and `selfheal rules backtest`, run as an SRE would (the real launcher in a child
// process), say when the run would refuse a script action because an incident value (a host '--apply')
// would become its option (src/domain/script-args.ts): the action fails without running, after any approval.

const TOKEN = 'cli-script-args-admin-token-0123456789';
const HOUR = 3_600_000;

const ruleYaml = `
name: disk-full-cleanup
services: [PSTORAGE1]
conditions: { field: incident.title, op: contains, value: 'Disk full' }
actions:
  - { id: clean, type: script.agent, script: disk-cleanup.sh, args: ['{{ environment.host }}'], idempotent: true }
  - { id: note, type: pagerduty.note, content: 'cleaned {{ environment.host }}' }
`;
const REFUSED = /args\.0: the value rendered into "\{\{ environment\.host \}\}" starts with "-", so the script would read data from the incident or an earlier action as an option; not run/;

describe('selfheal rules test / rules backtest: a script argument the run would refuse', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let server: ApiServer;
  let dir: string;
  const file = (name: string) => path.join(dir, name);

  before(async function () {
    db = await createTestDatabase();
    const base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR);
    await storeHistory(db.db, [
      seededIncident({ id: 'PCLIARG01', host: 'web-1', environment: 'prod-eu', at: new Date(base.getTime() + HOUR) }),
      seededIncident({ id: 'PCLIARG02', host: '--apply', environment: 'prod-eu', at: new Date(base.getTime() + 2 * HOUR) }),
    ]);
    const config = loadConfig({ NODE_ENV: 'test', PORT: '0', HOST: '127.0.0.1', SELFHEAL_ADMIN_TOKEN: TOKEN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    server = await startApiServer({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS });
    dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-cli-args-'));
    await writeFile(file('rule.yaml'), ruleYaml);
    await writeFile(file('payload.json'), JSON.stringify(sampleFor('v3-incident.triggered-01.json', newIncidentId(), { data: { title: 'Disk full', service: { id: 'PSTORAGE1', type: 'service_reference' } } })));
    // The alert's custom detail host, read by the default extractors.
    await writeFile(file('alerts.json'), JSON.stringify({ alerts: [{ id: 'Q1', body: { details: { host: '--apply' } } }] }));
  });
  after(async () => {
    await server?.close();
    await db?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('rules test names the action the run would refuse, and why', async () => {
    const offline = { SELFHEAL_URL: 'http://127.0.0.1:9' };
    const r = await selfheal(['rules', 'test', '-f', file('rule.yaml'), '--payload', file('payload.json'), '--alerts', file('alerts.json')], offline);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /MATCHES/);
    assert.match(r.stdout, new RegExp(`^✗ clean would fail without running: ${REFUSED.source}`, 'm'));
    const json = await selfheal(['rules', 'test', '-f', file('rule.yaml'), '--payload', file('payload.json'), '--alerts', file('alerts.json'), '--json'], offline);
    const answer = JSON.parse(json.stdout) as { refusedArgs: { actionId: string; path: string; argIndex: number; reason: string }[] };
    assert.deepEqual(
      answer.refusedArgs.map((x) => [x.actionId, x.path, x.argIndex]),
      [['clean', 'actions.0', 0]],
    );
  });

  it('rules backtest counts the events and names the action on each one listed', async () => {
    const r = await selfheal(['rules', 'backtest', '-f', file('rule.yaml'), '--since', '7d'], { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: TOKEN });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ {2}matched 2 of 2 events evaluated/m);
    assert.match(r.stdout, /^ {2}✗ 1 match\(es\) with a script argument the run would refuse \(an incident value starting with '-'\)/m);
    const lines = r.stdout.split('\n');
    const item = lines.findIndex((l) => l.includes(' PCLIARG02 --apply run: '));
    assert.ok(item > 0, r.stdout);
    assert.match(lines[item + 1]!, new RegExp(`^ {4}✗ clean would fail without running: ${REFUSED.source}`));
    assert.doesNotMatch(lines[lines.findIndex((l) => l.includes(' PCLIARG01 ')) + 1] ?? '', /would fail/);
  });
});
