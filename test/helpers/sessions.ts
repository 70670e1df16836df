// A dashboard session as single sign-on would leave it, written straight to Postgres: for tests of what a
// signed-in user may do, without a browser round trip through the provider (test/security/sso.test.ts
// covers the sign-in itself).
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { createApp } from '../../src/api/app.js';
import { hashToken } from '../../src/api/auth.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { csrfTokenFor, newSecret } from '../../src/api/session.js';
import type { Database } from '../../src/db/database.js';
import { insertSession } from '../../src/db/repositories/sessions.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from './db.js';
import { ADMIN_TOKEN } from './stack.js';

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

/** The public address and the provider's issuer of the deployments ssoApp builds. */
export const SSO_ORIGIN = 'https://selfheal.example.com';
export const SSO_ISSUER = 'https://login.example.com/realms/sre';

/**
 * The API of a deployment with single sign-on on `db` (`OIDC_ROLE_MAP` and any other setting in `env`),
 * for tests whose sessions are inserted (insertTestSession): the provider and Temporal are never reached.
 */
export function ssoApp(db: TestDatabase, env: Record<string, string> & { OIDC_ROLE_MAP: string }): ReturnType<typeof createApp> {
  const config = loadConfig({
    NODE_ENV: 'test',
    SELFHEAL_ADMIN_TOKEN: ADMIN_TOKEN,
    DATABASE_URL: db.url,
    TEMPORAL_ADDRESS: '127.0.0.1:1',
    SELFHEAL_PUBLIC_URL: SSO_ORIGIN,
    OIDC_ISSUER_URL: SSO_ISSUER,
    OIDC_CLIENT_ID: 'selfheal',
    OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
    ...env,
  });
  return createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }) }, allRoutes);
}
