// Migration 2027-01-14T00-00-list-filter-indexes: GET /api/tokens (newest first, all or live) and each filter
// of GET /api/audit (actor, action, entityType, entityId; newest first) read a page from an index ending in
// the list's order. Before, each read the whole table and sorted it, or the primary key from the newest on,
// filtering every entry. The plans are asked over thousands of rows, sequential scans discouraged.
import assert from 'node:assert/strict';
import { sql, type Kysely } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrateToLatest, migrations } from '../../src/db/migrate.js';
import { createEmptyDatabase } from '../helpers/db.js';

const INDEXES = '2027-01-14T00-00-list-filter-indexes';

// The statements of listTokens and listAudit (src/db/repositories/tokens.ts, audit.ts), as they page.
const QUERIES: [string, string, ReturnType<typeof sql>][] = [
  ['tokens, all', 'api_tokens_created_idx', sql`select * from api_tokens order by created_at desc, id desc limit 101`],
  ['tokens, live', 'api_tokens_live_created_idx', sql`select * from api_tokens where revoked_at is null and expires_at > now() order by created_at desc, id desc limit 101`],
  ['audit by actor', 'audit_log_actor_idx', sql`select id, coalesce(octet_length(before::text), 0) + coalesce(octet_length(after::text), 0) as bytes from audit_log where actor = 'token:ci' order by id desc limit 101`],
  ['audit by action', 'audit_log_action_idx', sql`select id, coalesce(octet_length(before::text), 0) + coalesce(octet_length(after::text), 0) as bytes from audit_log where action = 'rule.update' order by id desc limit 101`],
  ['audit by entityType', 'audit_log_entity_type_idx', sql`select id, coalesce(octet_length(before::text), 0) + coalesce(octet_length(after::text), 0) as bytes from audit_log where entity_type = 'rule' order by id desc limit 101`],
  ['audit by entityId', 'audit_log_entity_id_idx', sql`select id, coalesce(octet_length(before::text), 0) + coalesce(octet_length(after::text), 0) as bytes from audit_log where entity_id = 'r-1' order by id desc limit 101`],
];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function plan(db: Kysely<any>, query: ReturnType<typeof sql>): Promise<string> {
  return db.transaction().execute(async (trx) => {
    await sql`set local enable_seqscan = off`.execute(trx);
    const { rows } = await sql<{ 'QUERY PLAN': string }>`explain ${query}`.execute(trx);
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  });
}

describe(`migration ${INDEXES}: indexes for the filters of the token and audit lists`, function () {
  it('each filter of GET /api/tokens and GET /api/audit reads its page from an index in the list order; down drops them', async function () {
    const handle = await createEmptyDatabase({ poolSize: 2 });
    try {
      assert.ok(INDEXES in migrations, 'the migration is registered');
      const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < INDEXES));
      const migrator = (provided: typeof migrations) =>
        new Migrator({ db: handle.db, provider: { getMigrations: async () => provided }, migrationTableName: 'selfheal_migrations', migrationLockTableName: 'selfheal_migrations_lock' });
      assert.equal((await migrator(before).migrateToLatest()).error, undefined);
      // Enough rows that a filter's entries are a small part of the log (400 of 40,000 per value), as in a
      // log of many actors and actions, and a page a small part of the tokens.
      await sql`insert into api_tokens (id, name, token_hash, scopes, created_by, created_at, expires_at, revoked_at)
        select 't-' || i, 'token ' || i, md5(i::text), '{read}', 'admin-token', now() - make_interval(mins => i), now() + interval '30 days',
          case when i % 2 = 0 then now() end
        from generate_series(1, 4000) i`.execute(handle.db);
      await sql`insert into audit_log (actor, action, entity_type, entity_id)
        select 'token:actor-' || (i % 100), 'action.' || (i % 100), 'type-' || (i % 100), 'e-' || (i % 100)
        from generate_series(1, 40000) i`.execute(handle.db);
      await sql`update audit_log set actor = 'token:ci' where id % 100 = 0`.execute(handle.db);
      await sql`update audit_log set action = 'rule.update' where id % 100 = 1`.execute(handle.db);
      await sql`update audit_log set entity_type = 'rule' where id % 100 = 2`.execute(handle.db);
      await sql`update audit_log set entity_id = 'r-1' where id % 100 = 3`.execute(handle.db);
      await sql`analyze api_tokens`.execute(handle.db);
      await sql`analyze audit_log`.execute(handle.db);
      for (const [what, index, query] of QUERIES) assert.doesNotMatch(await plan(handle.db, query), new RegExp(index), `${what}: no such index before`);

      const applied = await migrateToLatest(handle.db);
      await sql`analyze api_tokens`.execute(handle.db);
      await sql`analyze audit_log`.execute(handle.db);
      assert.deepEqual(applied.map((r) => [r.migrationName, r.status]).filter(([n]) => n === INDEXES), [[INDEXES, 'Success']]);
      for (const [what, index, query] of QUERIES) {
        const text = await plan(handle.db, query);
        assert.match(text, new RegExp(`Index (Only )?Scan Backward using ${index}\\b`), `${what}:\n${text}`);
        assert.doesNotMatch(text, /\bSort\b/, `${what}: read in order, not sorted:\n${text}`);
      }

      const all = migrator(migrations);
      if (Object.keys(migrations).at(-1) === INDEXES) {
        assert.equal((await all.migrateDown()).error, undefined);
        const { rows } = await sql<{ indexname: string }>`select indexname from pg_indexes where indexname = any(${QUERIES.map((q) => q[1])}::text[])`.execute(handle.db);
        assert.deepEqual(rows, [], 'down drops every index it made');
        assert.equal((await all.migrateToLatest()).error, undefined);
      }
    } finally {
      await handle.close();
    }
  });
});
