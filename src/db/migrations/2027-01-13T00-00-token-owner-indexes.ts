import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// Cutting a user off (DELETE /api/sessions) finds the tokens that are theirs, whatever their state, by owner
// (`user:<subject>` exactly, or `user:<email>` in any case), by creator (`created_by`: the same names, or the
// names their sessions acted under) and by the session they were minted from (indexed since 2026-12-18).
// Owner and creator had no index: each cut-off read every token ever issued (tokens are never deleted). With
// these, each arm of that OR is an index scan.

const INDEXES = ['api_tokens_owner_idx', 'api_tokens_owner_lower_idx', 'api_tokens_created_by_idx', 'api_tokens_created_by_lower_idx'];

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('api_tokens_owner_idx').on('api_tokens').column('owner').execute();
  await db.schema.createIndex('api_tokens_owner_lower_idx').on('api_tokens').expression(sql`lower(owner)`).execute();
  await db.schema.createIndex('api_tokens_created_by_idx').on('api_tokens').column('created_by').execute();
  await db.schema.createIndex('api_tokens_created_by_lower_idx').on('api_tokens').expression(sql`lower(created_by)`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of INDEXES) await db.schema.dropIndex(name).ifExists().execute();
}
