import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// A token minted with another issued token (POST /api/tokens with an admin token) now records that token's
// id, and revoking a token (DELETE /api/tokens/{id}) revokes the live tokens minted with it, and those minted
// with them. Before, whoever held a leaked admin token could mint another one and keep it after the leaked
// token was revoked. Tokens minted before this migration record none, and are not revoked with their
// minter: GET /api/tokens shows them by `createdBy`.
//
// It also records the names of the person behind the token it was minted with (`minter_names`: that token's
// owner, and the names it inherited the same way), which the four-eyes rule of approvals counts as this
// token's names too: an admin holding a token issued to her could mint one without an owner and approve,
// with her own token or signed in, the shell command she saved with it.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_tokens')
    .addColumn('minted_with', 'text')
    .addColumn('minter_names', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .execute();
  await db.schema.createIndex('api_tokens_minted_with_idx').on('api_tokens').column('minted_with').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('api_tokens_minted_with_idx').ifExists().execute();
  await db.schema.alterTable('api_tokens').dropColumn('minter_names').dropColumn('minted_with').execute();
}
