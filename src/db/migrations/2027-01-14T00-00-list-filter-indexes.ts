import type { Kysely } from 'kysely';
import { sql } from 'kysely';

// Frozen once landed: add a new timestamped migration instead of editing this one.
//
// Indexes for the filters of GET /api/tokens and GET /api/audit, each ending in the order the list pages in,
// so a page reads its rows from the index instead of the whole table sorted:
// - tokens, newest first (`created_at desc, id desc`), all or only live ones (`state=live`: not revoked;
//   expiry is compared at read time, so it cannot be an index predicate);
// - audit entries, newest first (`id desc`), by `actor`, `action`, `entityType` or `entityId` (`team` has
//   audit_log_team_idx since 2026-12-10T00-00-teams; entityType with entityId, audit_log_entity_idx).
// Before, each filter read every row of its table (both are never purged: tokens stay for their audit
// entries, and the audit log grows with every change).

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('api_tokens_created_idx').ifNotExists().on('api_tokens').columns(['created_at', 'id']).execute();
  await db.schema.createIndex('api_tokens_live_created_idx').ifNotExists().on('api_tokens').columns(['created_at', 'id']).where(sql.ref('revoked_at'), 'is', null).execute();
  await db.schema.createIndex('audit_log_actor_idx').ifNotExists().on('audit_log').columns(['actor', 'id']).execute();
  await db.schema.createIndex('audit_log_action_idx').ifNotExists().on('audit_log').columns(['action', 'id']).execute();
  await db.schema.createIndex('audit_log_entity_type_idx').ifNotExists().on('audit_log').columns(['entity_type', 'id']).execute();
  await db.schema.createIndex('audit_log_entity_id_idx').ifNotExists().on('audit_log').columns(['entity_id', 'id']).execute();
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function down(db: Kysely<any>): Promise<void> {
  for (const name of ['audit_log_entity_id_idx', 'audit_log_entity_type_idx', 'audit_log_action_idx', 'audit_log_actor_idx', 'api_tokens_live_created_idx', 'api_tokens_created_idx']) {
    await db.schema.dropIndex(name).ifExists().execute();
  }
}
