import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
// Dashboard sessions of single sign-on (src/api/session.ts): the browser holds a random secret in an
// HttpOnly cookie; only its SHA-256 is kept here, so this table cannot be replayed as credentials. The ID
// token (for the provider's logout) is sealed under a key derived from that secret, which is not here.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  const now = sql`now()`;
  await db.schema
    .createTable('auth_sessions')
    .addColumn('id', 'text', (c) => c.primaryKey()) // public id: audit entries name it, never the secret
    .addColumn('secret_hash', 'text', (c) => c.notNull().unique())
    .addColumn('issuer', 'text', (c) => c.notNull())
    .addColumn('subject', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull()) // user:<email or sub>
    .addColumn('email', 'text')
    .addColumn('name', 'text')
    .addColumn('scopes', sql`text[]`, (c) => c.notNull())
    .addColumn('groups', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`)) // the mapped groups that gave the scopes
    .addColumn('id_token_sealed', 'text') // AES-GCM under a key derived from the cookie's secret: only the browser's cookie opens it
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('last_seen_at', 'timestamptz', (c) => c.notNull().defaultTo(now))
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('idle_timeout_seconds', 'integer', (c) => c.notNull())
    .addColumn('revoked_at', 'timestamptz')
    .execute();
  await db.schema.createIndex('auth_sessions_expires_idx').on('auth_sessions').column('expires_at').execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('auth_sessions').execute();
}
