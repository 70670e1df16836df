import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// An admin cuts a user off by subject or by e-mail (DELETE /api/sessions, revokeOwnerSessions in
// src/db/repositories/sessions.ts): each finds the user's sessions through one of these indexes instead of
// reading the whole table. The e-mail is compared in any case, so its index is on lower(email), the
// expression the query filters by.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('auth_sessions_subject_idx').on('auth_sessions').column('subject').execute();
  await db.schema.createIndex('auth_sessions_email_idx').on('auth_sessions').expression(sql`lower(email)`).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['auth_sessions_email_idx', 'auth_sessions_subject_idx']) {
    await db.schema.dropIndex(name).ifExists().execute();
  }
}
