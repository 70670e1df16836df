import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrate.js';
import { onTeardown } from './shared.js';

export interface TestDatabase extends DatabaseHandle {
  /** Drop every row (between tests), keeping the schema. */
  truncate(): Promise<void>;
}

/**
 * A fresh database with no schema: a new database on the Postgres server of DATABASE_URL (CI), dropped when
 * closed; else an embedded PGlite in a temp directory, removed when closed. Migration tests start here.
 */
export async function createEmptyDatabase(opts: { poolSize?: number } = {}): Promise<DatabaseHandle> {
  const base = process.env.DATABASE_URL;
  const poolSize = opts.poolSize ?? 10;
  let handle: DatabaseHandle;
  let cleanup: () => Promise<void>;
  if (base) {
    const name = `selfheal_test_${Date.now()}_${randomBytes(3).toString('hex')}`;
    const admin = new pg.Client({ connectionString: base });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(base);
    url.pathname = `/${name}`;
    handle = await openDatabase({ url: url.toString(), dataDir: '', poolSize });
    cleanup = async () => {
      const a = new pg.Client({ connectionString: base });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    };
  } else {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'selfheal-pglite-'));
    handle = await openDatabase({ dataDir: dir, poolSize });
    cleanup = () => rm(dir, { recursive: true, force: true });
  }
  let closed = false;
  return {
    ...handle,
    async close() {
      if (closed) return;
      closed = true;
      await handle.close();
      await cleanup();
    },
  };
}

/** A fresh, migrated database (see createEmptyDatabase), closed at teardown at the latest. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const handle = await createEmptyDatabase();
  await migrateToLatest(handle.db);
  const close = () => handle.close();
  onTeardown(close);
  return {
    ...handle,
    close,
    async truncate() {
      await handle.pool.query(
        'TRUNCATE incidents, incident_events, environments, rules, rule_versions, rule_matches, action_runs, jobs, job_runs, job_target_results, api_tokens, audit_log, target_leases RESTART IDENTITY CASCADE',
      );
    },
  };
}
