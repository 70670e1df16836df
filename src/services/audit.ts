// The audit log as the API reads it (entries are written by the services, in the transaction of each change,
// through src/db/repositories/audit.ts `writeAudit`).
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { listAudit, type AuditFilter } from '../db/repositories/audit.js';

/** The bytes of entries' before and after one page holds at most (one entry whatever its size). */
export const AUDIT_PAGE_BYTES = 4 * 1024 * 1024;

/**
 * One page, newest first, and the cursor of the next one (null on the last page). A page ends early at
 * AUDIT_PAGE_BYTES, its cursor then leading on where it stopped.
 */
export async function auditPage(db: Kysely<Database>, filter: AuditFilter, maxBytes = AUDIT_PAGE_BYTES) {
  const { rows, more } = await listAudit(db, { ...filter, maxBytes });
  return { page: rows, nextCursor: more ? String(rows[rows.length - 1]!.id) : null };
}
