import { sql, type Kysely } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// The Prometheus counters read from Postgres (src/metrics.ts) count live rows, and the retention purge deletes
// old ones: without a record of what it deleted, every purge would lower the counters and Prometheus would read
// each drop as a counter reset. The purge adds what the rows it deletes counted to this table, in its own
// transaction, and a scrape reports live rows plus the offset, one row per series: the metric name and its
// label set (jsonb, so the order of the labels does not matter). Histograms keep one row per bucket, plus their
// _count and _sum. Nothing is back-filled: what earlier purges deleted is gone.

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('metric_offsets')
    .addColumn('metric', 'text', (c) => c.notNull())
    .addColumn('labels', 'jsonb', (c) => c.notNull())
    // Counts, and the seconds of a histogram's _sum.
    .addColumn('value', 'float8', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('metric_offsets_pkey', ['metric', 'labels'])
    .execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('metric_offsets').execute();
}
