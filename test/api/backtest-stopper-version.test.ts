import assert from 'node:assert/strict';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { seededIncident, storeHistory, storeRecordedMatch, TITLE_EXTRACTORS } from '../helpers/history.js';
import { insertRule } from '../helpers/rules.js';

// An as-recorded backtest replays each event with the version of the rule that was live then, and so
// reproduces the recorded decisions: that holds for the other rules' stopOnMatch too. It judged whether a
// higher-priority rule of the same team stopped the backtested rule by that rule's definition as it is now,
// not by the version that matched then (rule_matches.rule_version): a rule that gained `stopOnMatch` after
// the window made the backtest report the backtested rule stopped on an event where the live matcher had
// evaluated it, matched it and run it.
const ADMIN = 'backtest-stopper-admin-token-0123456789';
const HOUR = 3_600_000;

describe("API: an as-recorded backtest judges another rule's stopOnMatch by the version that matched then", function () {
  this.timeout(60_000);
  let db: TestDatabase;

  after(async () => db?.close());

  it('reproduces the recorded match of a rule after one that gained stopOnMatch since', async () => {
    db = await createTestDatabase();
    const base = new Date(Math.floor(Date.now() / HOUR) * HOUR - 2 * 24 * HOUR);
    const before = new Date(base.getTime() - 24 * HOUR);
    const common = { services: ['PSTORAGE1'], conditions: { field: 'incident.title', op: 'contains', value: 'Disk full' }, actions: [{ id: 'note', type: 'pagerduty.note', content: 'seen' }] };
    // The stopper: no stopOnMatch when the incident came (version 1); stopOnMatch from version 2, saved now.
    const stopperV1 = { name: 'a-stopper', priority: 1, ...common };
    const stopper = await insertRule(db.db, stopperV1 as never);
    await db.db.updateTable('rule_versions').set({ created_at: before }).where('rule_id', '=', stopper).execute();
    const stopperV2 = { ...stopperV1, stopOnMatch: true, dryRun: false, enabled: true };
    await db.db.insertInto('rule_versions').values({ rule_id: stopper, version: 2, definition: JSON.stringify(stopperV2), change: 'update', actor: 'token:rule-author' }).execute();
    await db.db.updateTable('rules').set({ version: 2, definition: JSON.stringify(stopperV2) }).where('id', '=', stopper).execute();
    // The backtested rule, unchanged since before the window.
    const follower = await insertRule(db.db, { name: 'b-follower', priority: 50, ...common } as never);
    await db.db.updateTable('rule_versions').set({ created_at: before }).where('rule_id', '=', follower).execute();

    const incident = seededIncident({ id: 'RVSTOP1', host: 'web-1', environment: 'prod-eu', at: base });
    await storeHistory(db.db, [incident]);
    const ev = incident.events[0]!;
    // What the live matcher decided then: both rules matched (version 1 of the stopper does not stop), both ran.
    for (const [ruleId, name] of [[stopper, 'a-stopper'], [follower, 'b-follower']] as const) {
      await storeRecordedMatch(db.db, { incidentId: incident.id, eventId: ev.eventId, ruleId, ruleName: name, version: 1, decision: 'run', target: 'web-1', matchedAt: ev.at, actions: [{ status: 'succeeded', finishedAt: new Date(ev.at.getTime() + 60_000) }] });
    }

    const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: ADMIN, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
    const res = await app.request('/api/rules/backtest', {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ ruleId: follower, replay: 'as-recorded', from: new Date(base.getTime() - HOUR).toISOString(), to: new Date(base.getTime() + HOUR).toISOString(), only: 'all' }),
    });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const body = (await res.json()) as any;
    assert.equal(res.status, 200, JSON.stringify(body));
    assert.deepEqual(
      { matched: body.summary.candidate.matched, vsRecorded: body.summary.vsRecorded.counts, agreement: body.summary.vsRecorded.agreement },
      { matched: 1, vsRecorded: { newly_matched: 0, no_longer_matched: 0, newly_suppressed: 0, no_longer_suppressed: 0 }, agreement: { same: 1, of: 1 } },
      `item: ${JSON.stringify(body.items[0]?.candidate)}`,
    );
  });
});
