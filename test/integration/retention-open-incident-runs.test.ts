// README (SELFHEAL_RETENTION_DAYS) and docs/guarantees.md promise that an incident not resolved is kept
// whole: its workflow still waits for the resolve. The purge kept such an incident's row and events but took
// its finished action runs (by age and finished_at only) and then its rule matches (those with no action run
// left), whatever the incident's status: an incident open longer than the retention lost from its page the
// record of what automation already did on it, while its approvals might still wait, and the resolve that
// came later found no match to score. Driven with the real purge against the database.
import assert from 'node:assert/strict';
import { listActionRuns, listEvents, listMatches } from '../../src/db/repositories/incidents.js';
import { purgeHistoryBefore } from '../../src/db/repositories/retention.js';
import { inTransaction } from '../../src/db/repositories/transactions.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { insertRule, newServiceId } from '../helpers/rules.js';
import { newIncidentId } from '../helpers/samples.js';

const DAY = 86_400_000;

describe('retention keeps an open incident whole, its matches and action runs included', function () {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase();
  });
  after(async () => db?.close());

  /** An incident of `status` with one event, one `run` match and one finished action run, all 100 days old. */
  async function oldIncident(status: string): Promise<string> {
    const ruleId = await insertRule(db.db, {
      name: `retention-open-${status}`,
      services: [newServiceId()],
      actions: [{ id: 'note', type: 'pagerduty.note', content: 'looked at it' }],
    } as never);
    const incidentId = newIncidentId();
    const old = new Date(Date.now() - 100 * DAY);
    await db.db
      .insertInto('incidents')
      .values({ id: incidentId, status, title: 'Disk full', workflow_id: `incident-${incidentId}`, created_at: old, updated_at: old, last_event_at: old } as never)
      .execute();
    await db.db
      .insertInto('incident_events')
      .values({ event_id: `E-${incidentId}`, incident_id: incidentId, event_type: 'incident.triggered', resource_type: 'incident', payload: '{}', occurred_at: old, received_at: old } as never)
      .execute();
    const match = await db.db
      .insertInto('rule_matches')
      .values({ incident_id: incidentId, event_id: `E-${incidentId}`, rule_id: ruleId, rule_name: `retention-open-${status}`, explanation: '{}', rule_version: 1, decision: 'run', matched_at: old } as never)
      .returning('id')
      .executeTakeFirstOrThrow();
    const runId = `AR-${incidentId}`;
    await db.db
      .insertInto('action_runs')
      .values({ id: runId, idempotency_key: runId, incident_id: incidentId, match_id: String(match.id), rule_id: ruleId, rule_version: 1, action_index: 0, action_id: 'note', action_type: 'pagerduty.note', status: 'succeeded', created_at: old, started_at: old, finished_at: old } as never)
      .execute();
    return incidentId;
  }

  async function kept(incidentId: string): Promise<{ events: number; actionRuns: number; matches: number }> {
    return {
      events: (await listEvents(db.db, incidentId, 10)).items.length,
      actionRuns: (await listActionRuns(db.db, incidentId, 10)).items.length,
      matches: (await listMatches(db.db, incidentId, 10)).items.length,
    };
  }

  it('an incident still triggered, 100 days old, retention 90: its event, match and finished action run stay; resolved and unknown ones go', async function () {
    const open = await oldIncident('triggered');
    const acknowledged = await oldIncident('acknowledged');
    const resolved = await oldIncident('resolved');
    // Retention treats `unknown` (only notes ever heard of it) as resolved, for its events as for the rest.
    const unknown = await oldIncident('unknown');

    // SELFHEAL_RETENTION_DAYS=90, purge run to the end.
    const cutoff = new Date(Date.now() - 90 * DAY);
    for (let i = 0; i < 10; i++) await inTransaction(db.db, (trx) => purgeHistoryBefore(trx, cutoff, 1000));

    const whole = { events: 1, actionRuns: 1, matches: 1 };
    assert.deepEqual(await kept(open), whole, 'the purge took records of an incident still triggered');
    assert.deepEqual(await kept(acknowledged), whole, 'the purge took records of an incident acknowledged');
    const gone = { events: 0, actionRuns: 0, matches: 0 };
    assert.deepEqual(await kept(resolved), gone);
    assert.deepEqual(await kept(unknown), gone);
    const rows = await db.db.selectFrom('incidents').select('id').where('id', 'in', [open, acknowledged, resolved, unknown]).execute();
    assert.deepEqual(rows.map((r) => r.id).sort(), [open, acknowledged].sort());
  });
});
