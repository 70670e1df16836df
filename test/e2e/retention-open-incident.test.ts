// The retention purge keeps an incident that is not resolved, however old: its workflow is still open and
// waiting for the resolve. It deleted the incident's events by age and then the incident: its page answered
// 404 while it was open, and the resolve that came later wrote the row again with the resolve's time as its
// opening and counted its workflow a second time in selfheal_workflows_started_total.
import assert from 'node:assert/strict';
import { createRetentionActivities } from '../../activities/retention.js';
import { createLogger } from '../../src/logger.js';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, startStack, type Stack } from '../helpers/stack.js';

const DAY = 86_400_000;

describe('retention: an incident not resolved is kept whole', function () {
  this.timeout(120_000);
  let stack: Stack;
  before(async function () {
    stack = await startStack();
  });
  after(async function () {
    await stack?.stop();
  });

  it('100 days open (retention 90): its page, events and opening time stay; resolved later, it is counted once', async function () {
    const id = newIncidentId();
    assert.equal((await stack.deliver(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: new Date().toISOString() }))).status, 202);
    const stored = await eventually(async () => stack.db.db.selectFrom('incidents').select(['id', 'created_at']).where('id', '=', id).executeTakeFirst(), 30_000, 'the incident stored');
    const startedOffset = async () =>
      Number(
        (await stack.db.db.selectFrom('metric_offsets').select('value').where('metric', '=', 'selfheal_workflows_started_total').executeTakeFirst())?.value ?? 0,
      );
    const offsetBefore = await startedOffset();

    // 100 days on, the incident still open: the purge runs to the end.
    const purge = createRetentionActivities({ db: stack.db.db, logger: createLogger({ level: 'silent' }), now: () => new Date(Date.now() + 100 * DAY) }).purgeHistoryBatch;
    for (let more = true; more; ) more = (await purge({ retentionDays: 90, batchSize: 5000 })).more;

    assert.equal((await stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).status.name, 'RUNNING');
    const page = await stack.api(`/api/incidents/${id}`);
    assert.equal(page.status, 200, 'the open incident was purged');
    assert.equal(((await page.json()) as { events: unknown[] }).events.length, 1, 'its event was purged');

    // Resolved now: the same row, its opening time as it was; its workflow counted once.
    assert.equal((await stack.deliver(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: new Date().toISOString() }))).status, 202);
    const resolved = await eventually(
      async () => stack.db.db.selectFrom('incidents').select(['status', 'created_at']).where('id', '=', id).where('status', '=', 'resolved').executeTakeFirst(),
      30_000,
      'the resolve stored',
    );
    assert.equal(resolved.created_at.toISOString(), stored.created_at.toISOString());
    assert.equal(await startedOffset(), offsetBefore, 'the purge counted the open incident as gone');
  });
});
