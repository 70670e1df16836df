import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The four-eyes rule of approvals (src/services/approvals.ts) compares the approver with the author of the
// rule version that planned the action. Two columns let it see one person behind two names:
// - api_tokens.owner: the person a token is issued to (`user:<email>` or `user:<sub>`, as they are named
//   when they sign in), set only when an admin says so; a token acting is also known under that name.
// - rule_versions.actor_aliases: the other names the version's author was known under when they saved it
//   (a token's owner; a signed-in user's `user:<sub>` and `user:<email>`). Versions written before this
//   migration have none, and compare by their `actor` alone, as before.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('owner', 'text').execute();
  await db.schema
    .alterTable('rule_versions')
    .addColumn('actor_aliases', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('rule_versions').dropColumn('actor_aliases').execute();
  await db.schema.alterTable('api_tokens').dropColumn('owner').execute();
}
