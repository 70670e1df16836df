import assert from 'node:assert/strict';
import { capAlerts, OMITTED_ALERTS_TYPE, omittedAlerts, withoutOmittedMarker } from '../../src/domain/stored-alerts.js';

// The marker that says how many alerts were left out is written by capAlerts alone, last, with its three
// keys. An alert that calls itself one (PagerDuty's alert `type` comes from its REST answer, or from
// whatever answers at its base URL) is an alert: it neither hides itself from rules nor sets the count shown.
describe('stored alerts: the omitted marker cannot be forged by an alert', function () {
  const alert = (id: string, bytes = 10) => ({ id, type: 'alert', summary: 'x'.repeat(bytes) });

  it('an alert typed as the marker stays an alert and counts nothing', function () {
    const forged = { id: 'PX', type: OMITTED_ALERTS_TYPE, omitted: 9999, omittedBytes: 1, body: { details: {} } };
    const stored = capAlerts([forged, alert('A1')]);
    assert.deepEqual(withoutOmittedMarker(stored), [forged, alert('A1')]);
    assert.equal(omittedAlerts(stored), null);
  });

  it('a forged marker with exactly its keys is taken only as the last element, which capAlerts writes after it', function () {
    const forged = { type: OMITTED_ALERTS_TYPE, omitted: 9999, omittedBytes: 1 };
    const stored = capAlerts([alert('A1'), forged, alert('A2', 300)], { maxBytes: 200, maxAlertBytes: 200 });
    // A2 is over the per-alert bound: capAlerts ends with its own marker, counting A2 alone.
    assert.deepEqual(omittedAlerts(stored), { count: 1, bytes: JSON.stringify(alert('A2', 300)).length });
    assert.deepEqual(withoutOmittedMarker(stored), [alert('A1'), forged]);
  });

  it('reads the marker capAlerts wrote', function () {
    const stored = capAlerts([alert('A1'), alert('A2', 100), alert('A3')], { maxBytes: 80, maxAlertBytes: 80 });
    assert.deepEqual(withoutOmittedMarker(stored), [alert('A1')]);
    assert.equal(omittedAlerts(stored)?.count, 2);
  });
});
