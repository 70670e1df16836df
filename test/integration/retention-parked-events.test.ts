// Events an incident run parks (incident_event_backlog) are deleted once taken; a run terminated from outside
// leaves them, each up to 256 KiB of PagerDuty text, and nothing took them before a later run of the same
// incident parked events of its own. The history purge deletes them past the retention as it does the
// incident's events: kept while the incident is open (a later run still takes them), gone once it is not, or
// once the incident itself is gone. Driven here through the retention activity against the database.
import assert from 'node:assert/strict';
import { createRetentionActivities } from '../../activities/retention.js';
import { parkEvents } from '../../src/db/repositories/event-backlog.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId } from '../helpers/samples.js';

const DAY = 86_400_000;

describe('retention of parked incident events', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  async function incident(status: 'triggered' | 'acknowledged' | 'resolved', at: Date): Promise<string> {
    const id = newIncidentId();
    await db.db
      .insertInto('incidents')
      .values({
        id,
        title: 't',
        status,
        urgency: 'high',
        service_id: 'S1',
        service_name: 's',
        assignees: '[]',
        html_url: `https://example.pagerduty.com/incidents/${id}`,
        environment: '{}',
        workflow_id: `incident-${id}`,
        pd_created_at: at,
        last_event_at: at,
        resolved_at: status === 'resolved' ? at : null,
      } as never)
      .execute();
    return id;
  }

  /** One event parked `daysAgo` days ago by a run terminated since: 200 KiB of text no run takes. */
  async function parkedLongAgo(incidentId: string, daysAgo: number): Promise<void> {
    await parkEvents(db.db, { incidentId, parkedBy: `incident-${incidentId}/terminated`, messages: [{ eventId: `E-${incidentId}`, json: JSON.stringify({ body: 'x'.repeat(200 * 1024) }) }] });
    await db.db.updateTable('incident_event_backlog').set({ parked_at: new Date(Date.now() - daysAgo * DAY) }).where('incident_id', '=', incidentId).execute();
  }

  const parked = async (incidentId: string) => (await db.db.selectFrom('incident_event_backlog').select('id').where('incident_id', '=', incidentId).execute()).length;

  it('an old parked event of a resolved incident (or of one gone) is purged with the history, one of an open incident is kept', async function () {
    const old = new Date(Date.now() - 100 * DAY);
    const resolved = await incident('resolved', old);
    const open = await incident('triggered', old);
    const gone = newIncidentId();
    const recent = await incident('resolved', new Date(Date.now() - 2 * DAY));
    await parkedLongAgo(resolved, 95);
    await parkedLongAgo(open, 95);
    await parkedLongAgo(gone, 95);
    await parkedLongAgo(recent, 2);

    const { purgeHistoryBatch } = createRetentionActivities({ db: db.db, logger: createLogger({ level: 'silent' }) });
    const result = await purgeHistoryBatch({ retentionDays: 90, batchSize: 100 });

    assert.equal(await parked(resolved), 0, 'the parked event of the resolved incident outlived the retention');
    assert.equal(await parked(gone), 0, 'the parked event of an incident no longer stored outlived the retention');
    assert.equal(await parked(open), 1, 'the parked event of an open incident was purged: its next run would not take it');
    assert.equal(await parked(recent), 1, 'a parked event within the retention was purged');
    assert.equal(result.deleted.parkedEvents, 2, JSON.stringify(result.deleted));
  });
});
