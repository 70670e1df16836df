import assert from 'node:assert/strict';
import { getPath } from '../../src/domain/json-path.js';
import { boundContext, CONTEXT_STRING_MAX, MAX_CONTEXT_BYTES, MIN_STRING_CHARS } from '../../src/domain/rules/context-budget.js';
import { jsonBytes } from '../../src/domain/text.js';
import { incidentContext, type IncidentFacts } from '../../src/domain/rules/incident-context.js';
import { renderTemplate, TRUNCATED } from '../../src/domain/template.js';

/** An incident row as triage stores it, with `alerts` as PagerDuty's REST API answers them. */
function incident(alerts: unknown[]): IncidentFacts {
  return {
    id: 'PBIG123',
    number: 7,
    title: 'disk full on web-1',
    description: null,
    status: 'triggered',
    urgency: 'high',
    priority: null,
    service_id: 'PSVC1',
    service_name: 'svc',
    escalation_policy_id: null,
    escalation_policy_name: null,
    assignees: [],
    html_url: null,
    incident_key: null,
    environment: { host: 'web-1', environment: 'prod' },
    alerts,
  };
}

/** An alert as PagerDuty's REST API returns it: the custom details under body.details and again under body.cef_details.details. */
function restAlert(n: number, details: Record<string, unknown>) {
  return { id: `A${n}`, type: 'alert', summary: `alert ${n}`, body: { type: 'alert_body', details, cef_details: { details, message: `alert ${n}` } } };
}

const event = { id: 'EV1', event_type: 'incident.triggered', occurred_at: '2026-01-01T00:00:00Z', data: { id: 'PBIG123', type: 'incident' } };

describe('context budget (src/domain/rules/context-budget.ts)', function () {
  it('leaves a context that fits as it is', function () {
    const ctx = incidentContext(incident([restAlert(1, { host: 'web-1', mount: '/var' })]), event, 'incident.triggered') as unknown as Record<string, unknown>;
    const bounded = boundContext(ctx, MAX_CONTEXT_BYTES);
    assert.equal(bounded.cut, '');
    assert.deepEqual(bounded.context, JSON.parse(JSON.stringify(ctx)));
    assert.equal(bounded.bytes, jsonBytes(ctx));
  });

  it('cuts a string past what a template can render, with the marker, even when the context fits', function () {
    const log = 'x'.repeat(CONTEXT_STRING_MAX + 10);
    const bounded = boundContext({ incident: { id: 'P1', status: 'triggered' }, event: { type: 'incident.triggered' }, alert: { details: { log } } }, MAX_CONTEXT_BYTES);
    const cut = (bounded.context.alert as { details: { log: string } }).details.log;
    assert.equal(cut, 'x'.repeat(CONTEXT_STRING_MAX) + TRUNCATED);
    // What a template renders of it is what it rendered of the whole string.
    assert.equal(renderTemplate('{{ alert.details.log }}', bounded.context), renderTemplate('{{ alert.details.log }}', { alert: { details: { log } } }));
  });

  it('keeps three alerts of 300 KB of details within the budget, each copy of the details once, the first one whole up to the cut', function () {
    const log = 'x'.repeat(300 * 1024);
    const ctx = incidentContext(incident([1, 2, 3].map((n) => restAlert(n, { host: `web-${n}`, log: `${n}${log}` }))), event, 'incident.triggered') as unknown as Record<string, unknown>;
    assert.ok(jsonBytes(ctx) > 3 * 1024 * 1024, `the context as built is ${jsonBytes(ctx)} bytes`);
    const bounded = boundContext(ctx, MAX_CONTEXT_BYTES);
    assert.ok(bounded.bytes <= MAX_CONTEXT_BYTES, `${bounded.bytes} bytes`);
    assert.equal(bounded.bytes, jsonBytes(bounded.context));
    const at = (path: string): unknown => getPath(bounded.context, path);
    // The shallowest copy is kept: alert.details; the others name it.
    assert.equal(at('alert.details.host'), 'web-1');
    assert.ok(String(at('alert.details.log')).startsWith('1xxx'));
    assert.ok(String(at('alert.details.log')).endsWith(TRUNCATED));
    assert.equal(at('alert.body.details'), '…(same as alert.details)');
    assert.equal(at('alert.body.cef_details.details'), '…(same as alert.details)');
    assert.equal(at('alerts[0]'), '…(same as alert)');
    assert.equal(at('alerts[1].details.host'), 'web-2');
    assert.equal(at('alerts[1].body.details'), '…(same as alerts[1].details)');
    // What a rule run reads, and the incident's small fields, are as they were.
    assert.equal(at('incident.status'), 'triggered');
    assert.equal(at('incident.id'), 'PBIG123');
    assert.equal(at('event.type'), 'incident.triggered');
    assert.equal(renderTemplate('{{ incident.id }} on {{ alert.details.host }}', bounded.context), 'PBIG123 on web-1');
  });

  it('fits any budget down to a few hundred bytes, keeping incident.status and event.type', function () {
    const log = 'é'.repeat(200 * 1024);
    const many = Array.from({ length: 2000 }, (_, i) => ({ k: `v${i}` }));
    const ctx = incidentContext(incident([restAlert(1, { log, many }), restAlert(2, { log: `2${log}` })]), event, 'incident.triggered') as unknown as Record<string, unknown>;
    let previous = Infinity;
    for (const budget of [MAX_CONTEXT_BYTES, 64 * 1024, 16 * 1024, 4 * 1024, 1024, 300]) {
      const bounded = boundContext(ctx, budget);
      assert.ok(bounded.bytes <= budget, `${bounded.bytes} bytes for a budget of ${budget} (${bounded.cut})`);
      assert.ok(bounded.bytes <= previous);
      previous = bounded.bytes;
      const c = bounded.context as { incident: Record<string, unknown>; event: Record<string, unknown> };
      assert.equal(c.incident.status, 'triggered', `budget ${budget}`);
      assert.equal(c.event.type, 'incident.triggered', `budget ${budget}`);
      assert.equal(c.incident.id, 'PBIG123', `budget ${budget}`);
    }
    // Strings are cut no shorter than MIN_STRING_CHARS; past that, entries go.
    const small = boundContext(ctx, 16 * 1024);
    assert.equal(small.cut, 'entries');
    assert.match(JSON.stringify(small.context), /more items/);
    assert.equal(boundContext(ctx, 64 * 1024).cut, 'strings');
    const strings = boundContext(ctx, 64 * 1024).context as { alert: { details: { log: string } } };
    assert.ok(strings.alert.details.log.length >= MIN_STRING_CHARS && strings.alert.details.log.endsWith(TRUNCATED));
  });
});
