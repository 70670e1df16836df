import { sql, type Kysely, type Transaction } from 'kysely';
import type { ActionRun, Database } from '../database.js';

type Db = Kysely<Database> | Transaction<Database>;

export async function findActionRun(db: Db, id: string): Promise<ActionRun | undefined> {
  return db.selectFrom('action_runs').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Who saved a rule version (`rule_versions.actor`); undefined when the version is not recorded. */
export async function ruleVersionAuthor(db: Db, ruleId: string, version: number): Promise<string | undefined> {
  const row = await db.selectFrom('rule_versions').select('actor').where('rule_id', '=', ruleId).where('version', '=', version).executeTakeFirst();
  return row?.actor;
}

/**
 * Record a person's decision on a gated action, and the audit entry, in one transaction: only while the
 * action still waits and nobody (the deadline included) decided. False when that was no longer so.
 */
export async function recordApprovalDecision(
  db: Db,
  actionRunId: string,
  decision: { decision: 'approve' | 'reject'; actor: string; at: string; comment?: string; via?: string },
): Promise<boolean> {
  const inTransaction = async (trx: Transaction<Database>) => {
    const row = await trx
      .updateTable('action_runs')
      .set({ approval: JSON.stringify(decision) })
      .where('id', '=', actionRunId)
      .where('status', '=', 'awaiting_approval')
      .where(sql<boolean>`approval is null`)
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    await trx
      .insertInto('audit_log')
      .values({ actor: decision.actor, action: `approval.${decision.decision}`, entity_type: 'action_run', entity_id: actionRunId, before: null, after: JSON.stringify(decision) })
      .execute();
    return true;
  };
  // Inside the caller's transaction when given one (an approval link is consumed in the same one).
  return db.isTransaction ? inTransaction(db as Transaction<Database>) : (db as Kysely<Database>).transaction().execute(inTransaction);
}
