import type { Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// A token minted with another issued token (POST /api/tokens with an admin token) now records that token's
// id, and revoking a token (DELETE /api/tokens/{id}) revokes the live tokens minted with it, and those minted
// with them. Before, whoever held a leaked admin token could mint another one and keep it after the leaked
// token was revoked. Tokens minted before this migration record none, and are not revoked with their
// minter: GET /api/tokens shows them by `createdBy`.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('api_tokens').addColumn('minted_with', 'text').execute();
  await db.schema.createIndex('api_tokens_minted_with_idx').on('api_tokens').column('minted_with').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('api_tokens_minted_with_idx').ifExists().execute();
  await db.schema.alterTable('api_tokens').dropColumn('minted_with').execute();
}
