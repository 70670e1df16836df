// A dashboard session as single sign-on would leave it, written straight to Postgres: for tests of what a
// signed-in user may do, without a browser round trip through the provider (test/security/sso.test.ts
// covers the sign-in itself).
import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { hashToken } from '../../src/api/auth.js';
import { csrfTokenFor, newSecret } from '../../src/api/session.js';
import type { Database } from '../../src/db/database.js';
import { insertSession } from '../../src/db/repositories/sessions.js';

export interface TestSession {
  id: string;
  /** The Cookie header's value. */
  cookie: string;
  /** The X-CSRF-Token a write needs. */
  csrf: string;
}

/** A live session of `actor` (groups as OIDC_ROLE_MAP maps them: the caller passes both). */
export async function insertTestSession(
  db: Kysely<Database>,
  s: { issuer: string; actor: string; subject?: string; email?: string | null; scopes: string[]; groups: string[] },
): Promise<TestSession> {
  const id = randomUUID();
  const secret = newSecret();
  await insertSession(db, {
    id,
    secretHash: hashToken(secret),
    issuer: s.issuer,
    subject: s.subject ?? s.actor,
    actor: s.actor,
    email: s.email ?? null,
    name: null,
    scopes: s.scopes,
    groups: s.groups,
    idTokenSealed: null,
    maxAgeSeconds: 3600,
    idleTimeoutSeconds: 3600,
  });
  return { id, cookie: `__Host-selfheal-session=${secret}`, csrf: csrfTokenFor(secret) };
}
