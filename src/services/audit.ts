// The audit log as the API reads it (entries are written by the services, in the transaction of each change,
// through src/db/repositories/audit.ts `writeAudit`).
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { listAudit, type AuditFilter } from '../db/repositories/audit.js';

/** One page, newest first, and the cursor of the next one (null on the last page). */
export async function auditPage(db: Kysely<Database>, filter: Omit<AuditFilter, 'limit'> & { limit: number }) {
  const rows = await listAudit(db, { ...filter, limit: filter.limit + 1 });
  const page = rows.slice(0, filter.limit);
  return { page, nextCursor: rows.length > filter.limit ? String(page[page.length - 1]!.id) : null };
}
