import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync } from 'node:fs';
import {
  classifyEvent,
  incidentIdOf,
  incidentIdOfData,
  parseWebhookBody,
  statusFromEventType,
  toIncidentSnapshot,
} from '../../src/pagerduty/webhook.js';
import type { PagerDutyEvent } from '../../src/pagerduty/webhook.js';

const samples = new URL('../fixtures/pagerduty/samples/', import.meta.url);

function sample(name: string): string {
  return readFileSync(new URL(name, samples), 'utf8');
}

function parsed(name: string): PagerDutyEvent {
  const result = parseWebhookBody(sample(name));
  if (!result.ok) assert.fail(`${name}: ${result.detail}`);
  return result.event;
}

// Every full V3 envelope in the samples folder, with what a user expects from it.
const expectations: Record<string, { type: string; cls: 'incident' | 'ignored'; incidentId?: string }> = {
  'v3-incident.acknowledged-01.json': { type: 'incident.acknowledged', cls: 'incident', incidentId: 'PQ1K5C8' },
  'v3-incident.annotated-01.json': { type: 'incident.annotated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.conference_bridge.updated-01.json': { type: 'incident.conference_bridge.updated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.delegated-01.json': { type: 'incident.delegated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.escalated-01.json': { type: 'incident.escalated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.priority_updated-01.json': { type: 'incident.priority_updated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.priority_updated-02-pdDocs.json': { type: 'incident.priority_updated', cls: 'incident', incidentId: 'PGR0VU2' },
  'v3-incident.reassigned-01.json': { type: 'incident.reassigned', cls: 'incident', incidentId: 'PIQUG8X' },
  'v3-incident.reopened-01.json': { type: 'incident.reopened', cls: 'incident', incidentId: 'Q05XJA8GDXGOB3' },
  'v3-incident.resolved-01.json': { type: 'incident.resolved', cls: 'incident', incidentId: 'PCPZE64' },
  'v3-incident.responder.added-01.json': { type: 'incident.responder.added', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.responder.replied-01.json': { type: 'incident.responder.replied', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.service_updated-01.json': { type: 'incident.service_updated', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.status_update_published-01.json': { type: 'incident.status_update_published', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.triggered-01.json': { type: 'incident.triggered', cls: 'incident', incidentId: 'PFQZPSY' },
  'v3-incident.unacknowledged-01.json': { type: 'incident.unacknowledged', cls: 'incident', incidentId: 'PQ1K5C8' },
  // An unknown incident.* type is still about an incident: future types must not be dropped.
  'v3-incident.unsupported-negative-01.json': { type: 'incident.unsupported', cls: 'incident', incidentId: 'PIQUG8X' },
  'v3-incident.workflow.completed-01.json': { type: 'incident.workflow.completed', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-incident.workflow.started-01.json': { type: 'incident.workflow.started', cls: 'incident', incidentId: 'Q3B15VLMF3ASBD' },
  'v3-pagey.ping-agentnull-n8n.json': { type: 'pagey.ping', cls: 'ignored' },
  'v3-service.created-01.json': { type: 'service.created', cls: 'ignored' },
  'v3-service.deleted-01.json': { type: 'service.deleted', cls: 'ignored' },
  'v3-service.updated-01-pdDocs.json': { type: 'service.updated', cls: 'ignored' },
};

// Bare `event.data` objects from PagerDuty's docs and the incident each references.
const dataOnly: Record<string, string | undefined> = {
  'v3-DATAONLY-incident_action_invocation-pdDocs.json': 'PBAZLIU',
  'v3-DATAONLY-incident_conference_bridge-pdDocs.json': 'PGR0VU2',
  'v3-DATAONLY-incident_field_values-pdDocs.json': 'PBAZLIU',
  'v3-DATAONLY-incident_note-pdDocs.json': 'PGR0VU2',
  'v3-DATAONLY-incident_responder-pdDocs.json': 'PGR0VU2',
  'v3-DATAONLY-incident_role_assignment-pdDocs.json': 'PBAZLIU',
  'v3-DATAONLY-incident_status_update-pdDocs.json': 'PGR0VU2',
  'v3-DATAONLY-incident_task-pdDocs.json': 'Q0SDD3HB6SGFTI',
  'v3-DATAONLY-incident_workflow_instance-pdDocs.json': 'PBAZLIU',
  'v3-DATAONLY-service_field_values-pdDocs.json': undefined,
};

const v3Files = readdirSync(samples).filter((f) => f.startsWith('v3-') && f.endsWith('.json'));

describe('PagerDuty V3 webhook parsing', () => {
  it('has an expectation for every V3 sample in the samples folder', () => {
    const known = new Set([...Object.keys(expectations), ...Object.keys(dataOnly), 'v3-pagey.ping-with-delivery-headers-n8n.json']);
    assert.deepEqual(v3Files.filter((f) => !known.has(f)), []);
    assert.ok(v3Files.length >= 30);
  });

  for (const [file, expected] of Object.entries(expectations)) {
    it(`${file}: parses, classifies as ${expected.cls}, incident ${expected.incidentId ?? 'none'}`, () => {
      const event = parsed(file);
      assert.equal(event.event_type, expected.type);
      assert.equal(classifyEvent(event), expected.cls);
      assert.equal(incidentIdOf(event), expected.incidentId);
      if (expected.incidentId) assert.equal(toIncidentSnapshot(event)?.id, expected.incidentId);
      else assert.equal(toIncidentSnapshot(event), undefined);
    });
  }

  for (const [file, incidentId] of Object.entries(dataOnly)) {
    it(`${file}: the data object names incident ${incidentId ?? 'none'}`, () => {
      const data = JSON.parse(sample(file)) as Record<string, unknown>;
      assert.equal(incidentIdOfData(data), incidentId);
      const type = String(data['type']);
      const envelope = JSON.stringify({
        event: { id: 'E1', event_type: 'incident.whatever', resource_type: type.startsWith('service') ? 'service' : 'incident', occurred_at: '2024-01-01T00:00:00Z', agent: null, client: null, data },
      });
      const result = parseWebhookBody(envelope);
      assert.ok(result.ok);
      assert.equal(incidentIdOf(result.event), incidentId);
    });
  }

  it('parses the body of a delivery captured with its headers (n8n wrapper)', () => {
    const wrapper = JSON.parse(sample('v3-pagey.ping-with-delivery-headers-n8n.json')) as { body: unknown; headers: Record<string, string> };
    assert.equal(wrapper.headers['user-agent'], 'PagerDuty-Webhook/V3.0');
    const result = parseWebhookBody(JSON.stringify(wrapper.body));
    assert.ok(result.ok);
    assert.equal(result.event.event_type, 'pagey.ping');
    assert.equal(classifyEvent(result.event), 'ignored');
    // The wrapper itself is not a webhook body.
    const wrapped = parseWebhookBody(sample('v3-pagey.ping-with-delivery-headers-n8n.json'));
    assert.equal(wrapped.ok, false);
    if (!wrapped.ok) assert.deepEqual(wrapped.fields, ['event']);
  });

  it('accepts null agent and client, and a missing client', () => {
    const ping = parsed('v3-pagey.ping-agentnull-n8n.json');
    assert.equal(ping.agent, null);
    assert.equal(ping.client, null);
    const workflow = parsed('v3-incident.workflow.completed-01.json');
    assert.equal(workflow.agent, null);
    assert.equal(workflow.id, '32743191412443541367815146404898342710');
    const created = parsed('v3-service.created-01.json');
    assert.equal('client' in created, false);
    const docs = parsed('v3-incident.priority_updated-02-pdDocs.json');
    assert.deepEqual(docs.client, { name: 'PagerDuty' });
  });

  it('keeps unknown fields at every level', () => {
    const body = JSON.parse(sample('v3-incident.triggered-01.json')) as { event: Record<string, unknown> };
    body.event['future_field'] = { a: 1 };
    (body as Record<string, unknown>)['top'] = true;
    const result = parseWebhookBody(JSON.stringify(body));
    assert.ok(result.ok);
    assert.deepEqual(result.event['future_field'], { a: 1 });
    assert.equal((result.event.data['service'] as { summary: string }).summary, 'pig208');
  });

  it('names what is wrong with a malformed body', () => {
    assert.deepEqual(parseWebhookBody('{not json'), { ok: false, detail: 'body is not valid JSON', fields: [] });
    assert.deepEqual(parseWebhookBody(''), { ok: false, detail: 'body is not valid JSON', fields: [] });

    const missing = parseWebhookBody('{}');
    assert.equal(missing.ok, false);
    if (!missing.ok) assert.deepEqual(missing.fields, ['event']);

    const partial = parseWebhookBody(JSON.stringify({ event: { id: 'X', event_type: 'incident.triggered', occurred_at: 5, data: [] } }));
    assert.equal(partial.ok, false);
    if (!partial.ok) {
      assert.deepEqual(partial.fields.sort(), ['event.data', 'event.occurred_at', 'event.resource_type']);
      assert.match(partial.detail, /event\.resource_type/);
    }

    const notObject = parseWebhookBody('[1,2]');
    assert.equal(notObject.ok, false);
    if (!notObject.ok) assert.deepEqual(notObject.fields, ['body']);

    const badAgent = parseWebhookBody(JSON.stringify({ event: { id: 'X', event_type: 'pagey.ping', resource_type: 'pagey', occurred_at: 't', agent: 'me', data: {} } }));
    assert.equal(badAgent.ok, false);
    if (!badAgent.ok) assert.deepEqual(badAgent.fields, ['event.agent']);
  });

  it('classifies every documented incident.* type, and future ones, as incident', () => {
    const types = [
      'incident.triggered', 'incident.acknowledged', 'incident.unacknowledged', 'incident.resolved', 'incident.reopened',
      'incident.reassigned', 'incident.escalated', 'incident.delegated', 'incident.priority_updated', 'incident.annotated',
      'incident.responder.added', 'incident.responder.replied', 'incident.status_update_published',
      'incident.conference_bridge.updated', 'incident.service_updated', 'incident.workflow.started',
      'incident.workflow.completed', 'incident.incident_type.changed', 'incident.custom_field_values.updated',
      'incident.something_new',
    ];
    for (const eventType of types) assert.equal(classifyEvent({ event_type: eventType, resource_type: 'incident' }), 'incident', eventType);
    for (const [eventType, resourceType] of [['service.created', 'service'], ['pagey.ping', 'pagey'], ['incident.triggered', 'service'], ['incidentx', 'incident'], ['', 'incident']]) {
      assert.equal(classifyEvent({ event_type: eventType!, resource_type: resourceType! }), 'ignored', `${eventType}/${resourceType}`);
    }
  });

  it('maps event types to the status they imply', () => {
    assert.equal(statusFromEventType('incident.triggered'), 'triggered');
    assert.equal(statusFromEventType('incident.reopened'), 'triggered');
    assert.equal(statusFromEventType('incident.unacknowledged'), 'triggered');
    assert.equal(statusFromEventType('incident.acknowledged'), 'acknowledged');
    assert.equal(statusFromEventType('incident.resolved'), 'resolved');
    assert.equal(statusFromEventType('incident.annotated'), undefined);
    assert.equal(statusFromEventType('service.updated'), undefined);
  });
});

describe('incident snapshot from an event', () => {
  it('takes everything an incident event carries', () => {
    const snapshot = toIncidentSnapshot(parsed('v3-incident.priority_updated-02-pdDocs.json'));
    assert.deepEqual(snapshot, {
      id: 'PGR0VU2',
      complete: true,
      number: 2,
      title: 'A little bump in the road',
      status: 'triggered',
      urgency: 'high',
      priority: { id: 'PSO75BM', summary: 'P1' },
      serviceId: 'PF9KMXH',
      serviceName: 'API Service',
      escalationPolicyId: 'PUS0KTE',
      escalationPolicyName: 'Default',
      assignees: [{ id: 'PTUXL6G', summary: 'User 123' }],
      htmlUrl: 'https://acme.pagerduty.com/incidents/PGR0VU2',
      createdAt: '2020-04-09T15:16:27Z',
      updatedAt: '2020-10-02T18:45:22.169Z',
      incidentKey: 'd3640fbd41094207a1c11e58e46b1662',
    });
  });

  it('keeps an explicit null priority and an empty assignee list', () => {
    const triggered = toIncidentSnapshot(parsed('v3-incident.triggered-01.json'));
    assert.equal(triggered?.priority, null);
    assert.equal(triggered?.status, 'triggered');
    assert.equal(triggered?.incidentKey, undefined);
    const resolved = toIncidentSnapshot(parsed('v3-incident.resolved-01.json'));
    assert.equal(resolved?.status, 'resolved');
    assert.deepEqual(resolved?.assignees, []);
    assert.equal(resolved?.resolvedAt, parsed('v3-incident.resolved-01.json').occurred_at);
  });

  it('for a note gives only the incident id and link, not the note id', () => {
    const snapshot = toIncidentSnapshot(parsed('v3-incident.annotated-01.json'));
    assert.deepEqual(snapshot, {
      id: 'Q3B15VLMF3ASBD',
      complete: false,
      assignees: [],
      htmlUrl: 'https://harsh0303.pagerduty.com/incidents/Q3B15VLMF3ASBD',
    });
  });

  it('for a workflow run also gives the service', () => {
    const snapshot = toIncidentSnapshot(parsed('v3-incident.workflow.started-01.json'));
    assert.equal(snapshot?.id, 'Q3B15VLMF3ASBD');
    assert.equal(snapshot?.complete, false);
    assert.equal(snapshot?.serviceId, 'P844A2S');
    assert.equal(snapshot?.status, undefined);
    assert.equal(snapshot?.title, undefined);
  });

  it('follows an incident moved to another service', () => {
    const snapshot = toIncidentSnapshot(parsed('v3-incident.service_updated-01.json'));
    assert.equal(snapshot?.serviceName, 'APIs');
  });
});
