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

/** Newest first. */
export async function listAudit(db: Db, f: AuditFilter): Promise<AuditEntry[]> {
  let q = db.selectFrom('audit_log').selectAll();
  if (f.entityType) q = q.where('entity_type', '=', f.entityType);
  if (f.entityId) q = q.where('entity_id', '=', f.entityId);
  if (f.actor) q = q.where('actor', '=', f.actor);
  if (f.action) q = q.where('action', '=', f.action);
  if (f.team) q = q.where('team', '=', f.team);
  if (f.beforeId) q = q.where(sql<boolean>`id < ${f.beforeId}::bigint`);
  return q.orderBy('id', 'desc').limit(f.limit).execute();
}
