import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// teams (issue 24): rules, environments and jobs belong to a team; API tokens hold roles per team
// (viewer, editor, approver, admin); the audit log records the team of each change next to its actor.
// Every existing rule, environment and job, and the audit rows about them, move to the team `default`,
// which this migration creates. The columns are added nullable, backfilled, then made NOT NULL; their
// default stays `default` so that writers predating teams keep working.

const OWNED = ['rules', 'environments', 'jobs'] as const;

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('teams')
    .addColumn('name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await db
    .insertInto('teams')
    .values({ name: 'default', description: 'Objects that existed before teams, and tokens without team memberships', created_by: 'migration' })
    .execute();

  for (const table of OWNED) {
    await db.schema.alterTable(table).addColumn('team', 'text', (c) => c.references('teams.name')).execute();
    await db.updateTable(table).set({ team: 'default' }).where('team', 'is', null).execute();
    await db.schema.alterTable(table).alterColumn('team', (c) => c.setNotNull()).execute();
    await db.schema.alterTable(table).alterColumn('team', (c) => c.setDefault('default')).execute();
    await db.schema.createIndex(`${table}_team_idx`).on(table).column('team').execute();
  }

  await db.schema
    .createTable('team_memberships')
    .addColumn('token_id', 'text', (c) => c.notNull().references('api_tokens.id').onDelete('cascade'))
    .addColumn('team', 'text', (c) => c.notNull().references('teams.name').onDelete('cascade'))
    .addColumn('role', 'text', (c) => c.notNull().check(sql`role in ('viewer', 'editor', 'approver', 'admin')`))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('team_memberships_pk', ['token_id', 'team', 'role'])
    .execute();
  await db.schema.createIndex('team_memberships_team_idx').on('team_memberships').column('team').execute();

  // null: a change that belongs to no team (tokens, teams' own creation is recorded under its name).
  await db.schema.alterTable('audit_log').addColumn('team', 'text').execute();
  await db
    .updateTable('audit_log')
    .set({ team: 'default' })
    .where('entity_type', 'in', ['rule', 'environment', 'job'])
    .execute();
  await db.schema.createIndex('audit_log_team_idx').on('audit_log').columns(['team', 'id']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('audit_log').dropColumn('team').execute();
  await db.schema.dropTable('team_memberships').ifExists().execute();
  for (const table of OWNED) await db.schema.alterTable(table).dropColumn('team').execute();
  await db.schema.dropTable('teams').ifExists().execute();
}
