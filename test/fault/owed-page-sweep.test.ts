import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { insertAlert } from '../../src/db/repositories/guards.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { startChildRoot, type ChildRoot } from '../helpers/fault-process.js';
import { startSlackPeer, type SlackPeer } from '../helpers/http-peer.js';
import { newIncidentId } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';

// A guard's page owed while no incident event arrives: the worker that claimed it died before sending it,
// or nothing has delivered it yet. Pages used to go out only from the activities that plan an incident's
// event, so such a page waited for the next event, and a paused estate may not see one for hours. The
// main worker (a real src/worker.ts process) now sweeps owed alerts at start and every minute.
describe('fault: a page owed while no incident event comes is sent by the worker sweep', function () {
  let temporal: TestTemporal;
  let db: TestDatabase;
  let slack: SlackPeer;
  let worker: ChildRoot | undefined;

  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
    slack = await startSlackPeer();
  });
  after(async function () {
    await worker?.stop();
    await slack?.close();
    await db?.close();
  });

  it('an alert claimed by a worker that died and one never delivered reach Slack once from a worker just started, with no event', async function () {
    const died = newIncidentId();
    const never = newIncidentId();
    for (const incidentId of [died, never]) {
      await insertAlert(db.db, { kind: 'guard', incidentId, text: `[self-healing] automation paused: guard crossed (${incidentId})`, page: true, at: new Date() });
    }
    // Claimed ten minutes ago by a worker that never marked it sent.
    await db.db.updateTable('automation_alerts').set({ claimed_at: new Date(Date.now() - 10 * 60_000) }).where('incident_id', '=', died).execute();

    worker = startChildRoot('src/worker.ts', {
      TEMPORAL_ADDRESS: temporal.address,
      DATABASE_URL: db.url,
      TEMPORAL_TASK_QUEUE: `fault-sweep-${randomUUID()}`,
      ACTION_EGRESS_ALLOW: '127.0.0.1/32',
      SELFHEAL_GUARD_PAGE_SLACK_WEBHOOK_REF: 'env:SELFHEAL_SECRET_SWEEP_PAGE',
      SELFHEAL_SECRET_SWEEP_PAGE: slack.webhookUrl,
    });
    await worker.waitFor(/worker started/);
    const rows = await eventually(async () => {
      const r = await db.db.selectFrom('automation_alerts').select(['incident_id', 'sent_at', 'error']).where('incident_id', 'in', [died, never]).execute();
      return r.length === 2 && r.every((a) => a.sent_at !== null) ? r : undefined;
    }, 30_000, 'both alerts marked sent');
    assert.deepEqual(rows.map((r) => r.error), [null, null]);
    for (const incidentId of [died, never]) {
      assert.equal(slack.messages.filter((m) => m.text.includes(incidentId)).length, 1, `one page for ${incidentId}`);
    }
    const events = await db.db.selectFrom('incident_events').select('event_id').execute();
    assert.deepEqual(events, [], 'no incident event was planned');
  });
});
