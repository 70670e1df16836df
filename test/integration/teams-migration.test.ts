import assert from 'node:assert/strict';
import { Migrator } from 'kysely/migration';
import { migrateToLatest, migrations } from '../../src/db/migrate.js';
import { createEmptyDatabase } from '../helpers/db.js';

const TEAMS = '2026-12-10T00-00-teams';

/** A database with every migration before the teams one: a new database on DATABASE_URL's server, else an embedded PGlite. */
async function databaseBeforeTeams() {
  const handle = await createEmptyDatabase({ poolSize: 2 });
  const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < TEAMS));
  assert.ok(TEAMS in migrations, 'the teams migration is registered');
  const migrator = new Migrator({ db: handle.db, provider: { getMigrations: async () => before }, migrationTableName: 'selfheal_migrations', migrationLockTableName: 'selfheal_migrations_lock' });
  assert.equal((await migrator.migrateToLatest()).error, undefined);
  return { handle, close: () => handle.close() };
}

describe('migration 2026-12-10T00-00-teams: existing objects move to the default team', function () {
  it('backfills rules, environments, jobs and their audit rows to "default", then requires a team', async function () {
    const { handle, close } = await databaseBeforeTeams();
    try {
      // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the schema before this migration has no team columns
      const db = handle.db as any;
      await db.insertInto('environments').values({ name: 'legacy-env', labels: '{}', maintenance_windows: '[]' }).execute();
      const def = { name: 'legacy-rule', actions: [] };
      await db.insertInto('rules').values({ id: 'r1', name: 'legacy-rule', version: 1, enabled: true, definition: JSON.stringify(def) }).execute();
      await db.insertInto('jobs').values({ id: 'j1', name: 'legacy job', definition: '{}', enabled: true, schedule_id: 'job-j1' }).execute();
      await db.insertInto('api_tokens').values({ id: 't1', name: 'ci', token_hash: 'h', scopes: ['write'], created_by: 'admin-token', expires_at: new Date(Date.now() + 86_400_000) }).execute();
      for (const [type, id] of [['rule', 'r1'], ['environment', 'legacy-env'], ['job', 'j1'], ['token', 't1']]) {
        await db.insertInto('audit_log').values({ actor: 'token:ci', action: `${type}.create`, entity_type: type, entity_id: id }).execute();
      }

      const applied = await migrateToLatest(handle.db);
      assert.deepEqual(applied.find((r) => r.migrationName === TEAMS)?.status, 'Success');
      assert.ok(applied.every((r) => r.migrationName >= TEAMS), 'only the teams migration and later ones ran');

      const teams = await handle.db.selectFrom('teams').select(['name', 'created_by']).execute();
      assert.deepEqual(teams, [{ name: 'default', created_by: 'migration' }]);
      assert.equal((await handle.db.selectFrom('rules').select('team').where('id', '=', 'r1').executeTakeFirstOrThrow()).team, 'default');
      assert.equal((await handle.db.selectFrom('environments').select('team').where('name', '=', 'legacy-env').executeTakeFirstOrThrow()).team, 'default');
      assert.equal((await handle.db.selectFrom('jobs').select('team').where('id', '=', 'j1').executeTakeFirstOrThrow()).team, 'default');
      const audit = await handle.db.selectFrom('audit_log').select(['entity_type', 'team', 'actor']).orderBy('id').execute();
      assert.deepEqual(audit, [
        { entity_type: 'rule', team: 'default', actor: 'token:ci' },
        { entity_type: 'environment', team: 'default', actor: 'token:ci' },
        { entity_type: 'job', team: 'default', actor: 'token:ci' },
        { entity_type: 'token', team: null, actor: 'token:ci' },
      ]);
      assert.deepEqual(await handle.db.selectFrom('team_memberships').selectAll().execute(), [], 'old tokens get no membership: they act on the default team by their scopes');

      // From now on every object has a team that exists.
      await assert.rejects(db.updateTable('rules').set({ team: null }).where('id', '=', 'r1').execute(), /null value|not-null/i);
      await assert.rejects(db.updateTable('jobs').set({ team: 'nobody' }).where('id', '=', 'j1').execute(), /foreign key/i);
      await db.insertInto('environments').values({ name: 'written-before-teams', labels: '{}', maintenance_windows: '[]' }).execute();
      assert.equal((await handle.db.selectFrom('environments').select('team').where('name', '=', 'written-before-teams').executeTakeFirstOrThrow()).team, 'default', 'a writer unaware of teams lands in default');
      assert.deepEqual(await migrateToLatest(handle.db), [], 'a second run applies nothing');
    } finally {
      await close();
    }
  });
});
