import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';

describe('database', function () {
  it('without DATABASE_URL: an embedded PGlite under the data dir, migrated idempotently, that keeps its data', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-data-'));
    try {
      const first = await openDatabase({ dataDir: dir, poolSize: 4 });
      assert.equal(first.embedded, true);
      assert.match(first.url, /^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
      const applied = await migrateToLatest(first.db);
      assert.ok(applied.length >= 1 && applied.every((r) => r.status === 'Success'), JSON.stringify(applied));
      assert.deepEqual(await migrateToLatest(first.db), [], 'a second run applies nothing');
      await first.db.insertInto('audit_log').values({ actor: 'test', action: 'probe', entity_type: 'test', entity_id: '1', before: null, after: JSON.stringify({ ok: true }) }).execute();
      await first.close();

      const again = await openDatabase({ dataDir: dir, poolSize: 4 });
      const rows = await again.db.selectFrom('audit_log').select(['actor', 'after']).execute();
      assert.deepEqual(rows, [{ actor: 'test', after: { ok: true } }]);
      const tables = await sql<{ n: number }>`select count(*)::int as n from information_schema.tables where table_schema = 'public'`.execute(again.db);
      assert.ok(tables.rows[0]!.n >= 12);
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('`npm run migrate` brings a database up to date and is safe to repeat', async function () {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-migrate-'));
    try {
      const env = { ...process.env, SELFHEAL_DATA_DIR: dir, DATABASE_URL: '' };
      for (let i = 0; i < 2; i++) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/migrate.ts'], { env, encoding: 'utf8', timeout: 60_000 });
        assert.equal(r.status, 0, r.stderr);
        assert.match(r.stdout, /database schema is up to date/);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
