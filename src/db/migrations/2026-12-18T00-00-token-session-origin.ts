import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// An admin cuts a user off by subject or by e-mail (DELETE /api/sessions). The tokens the user minted from a
// dashboard session were found only by the name the session acted under, and only while a session of theirs
// was still live: a token minted from a session that had since been signed out, or had timed out, outlived
// the cut-off. A token now records the session it was minted from (directly, or through tokens minted from
// it): its id, the provider (issuer) and subject of the user, and the e-mail address the session carried.
// Revoking by subject or e-mail finds these tokens whatever became of the session. Tokens issued before this
// migration have none, and are found by their creator's name as before.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('api_tokens')
    .addColumn('session_id', 'text')
    .addColumn('session_issuer', 'text')
    .addColumn('session_subject', 'text')
    .addColumn('session_email', 'text')
    .execute();
  await db.schema.createIndex('api_tokens_session_subject_idx').on('api_tokens').column('session_subject').execute();
  await db.schema.createIndex('api_tokens_session_email_idx').on('api_tokens').expression(sql`lower(session_email)`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['api_tokens_session_email_idx', 'api_tokens_session_subject_idx']) {
    await db.schema.dropIndex(name).ifExists().execute();
  }
  await db.schema.alterTable('api_tokens').dropColumn('session_email').dropColumn('session_subject').dropColumn('session_issuer').dropColumn('session_id').execute();
}
