import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { optionFromData } from '../../src/domain/script-args.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, TITLE_EXTRACTORS } from '../helpers/history.js';

// A backtest says which stored events a script action (or verify check) would be refused for: the run refuses
// an argument whose leading '-' came from the incident (src/domain/script-args.ts), after any approval, so
// the SRE backtesting the README's rule (args: ['{{ environment.host }}']) must learn it before it goes live.

const ADMIN = 'backtest-args-admin-token-0123456789';
const HOUR = 3_600_000;

describe('API: a backtest says which events a script action would be refused for', function () {
  let db: TestDatabase;
  type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  let call: Call;
  const base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR);
  const window = { from: base.toISOString(), to: new Date(base.getTime() + 2 * 24 * HOUR).toISOString() };

  before(async function () {
    db = await createTestDatabase();
    // The host comes from the title ([host] environment: ...), as an alert's sender writes it.
    await storeHistory(db.db, [
      seededIncident({ id: 'PARGS0001', host: 'web-1', environment: 'prod-eu', at: new Date(base.getTime() + HOUR) }),
      seededIncident({ id: 'PARGS0002', host: '--apply', environment: 'prod-eu', at: new Date(base.getTime() + 2 * HOUR) }),
      seededIncident({ id: 'PARGS0003', host: 'db-1', environment: 'prod-eu', at: new Date(base.getTime() + 3 * HOUR), problem: 'Disk usage above 95%' }),
    ]);
    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    call = async (method, path, body) => {
      const res = await app.request(path, { method, headers: { authorization: `Bearer ${ADMIN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : {} };
    };
  });
  after(async () => db?.close());

  const rule = (args: string[], extra: Record<string, unknown> = {}) => ({
    name: 'disk-full-cleanup',
    services: ['PSTORAGE1'],
    conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
    actions: [
      { id: 'clean', type: 'script.agent', script: 'disk-cleanup.sh', args, idempotent: true },
      { id: 'note', type: 'pagerduty.note', content: 'cleaned {{ environment.host }}' },
    ],
    ...extra,
  });
  const refusal = { actionId: 'clean', path: 'actions.0', argIndex: 0, reason: optionFromData(['{{ environment.host }}'], ['--apply']) };
  const itemOf = (body: { items: { incident: { id: string } }[] }, id: string): any => body.items.find((i) => i.incident.id === id); // eslint-disable-line @typescript-eslint/no-explicit-any

  it("counts the events whose host would become the script's option, and names the action, argument and reason on each", async function () {
    const res = await call('POST', '/api/rules/backtest', { rule: rule(['{{ environment.host }}']), ...window, only: 'matched' });
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.summary.candidate.matched, 2);
    assert.equal(res.body.summary.candidate.argsRefused, 1);
    const refused = itemOf(res.body, 'PARGS0002');
    assert.deepEqual(refused.candidate.actions[0].params.args, ['--apply']);
    assert.deepEqual(refused.candidate.refusedArgs, [refusal]);
    assert.match(refused.candidate.refusedArgs[0].reason, /^args\.0: the value rendered into "\{\{ environment\.host \}\}" starts with "-"/);
    assert.equal(itemOf(res.body, 'PARGS0001').candidate.refusedArgs, undefined, 'web-1 runs');
  });

  it('a rule that keeps the value data (after "--", or inside its option) has none', async function () {
    for (const args of [['--', '{{ environment.host }}'], ['--host={{ environment.host }}']]) {
      const res = await call('POST', '/api/rules/backtest', { rule: rule(args), ...window, only: 'matched' });
      assert.equal(res.status, 200, JSON.stringify(res.body));
      assert.equal(res.body.summary.candidate.argsRefused, 0, JSON.stringify(args));
      assert.ok(res.body.items.every((i: { candidate: { refusedArgs?: unknown } }) => i.candidate.refusedArgs === undefined));
    }
  });

  it('a stored dry-run rule with a verify check: its dry runs, the check, the fix against the current version, and the attached summary', async function () {
    const verify = { within: '10m', check: { type: 'script.agent', script: 'disk/check.sh', args: ['{{ environment.host }}'] } };
    const created = await call('POST', '/api/rules', rule(['{{ environment.host }}'], { dryRun: true, verify }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const ruleId = created.body.id as string;

    const stored = await call('POST', '/api/rules/backtest', { ruleId, ...window, only: 'matched' });
    assert.equal(stored.status, 200, JSON.stringify(stored.body));
    assert.equal(stored.body.summary.candidate.decisions.dry_run, 2);
    assert.equal(stored.body.summary.candidate.argsRefused, 1, 'a dry run is counted: the rule would be refused once it runs');
    assert.deepEqual(itemOf(stored.body, 'PARGS0002').candidate.refusedArgs, [refusal, { ...refusal, actionId: 'check', path: 'verify.check' }]);

    // The edit that fixes it, against the current version.
    const fixed = rule(['--', '{{ environment.host }}'], { dryRun: true, verify: { ...verify, check: { ...verify.check, args: ['--host={{ environment.host }}'] } } });
    const diff = await call('POST', '/api/rules/backtest', { ruleId, rule: fixed, ...window, only: 'matched' });
    assert.equal(diff.status, 200, JSON.stringify(diff.body));
    assert.equal(diff.body.summary.candidate.argsRefused, 0);
    assert.equal(diff.body.summary.baseline.argsRefused, 1);
    assert.equal(itemOf(diff.body, 'PARGS0002').baseline.refusedArgs.length, 2);

    const attached = await call('POST', `/api/rules/${ruleId}/backtest`, window);
    assert.equal(attached.status, 201, JSON.stringify(attached.body));
    assert.equal(attached.body.summary.candidate.argsRefused, 1);
  });
});
