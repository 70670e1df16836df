import assert from 'node:assert/strict';
import { incidentWorkflowId } from '../../src/contracts/index.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { eventually, stackWithHook } from '../helpers/stack.js';

// Events the database cannot store as they are (a timestamp that is not one, JSON jsonb refuses) arrive
// signed and well-formed enough to pass the webhook. They are recorded as rejected, with the reason, and
// the incident's later events (the resolve included) are processed as if they had not come.
describe('poison events end to end', function () {
  const peers = stackWithHook();

  const eventRow = (eventId: string) => peers.stack.db.db.selectFrom('incident_events').selectAll().where('event_id', '=', eventId).executeTakeFirst();

  it('records them as rejected with the reason; the incident goes on: the rule runs, the resolve ends the run', async function () {
    const svc = newServiceId();
    await insertRule(peers.stack.db.db, { name: `poison-${svc.toLowerCase()}`, services: [svc], actions: [{ id: 'fix', type: 'notify.webhook', url: `${peers.hook.url}/hook`, body: '{}' }] });
    const id = newIncidentId();
    const service = { id: svc, type: 'service_reference', summary: 's' };

    const badTime = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: 'last tuesday', data: { service } });
    const surrogate = sampleFor('v3-incident.acknowledged-01.json', id, { occurredAt: '2026-10-01T10:00:30Z', data: { title: 'broken \ud800 title', service } });
    // JSON.stringify writes the lone surrogate as the escape \ud800: valid JSON, refused by jsonb.
    const surrogateRaw = JSON.stringify(surrogate);
    assert.ok(surrogateRaw.includes('\\ud800'));
    assert.equal((await peers.stack.deliver(badTime)).status, 202);
    assert.equal((await peers.stack.deliver(surrogate, { raw: surrogateRaw })).status, 202);
    const good = sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-10-01T10:01:00Z', data: { service } });
    assert.equal((await peers.stack.deliver(good)).status, 202);
    await eventually(async () => peers.hook.requests.length === 1, 30_000, 'the rule ran for the good trigger, behind the poison');
    const resolve = sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-10-01T10:05:00Z', data: { service } });
    assert.equal((await peers.stack.deliver(resolve)).status, 202);

    const incident = await eventually(async () => {
      const row = await peers.stack.db.db.selectFrom('incidents').select('status').where('id', '=', id).executeTakeFirst();
      return row?.status === 'resolved' ? row : undefined;
    }, 60_000, 'the resolve processed after the poison events');
    assert.equal(incident.status, 'resolved');
    assert.equal(peers.hook.requests.length, 1);

    const rejectedTime = await eventRow(badTime.event.id);
    assert.equal(rejectedTime?.disposition, 'rejected');
    assert.equal(rejectedTime?.reject_reason, 'occurred_at "last tuesday" is not an ISO 8601 timestamp');
    const rejectedJson = await eventRow(surrogate.event.id);
    assert.equal(rejectedJson?.disposition, 'rejected');
    assert.equal(rejectedJson?.reject_reason, 'event.data.title holds a lone UTF-16 surrogate, which jsonb cannot store');
    assert.equal((await eventRow(good.event.id))?.disposition, 'accepted');

    // The API shows them with their reason; the run reached the end of the incident.
    const detail = (await (await peers.stack.api(`/api/incidents/${id}`)).json()) as { events: { eventId: string; disposition: string; rejectReason?: string }[] };
    assert.deepEqual(
      detail.events.filter((e) => e.disposition === 'rejected').map((e) => e.eventId).sort(),
      [badTime.event.id, surrogate.event.id].sort(),
    );
    const state = (await peers.stack.temporal.client.workflow.getHandle(incidentWorkflowId(id)).query('state')) as { status: string; pendingEvents: number };
    assert.deepEqual([state.status, state.pendingEvents], ['resolved', 0]);
  });
});
