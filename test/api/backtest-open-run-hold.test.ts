import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { countActiveLeases, takeLease } from '../../src/db/repositories/leases.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, storeRecordedMatch, TITLE_EXTRACTORS } from '../helpers/history.js';

// Another rule's recorded run holds its target in a backtest as long as live concurrency counted it: until
// its lease was released or expired (countActiveLeases: `expires_at > at`). The backtest held it until the
// run's last action finished, and for ever when one never did: a run left `running` (its workflow
// terminated, a worker lost) made a backtest of any rule with `concurrencyPerTarget` skip every later
// incident on that host for the rest of the window ("concurrency: 1 remediation(s) already running"),
// where the live planner ran it. The rule's own simulated runs were already capped at their lease (lane.ts).
const ADMIN = 'backtest-hold-admin-token-0123456789';
const HOUR = 3_600_000;

describe("API: another rule's recorded run holds its host in a backtest until its lease ended", function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let t0: Date;
  let app: ReturnType<typeof createApp>;
  after(async () => db?.close());
  const rule = {
    name: 'disk-one-at-a-time',
    services: ['PSTORAGE1'],
    conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' },
    policies: { concurrencyPerTarget: 1 },
    actions: [{ id: 'note', type: 'pagerduty.note', content: 'cleaning {{ environment.host }}' }],
  };

  it('a rule with concurrencyPerTarget runs on the host a day later, as live (the stuck lease expired)', async () => {
    db = await createTestDatabase();
    t0 = new Date(Math.floor(Date.now() / HOUR) * HOUR - 3 * 24 * HOUR);
    const t1 = new Date(t0.getTime() + 24 * HOUR);
    const first = seededIncident({ id: 'RVHOLD1', host: 'web-1', environment: 'prod-eu', at: t0, problem: 'HTTP 5xx rate above 5%' });
    const second = seededIncident({ id: 'RVHOLD2', host: 'web-1', environment: 'prod-eu', at: t1 });
    await storeHistory(db.db, [first, second]);
    // Another rule ran on web-1 at t0; its action never finished (left `running`).
    await storeRecordedMatch(db.db, { incidentId: first.id, eventId: first.events[0]!.eventId, ruleId: 'r-other', ruleName: 'other', decision: 'run', target: 'web-1', matchedAt: t0, actions: [{ status: 'running', finishedAt: null }] });

    // Live: that run's lease (a note: 300 s and the note's time) expired long before t1.
    const match = await db.db.selectFrom('rule_matches').select('id').where('incident_id', '=', first.id).executeTakeFirstOrThrow();
    await takeLease(db.db, { target: 'web-1', ruleId: 'r-other', matchId: String(match.id), incidentId: first.id, at: t0, expiresAt: new Date(t0.getTime() + 600_000) });
    assert.equal(await countActiveLeases(db.db, 'web-1', t1), 0, 'live, nothing holds web-1 at t1');

    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    const res = await app.request('/api/rules/backtest', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rule, from: new Date(t0.getTime() - HOUR).toISOString(), to: new Date(t1.getTime() + HOUR).toISOString() }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.equal(body.summary.candidate.matched, 1);
    assert.deepEqual(body.summary.candidate.decisions, { run: 1, dry_run: 0, skipped: 0, notify_only: 0 }, `the match on web-1 at t1: ${body.items[0]?.candidate.reason}`);
  });

  it('while that lease was held, the rule is skipped on the host, as live', async () => {
    const during = seededIncident({ id: 'RVHOLD3', host: 'web-1', environment: 'prod-eu', at: new Date(t0.getTime() + 5 * 60_000) });
    await storeHistory(db.db, [during]);
    assert.equal(await countActiveLeases(db.db, 'web-1', during.events[0]!.at), 1, 'live, the run holds web-1 then');
    const res = await app.request('/api/rules/backtest', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ rule, from: new Date(t0.getTime() + 60_000).toISOString(), to: new Date(t0.getTime() + 9 * 60_000).toISOString() }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(body.summary.candidate.decisions, { run: 0, dry_run: 0, skipped: 1, notify_only: 0 });
    assert.match(body.items[0].candidate.reason, /concurrency: 1 remediation\(s\) already running on web-1/);
  });
});
