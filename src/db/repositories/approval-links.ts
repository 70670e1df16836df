// approval_links: the approve/reject links sent with an approval request. Only each token's SHA-256 is
// stored; a link is used at most once (used_at set in the transaction that records the decision).
import { sql } from 'kysely';
import type { ApprovalLinkTable } from '../database.js';
import type { Db } from './db.js';

export type ApprovalLinkRow = { id: string; token_hash: string; action_run_id: string; decision: ApprovalLinkTable['decision']; expires_at: Date; used_at: Date | null; used_by: string | null; expired: boolean };

export async function insertApprovalLinks(db: Db, rows: { tokenHash: string; actionRunId: string; decision: 'approve' | 'reject'; expiresAt: Date }[]): Promise<void> {
  await db
    .insertInto('approval_links')
    .values(rows.map((r) => ({ token_hash: r.tokenHash, action_run_id: r.actionRunId, decision: r.decision, expires_at: r.expiresAt })))
    .execute();
}

/** The link whose token hashes to `tokenHash`, with whether it expired by the database's clock. */
export async function findApprovalLink(db: Db, tokenHash: string): Promise<ApprovalLinkRow | undefined> {
  const row = await db
    .selectFrom('approval_links')
    .select(['id', 'token_hash', 'action_run_id', 'decision', 'expires_at', 'used_at', 'used_by', sql<boolean>`expires_at <= now()`.as('expired')])
    .where('token_hash', '=', tokenHash)
    .executeTakeFirst();
  return row ? { ...row, id: String(row.id) } : undefined;
}

/** Mark the link used by `actor`, only if nobody used it and it has not expired; false otherwise. */
export async function consumeApprovalLink(db: Db, id: string, actor: string): Promise<boolean> {
  const row = await db
    .updateTable('approval_links')
    .set({ used_at: sql`now()`, used_by: actor })
    .where('id', '=', id)
    .where('used_at', 'is', null)
    .where(sql<boolean>`expires_at > now()`)
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}
