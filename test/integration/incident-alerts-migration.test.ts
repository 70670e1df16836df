// Migration 2027-01-07T00-00-incident-alerts-capped: incidents stored before the alerts were capped (up to
// 50 alerts of PagerDuty's 512 KB, 25 MB on one row that every reader reads whole) are capped as new rows
// are: at most 1 MiB of JSON, in PagerDuty's order, with the marker counting what was left out.
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrateToLatest, migrations } from '../../src/db/migrate.js';
import { jsonBytes } from '../../src/domain/text.js';
import { MAX_STORED_ALERTS_BYTES, OMITTED_ALERTS_TYPE, omittedAlerts, recapStoredAlerts, withoutOmittedMarker } from '../../src/domain/stored-alerts.js';
import { createEmptyDatabase } from '../helpers/db.js';

const CAPPED = '2027-01-07T00-00-incident-alerts-capped';

const alert = (id: string, bytes: number) => ({ id, type: 'alert', body: { details: { log: 'x'.repeat(bytes) } } });

describe('migration 2027-01-07T00-00-incident-alerts-capped: alerts stored before the cap', function () {
  it('caps every legacy row over 1 MiB as capAlerts would, keeps rows within it untouched, and merges an existing marker', async function () {
    const handle = await createEmptyDatabase({ poolSize: 2 });
    try {
      assert.ok(CAPPED in migrations, 'the migration is registered');
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < CAPPED));
      const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => before }, migrationTableName: 'selfheal_migrations', migrationLockTableName: 'selfheal_migrations_lock' });
      assert.equal((await migrator.migrateToLatest()).error, undefined);

      const insert = (id: string, alerts: unknown) =>
        sql`insert into incidents (id, status, workflow_id, alerts) values (${id}, 'triggered', ${'incident-' + id}, ${alerts === null ? null : JSON.stringify(alerts)}::jsonb)`.execute(handle.db);
      // 50 alerts of 300 KB: 15 MB, as the server of that time stored it.
      const big = Array.from({ length: 50 }, (_, i) => alert(`A${i}`, 300_000));
      // More rows over the cap than one batch of the migration reads (50), ids interleaved with small ones.
      for (let i = 0; i < 60; i++) await insert(`PBIG${String(i).padStart(3, '0')}`, big.slice(0, 4));
      await insert('PHUGE', big);
      await insert('PSMALL', [alert('S1', 1000), alert('S2', 1000)]);
      await insert('PNULL', null);
      await insert('PODD', { not: 'an array' });
      // Stored with a marker already, and still over (under older, looser limits): the counts add up.
      const marked = [...big.slice(0, 5), { type: OMITTED_ALERTS_TYPE, omitted: 7, omittedBytes: 123 }];
      await insert('PMARKED', marked);

      const applied = await migrateToLatest(handle.db);
      assert.deepEqual(applied.map((r) => [r.migrationName, r.status]).filter(([n]) => n === CAPPED), [[CAPPED, 'Success']]);

      const read = async (id: string) => (await sql<{ alerts: unknown }>`select alerts from incidents where id = ${id}`.execute(handle.db)).rows[0]!.alerts;
      const huge = (await read('PHUGE')) as unknown[];
      assert.ok(jsonBytes(huge) <= MAX_STORED_ALERTS_BYTES + 200, `capped to ${jsonBytes(huge)} bytes`);
      const kept = withoutOmittedMarker(huge);
      assert.deepEqual(kept.map((a) => (a as { id: string }).id), ['A0', 'A1', 'A2'], 'the oldest alerts, in order');
      assert.deepEqual(omittedAlerts(huge), { count: 47, bytes: big.slice(3).reduce((n, a) => n + jsonBytes(a), 0) });
      for (let i = 0; i < 60; i++) {
        const row = (await read(`PBIG${String(i).padStart(3, '0')}`)) as unknown[];
        assert.equal(omittedAlerts(row)?.count, 1, `PBIG${i} capped`);
      }
      const reMarked = (await read('PMARKED')) as unknown[];
      assert.equal(withoutOmittedMarker(reMarked).length, 3);
      assert.deepEqual(omittedAlerts(reMarked), { count: 7 + 2, bytes: 123 + jsonBytes(big[3]) + jsonBytes(big[4]) });
      assert.deepEqual(await read('PSMALL'), [alert('S1', 1000), alert('S2', 1000)]);
      assert.equal(await read('PNULL'), null);
      assert.deepEqual(await read('PODD'), { not: 'an array' });
    } finally {
      await handle.close();
    }
  });

  it('recapStoredAlerts leaves alerts within the limits alone (undefined) and never counts the marker as an alert', function () {
    const limits = { maxBytes: 1000, maxAlertBytes: 1000 };
    assert.equal(recapStoredAlerts([alert('a', 100)], limits), undefined);
    const marker = { type: OMITTED_ALERTS_TYPE, omitted: 2, omittedBytes: 5000 };
    assert.equal(recapStoredAlerts([alert('a', 100), marker], limits), undefined);
    const out = recapStoredAlerts([alert('a', 600), alert('b', 600), marker], limits)!;
    assert.deepEqual(out, [alert('a', 600), { type: OMITTED_ALERTS_TYPE, omitted: 3, omittedBytes: 5000 + jsonBytes(alert('b', 600)) }]);
  });
});
