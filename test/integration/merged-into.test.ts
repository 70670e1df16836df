// A merge is no proof (workflows/verify.ts): the resolve that closed the incident names why in
// `resolve_reason`, whose only type in PagerDuty's schema (test/fixtures/pagerduty/openapi, ResolveReason) is
// merge_resolve_reason, also its default. The merged-into incident's id goes into the verification detail,
// so only a PagerDuty id is kept there.
import assert from 'node:assert/strict';
import { createIncidentSteps } from '../../activities/incidents.js';
import { createVerificationActivities } from '../../activities/verification.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { newIncidentId, sampleFor } from '../helpers/samples.js';
import { messageOf } from '../helpers/workers.js';

describe('a merged incident: resolve_reason read from its resolve', function () {
  let db: TestDatabase;
  const logger = createLogger({ level: 'silent' });
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => {
    await db?.close();
  });

  const resolvedWith = async (resolveReason: unknown) => {
    const steps = createIncidentSteps({ db: db.db, logger, extractors: { extractors: [] } });
    const id = newIncidentId();
    await steps.recordEvent(messageOf(sampleFor('v3-incident.triggered-01.json', id, { occurredAt: '2026-09-01T10:00:00Z' })), 'run');
    const data = resolveReason === undefined ? {} : { resolve_reason: resolveReason };
    await steps.recordEvent(messageOf(sampleFor('v3-incident.resolved-01.json', id, { occurredAt: '2026-09-01T10:02:00Z', data })), 'run');
    return createVerificationActivities({ db: db.db, logger }).incidentResolution({ incidentId: id });
  };

  it('any resolve_reason that is not null is a merge, whatever its type; none or null is not', async function () {
    assert.equal((await resolvedWith({ type: 'merge_resolve_reason', incident: { id: 'PMERGED1', type: 'incident_reference' } })).merged, 'PMERGED1');
    // The type is the default and may be left out; a type PagerDuty adds later is still no proof.
    assert.equal((await resolvedWith({ incident: { id: 'PMERGED2' } })).merged, 'PMERGED2');
    assert.equal((await resolvedWith({ type: 'some_future_reason' })).merged, '');
    assert.equal((await resolvedWith({})).merged, '');
    const plain = await resolvedWith(undefined);
    assert.equal(plain.resolved, true);
    assert.equal(plain.merged, undefined);
    assert.equal((await resolvedWith(null)).merged, undefined);
  });

  it('the merged-into id is kept only when it is a PagerDuty id: a hostile one is left out', async function () {
    for (const hostile of ['PABC\nverified', '<b>P1</b>', 'P'.repeat(10_000), 'PAB C', '', 42, { id: 'P1' }]) {
      const r = await resolvedWith({ type: 'merge_resolve_reason', incident: { id: hostile } });
      assert.equal(r.merged, '', `kept ${JSON.stringify(hostile).slice(0, 60)}`);
    }
    assert.equal((await resolvedWith({ type: 'merge_resolve_reason', incident: 'PMERGED3' })).merged, '');
  });
});
