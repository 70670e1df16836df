// Postgres writes of a stretch of the bench, from the bench database's statistics (pg_stat_database and
// pg_stat_user_tables, which every PostgreSQL keeps; no extension needed): transactions committed and
// rows inserted, updated and deleted, by table. Backends flush these counters within about a second, so
// the second snapshot waits for that first.
import { sleep } from './lib.js';
import type { BenchStack } from './stack.js';

export interface PgCounters {
  transactions: number;
  /** Commits of Temporal's own database, when it is on this Postgres (BENCH_TEMPORAL=postgres). */
  temporalTransactions?: number;
  tables: Record<string, { inserted: number; updated: number; deleted: number }>;
}

export interface PgWrites {
  /** Commits of Temporal's persistence (BENCH_TEMPORAL=postgres): its state transitions and queue work. */
  temporalTransactions?: number;
  /** Transactions committed, less the bench's own read-only polling queries. */
  transactions: number;
  rowsWritten: number;
  byTable: Record<string, number>;
}

export async function pgCounters(stack: BenchStack): Promise<PgCounters> {
  const pool = stack.database.pool;
  const db = await pool.query<{ xact_commit: string }>('SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()');
  const tables = await pool.query<{ relname: string; n_tup_ins: string; n_tup_upd: string; n_tup_del: string }>(
    'SELECT relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables',
  );
  const temporalDb = stack.server.databaseName;
  const temporal = temporalDb ? await pool.query<{ xact_commit: string }>('SELECT xact_commit FROM pg_stat_database WHERE datname = $1', [temporalDb]) : undefined;
  return {
    ...(temporal?.rows[0] ? { temporalTransactions: Number(temporal.rows[0].xact_commit) } : {}),
    transactions: Number(db.rows[0]?.xact_commit ?? 0),
    tables: Object.fromEntries(tables.rows.map((r) => [r.relname, { inserted: Number(r.n_tup_ins), updated: Number(r.n_tup_upd), deleted: Number(r.n_tup_del) }])),
  };
}

/** Snapshot after the counters are flushed. */
export async function pgCountersSettled(stack: BenchStack): Promise<PgCounters> {
  await sleep(1500);
  return pgCounters(stack);
}

/**
 * Writes between two snapshots. `ownQueries` is how many statements the bench itself ran on the database
 * in between (its polling, the two snapshots' own), each its own transaction.
 */
export function pgWritesBetween(before: PgCounters, after: PgCounters, ownQueries: number): PgWrites {
  const byTable: Record<string, number> = {};
  let rowsWritten = 0;
  for (const [name, t] of Object.entries(after.tables)) {
    const b = before.tables[name] ?? { inserted: 0, updated: 0, deleted: 0 };
    const n = t.inserted - b.inserted + (t.updated - b.updated) + (t.deleted - b.deleted);
    if (n > 0) byTable[name] = n;
    rowsWritten += n;
  }
  const temporal = before.temporalTransactions !== undefined && after.temporalTransactions !== undefined ? { temporalTransactions: after.temporalTransactions - before.temporalTransactions } : {};
  return { ...temporal, transactions: Math.max(0, after.transactions - before.transactions - ownQueries), rowsWritten, byTable };
}

/** Per incident, rounded to a tenth. */
export function perIncident(w: PgWrites, incidents: number): PgWrites {
  const per = (n: number): number => (incidents > 0 ? Math.round((n / incidents) * 10) / 10 : 0);
  return { ...(w.temporalTransactions !== undefined ? { temporalTransactions: per(w.temporalTransactions) } : {}), transactions: per(w.transactions), rowsWritten: per(w.rowsWritten), byTable: Object.fromEntries(Object.entries(w.byTable).map(([k, v]) => [k, per(v)])) };
}
