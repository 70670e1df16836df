// The real API app in process over a test database, with the history helpers' title extractors and
// no Temporal behind it: for tests that seed incident history and read it back as several tokens.
import { randomUUID } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { createApp } from '../../src/api/app.js';
import { allRoutes } from '../../src/api/routes/index.js';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import type { TestDatabase } from './db.js';
import { TITLE_EXTRACTORS } from './history.js';

export type TokenCall = (token: string, method: string, path: string, body?: unknown) => Promise<{ status: number; text: string }>;

/** `call(token, method, path, body?)` on the app, the bootstrap admin token `admin`; the rate limit out of the way. */
export function historyApi(db: TestDatabase, admin: string): TokenCall {
  const config = loadConfig({ NODE_ENV: 'test', SELFHEAL_ADMIN_TOKEN: admin, DATABASE_URL: db.url, TEMPORAL_ADDRESS: '127.0.0.1:1', SELFHEAL_RATE_LIMIT_BURST: '100000' });
  const app = createApp({ config, db: db.db, temporal: {} as Client, logger: createLogger({ level: 'silent' }), extractors: TITLE_EXTRACTORS }, allRoutes);
  return async (token, method, path, body) => {
    const res = await app.request(path, { method, headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, text: await res.text() };
  };
}

/** Two new teams, `alpha…` and `beta…` with one random suffix, created by the admin. */
export async function twoTeams(call: TokenCall, admin: string): Promise<{ alpha: string; beta: string }> {
  const suffix = randomUUID().slice(0, 6);
  const teams = { alpha: `alpha${suffix}`, beta: `beta${suffix}` };
  for (const name of Object.values(teams)) {
    const res = await call(admin, 'POST', '/api/teams', { name });
    if (res.status !== 201) throw new Error(`team ${name}: ${res.status} ${res.text}`);
  }
  return teams;
}

/** A token the admin mints with team roles (`team:role`), its secret. */
export async function teamToken(call: TokenCall, admin: string, name: string, teams: string[]): Promise<string> {
  const res = await call(admin, 'POST', '/api/tokens', { name, teams });
  if (res.status !== 201) throw new Error(`token ${name}: ${res.status} ${res.text}`);
  return (JSON.parse(res.text) as { token: string }).token;
}
