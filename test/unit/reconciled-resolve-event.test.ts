import assert from 'node:assert/strict';
import { reconciledResolveEvent } from '../../activities/reconcile.js';
import type { PagerDutyIncident } from '../../src/pagerduty/rest-client.js';

// The resolve the reconcile derives from PagerDuty's REST answer keeps resolve_reason: a merge is no proof
// (workflows/verify.ts), whether it came by webhook or by the reconcile.
describe('reconciledResolveEvent', function () {
  it('keeps resolve_reason from the REST answer in the event', function () {
    const reason = { type: 'merge_resolve_reason', incident: { id: 'PMERGED', type: 'incident_reference' } };
    const incident = { id: 'PINC1', status: 'resolved', title: 't', resolved_at: '2026-09-01T10:02:00Z', resolve_reason: reason } as unknown as PagerDutyIncident;
    const event = reconciledResolveEvent('PINC1', incident, new Date('2026-09-01T11:00:00Z'));
    assert.deepEqual((event.data as Record<string, unknown>).resolve_reason, reason);
    assert.equal(event.event_type, 'incident.resolved');
  });

  it('leaves resolve_reason out when the REST answer has none (or null)', function () {
    for (const resolve_reason of [undefined, null]) {
      const incident = { id: 'PINC2', status: 'resolved', resolve_reason } as unknown as PagerDutyIncident;
      const event = reconciledResolveEvent('PINC2', incident, new Date('2026-09-01T11:00:00Z'));
      assert.equal('resolve_reason' in (event.data as Record<string, unknown>), false);
    }
  });
});
