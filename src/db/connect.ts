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

/**
 * Real Postgres when a URL is given. Without one, an embedded PGlite persisted under `dataDir`,
 * served over the Postgres wire protocol on loopback so the very same pg + Kysely code runs.
 */
export async function openDatabase(opts: { url?: string; dataDir: string; poolSize?: number }): Promise<DatabaseHandle> {
  if (opts.url) {
    const pool = resilientPool(opts.url, opts.poolSize ?? 10);
    const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
    return { db, pool, url: opts.url, embedded: false, close: () => db.destroy() };
  }
  return openEmbedded(opts.dataDir, opts.poolSize ?? 10);
}

async function openEmbedded(dataDir: string, poolSize: number): Promise<DatabaseHandle> {
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
  const pool = resilientPool(url, 1);
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
function resilientPool(url: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  const ignore = () => {};
  pool.on('error', ignore);
  pool.on('connect', (client) => client.on('error', ignore));
  return pool;
}
