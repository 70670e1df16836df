import assert from 'node:assert/strict';
import { incidentWorkflowId } from '../../src/temporal/names.js';
import { MAX_CARRIED_PENDING_BYTES } from '../../workflows/incident-steps.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually } from '../helpers/stack.js';
import { testTemporal, type TestTemporal } from '../helpers/temporal.js';
import { deferred, messageOf, signalIncident, startTestWorker, type TestWorker } from '../helpers/workers.js';

// Events queue in the incident's run while a triage is slow (PagerDuty's API or Postgres slow), and a run
// that continues as new carries them in the next run's input. A backlog of large events (25 notes of
// 185 KiB, each within the webhook's 256 KiB) made that input 4.6 MB: Temporal refused the command for
// good ("GRPC message too large") and the run stalled, with accepted events never stored. The run then
// took queued events until the rest fitted (patch incident-carry-what-fits); it now parks them in Postgres
// and carries how far it got (patch incident-park-backlog; test/fault/incident-backlog-history-limit.test.ts).
describe('incident workflow: a large backlog across continue-as-new', function () {
  this.timeout(240_000);
  let temporal: TestTemporal;
  let db: TestDatabase;
  let worker: TestWorker | undefined;
  before(async function () {
    temporal = await testTemporal();
    db = await createTestDatabase();
  });
  after(async function () {
    await worker?.stop();
    await db?.close();
  });

  it('parks queued events that do not fit in the next run, then continues as new: every accepted event is stored', async function () {
    const entered = deferred();
    const release = deferred();
    let first = true;
    worker = await startTestWorker({
      temporal,
      db,
      wrap: (real) => ({
        async triageIncidentEvent(input) {
          if (first) {
            first = false;
            entered.resolve();
            await release.promise;
          }
          return real.triageIncidentEvent(input);
        },
      }),
    });
    const id = newIncidentId();
    // A small history limit: a continue-as-new is due as soon as the backlog is taken up.
    const input = { historyLimit: 40, lingerSeconds: 1 };
    const trigger = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-07-01T10:00:00Z' });
    await signalIncident(temporal, worker.taskQueue, id, messageOf(trigger), input);
    await entered.promise;
    const firstRunId = (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe()).runId;
    const pad = 'x'.repeat(60 * 1024);
    const ids = [trigger.event.id];
    let queued = 0;
    for (let i = 0; i < 25; i++) {
      const note = sampleFor('v3-incident.annotated-01.json', id, { occurredAt: `2026-07-01T10:${String(i + 1).padStart(2, '0')}:00Z`, data: { content: pad, summary: pad, extra: pad } });
      queued += Buffer.byteLength(JSON.stringify(messageOf(note)));
      ids.push(note.event.id);
      await signalIncident(temporal, worker.taskQueue, id, messageOf(note), input);
    }
    assert.ok(queued > 4 * MAX_CARRIED_PENDING_BYTES, `${queued} bytes queued`);
    release.resolve();

    const stored = await eventually(async () => {
      const rows = await db.db.selectFrom('incident_events').select('event_id').where('incident_id', '=', id).execute();
      return rows.length === ids.length ? rows : undefined;
    }, 120_000, 'every accepted event stored');
    assert.deepEqual(stored.map((r) => r.event_id).sort(), [...ids].sort());
    // It did continue as new (the history limit was passed long before), with what fitted.
    const now = await temporal.client.workflow.getHandle(incidentWorkflowId(id)).describe();
    assert.notEqual(now.runId, firstRunId, 'continued as new');
    const state = (await temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { pendingEvents: number; eventsSeen: number };
    assert.equal(state.pendingEvents, 0);
    // Taken from where they were parked, and the rows deleted once the taking of the last one was recorded.
    await eventually(async () => (await db.db.selectFrom('incident_event_backlog').select('id').where('incident_id', '=', id).execute()).length === 0, 30_000, 'no event left parked');
  });
});
