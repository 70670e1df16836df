import { sql } from 'kysely';
import type { AuditEntry } from '../database.js';
import type { Db } from './db.js';

export interface AuditRecord {
  actor: string;
  action: string;
  entityType: string;
  entityId: string;
  before?: unknown;
  after?: unknown;
  /** The team of the changed object (issue 24); left out for changes that belong to no team. */
  team?: string | null | undefined;
}

/** Append one audit row; call it with the transaction that makes the change. */
export async function writeAudit(db: Db, r: AuditRecord): Promise<void> {
  await db
    .insertInto('audit_log')
    .values({
      actor: r.actor,
      action: r.action,
      entity_type: r.entityType,
      entity_id: r.entityId,
      before: r.before === undefined || r.before === null ? null : JSON.stringify(r.before),
      after: r.after === undefined || r.after === null ? null : JSON.stringify(r.after),
      team: r.team ?? null,
    })
    .execute();
}

/**
 * The workflow ids of the runs the job's triggers asked for in the last `withinMs` (each `job.trigger` entry
 * names its run, `after.runId`, committed before Temporal is asked), newest first, at most `limit`: those
 * Temporal's list of running workflows may not show yet (its visibility lags a start). `pending`: asked for
 * in the last `pendingMs`, so the start may not have reached Temporal yet.
 */
export async function recentTriggerRunIds(db: Db, jobId: string, q: { withinMs: number; pendingMs: number; limit: number }): Promise<{ runId: string; pending: boolean }[]> {
  // Both windows on the database's clock, the one that wrote `at` (the writer's transaction start: its count,
  // at most TEMPORAL_DEADLINE_MS, came between that and its commit), read now, not at this transaction's start.
  const rows = await db
    .selectFrom('audit_log')
    .select([sql<string>`after->>'runId'`.as('run_id'), sql<boolean>`at > clock_timestamp() - make_interval(secs => ${q.pendingMs / 1000})`.as('pending')])
    .where('entity_type', '=', 'job')
    .where('entity_id', '=', jobId)
    .where('action', '=', 'job.trigger')
    .where(sql<boolean>`at > clock_timestamp() - make_interval(secs => ${q.withinMs / 1000})`)
    .where(sql<boolean>`after->>'runId' is not null`)
    .orderBy('id', 'desc')
    .limit(q.limit)
    .execute();
  return rows.map((r) => ({ runId: r.run_id, pending: r.pending }));
}

export interface AuditFilter {
  entityType?: string | undefined;
  entityId?: string | undefined;
  actor?: string | undefined;
  action?: string | undefined;
  team?: string | undefined;
  /** rows with an id below this one (newest first paging) */
  beforeId?: string | undefined;
  limit: number;
}

/**
 * Newest first: at most `limit` entries, and fewer when their before and after together pass `maxBytes`
 * (always one at least); `more` says whether entries past the page remain. The sizes are read first, the
 * entries then: one rule's state is up to a megabyte, and 500 of its updates made one page a gigabyte.
 */
export async function listAudit(db: Db, f: AuditFilter & { maxBytes: number }): Promise<{ rows: AuditEntry[]; more: boolean }> {
  let q = db.selectFrom('audit_log');
  if (f.entityType) q = q.where('entity_type', '=', f.entityType);
  if (f.entityId) q = q.where('entity_id', '=', f.entityId);
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.action) q = q.where('action', '=', f.action);
  if (f.team) q = q.where('team', '=', f.team);
  if (f.beforeId) q = q.where(sql<boolean>`id < ${f.beforeId}::bigint`);
  const sizes = await q
    .select(['id', sql<number>`coalesce(octet_length(before::text), 0) + coalesce(octet_length(after::text), 0)`.as('bytes')])
    .orderBy('id', 'desc')
    .limit(f.limit + 1)
    .execute();
  const ids: string[] = [];
  let total = 0;
  for (const s of sizes.slice(0, f.limit)) {
    total += Number(s.bytes);
    if (ids.length > 0 && total > f.maxBytes) break;
    ids.push(String(s.id));
  }
  if (ids.length === 0) return { rows: [], more: false };
  const rows = await db.selectFrom('audit_log').selectAll().where('id', 'in', ids).orderBy('id', 'desc').execute();
  return { rows, more: sizes.length > ids.length };
}
