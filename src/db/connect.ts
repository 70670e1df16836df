import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './database.js';

export interface DatabaseHandle {
  db: Kysely<Database>;
  pool: pg.Pool;
  /** The URL other components (or processes) can use to reach this database. */
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

// timestamptz → Date (pg default); bigint ids stay strings (pg default) so they never lose precision.

/** DATABASE_CONNECT_TIMEOUT_MS and DATABASE_STATEMENT_TIMEOUT_MS defaults (src/config.ts), used when not given. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

export interface OpenDatabaseOptions {
  url?: string | undefined;
  dataDir: string;
  poolSize?: number;
  /** How long to wait for a connection, new or free in the pool (then the query fails). */
  connectTimeoutMs?: number;
  /** How long one statement may run before Postgres cancels it (statement_timeout of every session). */
  statementTimeoutMs?: number;
}

/**
 * Real Postgres when a URL is given. Without one, an embedded PGlite persisted under `dataDir`,
 * served over the Postgres wire protocol on loopback so the very same pg + Kysely code runs.
 * Every pool has a connect timeout and a statement timeout: a hung or locked database fails calls
 * instead of holding them (and the pool) forever.
 */
export async function openDatabase(opts: OpenDatabaseOptions): Promise<DatabaseHandle> {
  const timeouts = { connectTimeoutMs: opts.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, statementTimeoutMs: opts.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS };
  if (opts.url) {
    const pool = resilientPool(opts.url, opts.poolSize ?? 10, timeouts);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, pool, url: opts.url, embedded: false, close: () => db.destroy() };
  }
  return openEmbedded(opts.dataDir, opts.poolSize ?? 10, timeouts);
}

interface Timeouts {
  connectTimeoutMs: number;
  statementTimeoutMs: number;
}

async function openEmbedded(dataDir: string, poolSize: number, timeouts: Timeouts): Promise<DatabaseHandle> {
  const { PGlite } = await import('@electric-sql/pglite');
  const { PGLiteSocketServer } = await import('@electric-sql/pglite-socket');
  const dir = path.resolve(dataDir, 'pglite');
  await mkdir(dir, { recursive: true });
  const lite = await PGlite.create({ dataDir: dir });
  const server = new PGLiteSocketServer({ db: lite, host: '127.0.0.1', port: 0, maxConnections: poolSize + 4 });
  await server.start();
  const url = `postgres://postgres@${server.getServerConn()}/postgres`;
  // One connection: PGlite is a single session, and pglite-socket interleaves the protocol messages of
  // concurrent connections outside a transaction (an unnamed portal of one is replaced by another's:
  // "portal does not exist", queries answered out of turn). Queries queue in the pool instead.
  const pool = resilientPool(url, 1, timeouts);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  return {
    db,
    pool,
    url,
    embedded: true,
    async close() {
      await db.destroy();
      await server.stop();
      await lite.close();
    },
  };
}

/**
 * A pool that survives Postgres going away. pg emits 'error' on a client whose connection drops; the
 * pool listens only on idle clients, so a checked-out client's error would crash the process. Every
 * client gets a listener: the failed query rejects on its own and the pool discards the client.
 */
function resilientPool(url: string, max: number, timeouts: Timeouts): pg.Pool {
  const pool = new pg.Pool({
    connectionString: url,
    max,
    connectionTimeoutMillis: timeouts.connectTimeoutMs,
    statement_timeout: timeouts.statementTimeoutMs,
    keepAlive: true,
  });
  const ignore = () => {};
  pool.on('error', ignore);
  pool.on('connect', (client) => client.on('error', ignore));
  return pool;
}
