// Deciding a gated action, the one path for the API route and approval links: who may decide (never the
// author of the rule version that planned the action), record the decision in Postgres first (only while
// the action still waits and nobody decided), then nudge the rule-run workflow, which acts on the decision
// it reads back from Postgres, never on the signal. Only an approver of the team owning the rule that
// planned the action may decide it (issue 24), by the route and by a link alike. Nobody decides after the
// deadline the notice announced (Postgres knows it, and checks it in the statement that records the
// decision: a rule run not woken yet at its deadline, its workers down or behind, is not approved late), nor
// approves an action whose rule was disabled, deleted or replaced by another version since it was planned.
//
// Approval links (issue 22): a notice of a waiting approval carries an approve and a reject link, each with
// its own random 256-bit token bound to that action run and decision. Only the token's SHA-256 is stored;
// a link works until it expires (SELFHEAL_APPROVAL_LINK_TTL_MINUTES, and never past the approval's
// deadline) and once: it is marked used in the transaction that records the decision.
import { createHash, randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import type { Kysely } from 'kysely';
import { SIGNALS } from '../contracts/index.js';
import type { ActionRun, Database } from '../db/database.js';
import { findActionRun, findDecisionState, recordApprovalDecision, ruleVersionAuthor } from '../db/repositories/action-runs.js';
import { consumeApprovalLink, findApprovalLink, insertApprovalLinks, type ApprovalLinkRow } from '../db/repositories/approval-links.js';
import type { Db } from '../db/repositories/db.js';
import { ruleTeam } from '../db/repositories/teams.js';
import { inTransaction } from '../db/repositories/transactions.js';
import { DEFAULT_TEAM } from '../domain/teams.js';
import { trimTrailingSlashes } from '../domain/text.js';
import { mayBeSamePerson, type Actor } from './actor.js';
import { ServiceError } from './errors.js';
import { requireTeam } from './team-access.js';

export type Decision = 'approve' | 'reject';

const STATUS = { not_found: [404, 'Not Found'], forbidden: [403, 'Forbidden'], conflict: [409, 'Conflict'], gone: [410, 'Gone'] } as const;

/** Why a decision or a link was refused: a service error (404, 403, 409, 410) the API's onError answers. */
export class ApprovalError extends ServiceError {
  constructor(
    readonly kind: keyof typeof STATUS,
    message: string,
    extra: Record<string, unknown> = {},
  ) {
    super(STATUS[kind][0], STATUS[kind][1], message, extra);
  }
}

/** A link token: 32 random bytes, base64url (43 characters). */
export const newLinkToken = (): string => randomBytes(32).toString('base64url');
export const LINK_TOKEN_FORMAT = /^[A-Za-z0-9_-]{43}$/;
export const linkTokenHash = (token: string): string => createHash('sha256').update(token).digest('hex');

/** The path links point at (under SELFHEAL_PUBLIC_URL). */
export const APPROVAL_LINK_PATH = '/approvals/link';

export function approvalLinkUrl(publicUrl: string, actionRunId: string, token: string): string {
  return `${trimTrailingSlashes(publicUrl)}${APPROVAL_LINK_PATH}?action=${encodeURIComponent(actionRunId)}&token=${token}`;
}

/**
 * Make the approve and reject links of a waiting action. The tokens exist only in the returned URLs (for
 * the message being sent); the database keeps their hashes.
 */
export async function mintApprovalLinks(db: Db, input: { actionRunId: string; publicUrl: string; expiresAt: Date }): Promise<{ approve: string; reject: string; expiresAt: Date }> {
  const approve = newLinkToken();
  const reject = newLinkToken();
  await insertApprovalLinks(db, [
    { tokenHash: linkTokenHash(approve), actionRunId: input.actionRunId, decision: 'approve', expiresAt: input.expiresAt },
    { tokenHash: linkTokenHash(reject), actionRunId: input.actionRunId, decision: 'reject', expiresAt: input.expiresAt },
  ]);
  return { approve: approvalLinkUrl(input.publicUrl, input.actionRunId, approve), reject: approvalLinkUrl(input.publicUrl, input.actionRunId, reject), expiresAt: input.expiresAt };
}

/**
 * The link a token opens, for `actionRunId` only. Refused: a token that is not one (404), one for another
 * action (403), one already used or expired (410).
 */
export async function openApprovalLink(db: Db, input: { token: string; actionRunId: string }): Promise<ApprovalLinkRow> {
  const link = LINK_TOKEN_FORMAT.test(input.token) ? await findApprovalLink(db, linkTokenHash(input.token)) : undefined;
  if (!link) throw new ApprovalError('not_found', 'this approval link is not known');
  if (link.action_run_id !== input.actionRunId) throw new ApprovalError('forbidden', 'this approval link belongs to another action');
  if (link.used_at) throw new ApprovalError('gone', `this approval link was already used (by ${link.used_by ?? 'someone'} at ${link.used_at.toISOString()})`);
  if (link.expired) throw new ApprovalError('gone', `this approval link expired at ${link.expires_at.toISOString()}`);
  return link;
}

/**
 * The action run, its team, and a check that `actor` may decide it: an approver of the team owning the
 * rule that planned it (403 otherwise), and not the author of that rule version.
 */
export async function approvableRun(db: Db, input: { actionRunId: string; incidentId?: string | undefined; actor: Actor }): Promise<ActionRun & { team: string }> {
  const run = await findActionRun(db, input.actionRunId);
  if (!run || (input.incidentId !== undefined && run.incident_id !== input.incidentId)) {
    throw new ApprovalError('not_found', input.incidentId !== undefined ? `action run ${input.actionRunId} of incident ${input.incidentId} is not known` : `action run ${input.actionRunId} is not known`);
  }
  const team = (run.rule_id !== null ? await ruleTeam(db, run.rule_id) : undefined) ?? DEFAULT_TEAM;
  requireTeam(input.actor, 'approver', team, `action run ${input.actionRunId}`);
  const name = input.actor.name;
  const author = run.rule_id !== null && run.rule_version !== null ? await ruleVersionAuthor(db, run.rule_id, run.rule_version) : undefined;
  if (author === undefined) throw new ApprovalError('forbidden', `the author of the rule version that planned ${input.actionRunId} is not recorded, so nobody can be shown to be someone else: it cannot be approved`);
  // The author under every name they had when saving (a token's owner, a user's sub and email), against
  // the approver under every name they have now.
  if (mayBeSamePerson(input.actor, [author.actor, ...author.aliases])) {
    const as = author.actor === name ? name : `${author.actor} (which is ${name})`;
    throw new ApprovalError('forbidden', `${as} wrote version ${run.rule_version} of rule ${run.rule_id}: its gated actions need the approval of someone else`);
  }
  return { ...run, team };
}

const late = (actionRunId: string, status: string, decided: unknown) =>
  new ApprovalError(
    'conflict',
    decided ? `action run ${actionRunId} was already decided (${describeDecision(decided)}); status ${status}` : `action run ${actionRunId} is not awaiting approval (status ${status})`,
    { status, ...(decided ? { approval: decided } : {}) },
  );

/**
 * Refuse (409) a decision on a waiting, undecided run that Postgres would not record: its deadline passed
 * (saying what its onTimeout does), or, for an approval, its rule no longer stands at the planned version.
 */
async function refuseUndecidable(db: Db, run: ActionRun, decision: Decision): Promise<void> {
  const state = await findDecisionState(db, run.id);
  if (!state) return;
  if (state.expired && state.deadline) {
    const then = state.onTimeout === 'approve' ? 'it runs then, unless its rule was stopped or changed, automation is paused, its circuit breaker is open or a guard stops it' : 'it does not run';
    throw new ApprovalError(
      'conflict',
      `the approval of action run ${run.id} expired at ${state.deadline.toISOString()}: it can no longer be approved or rejected; its rule says onTimeout: ${state.onTimeout ?? 'reject'}, recorded when its rule run wakes, so ${then}`,
      { actionRunStatus: run.status, deadline: state.deadline.toISOString(), onTimeout: state.onTimeout ?? 'reject' },
    );
  }
  if (decision === 'approve' && state.ruleNotLive !== null) {
    throw new ApprovalError(
      'conflict',
      `rule ${run.rule_id ?? '?'} was ${state.ruleNotLive} after version ${run.rule_version ?? '?'} planned action run ${run.id}: it can no longer be approved (reject it, or let it time out: it will not run)`,
      { actionRunStatus: run.status, ruleId: run.rule_id, plannedVersion: run.rule_version, rule: state.ruleNotLive },
    );
  }
}

/**
 * Refuse (409) a decision on `run` that would not be recorded now: it no longer waits, or was decided
 * already, its deadline passed, or (approving) its rule no longer stands at the planned version. The one
 * rule for deciding and for a link's confirmation page, which offers no decision the POST would refuse.
 */
export async function checkDecidable(db: Db, run: ActionRun, decision: Decision): Promise<void> {
  if (run.status !== 'awaiting_approval' || run.approval !== null) throw late(run.id, run.status, run.approval);
  await refuseUndecidable(db, run, decision);
}

export interface DecideInput {
  actionRunId: string;
  /** When the caller names the incident (the API route), the action must belong to it. */
  incidentId?: string | undefined;
  decision: Decision;
  actor: Actor;
  comment?: string | undefined;
  /** The approval link followed, consumed in the same transaction as the decision. */
  link?: ApprovalLinkRow | undefined;
}

/** Record a person's decision and nudge the waiting rule run. `delivered` is false when the nudge did not reach it (the run reads Postgres at its deadline at the latest). */
export async function decideApproval(
  deps: { db: Kysely<Database>; temporal: Client; warn?: (detail: Record<string, unknown>, message: string) => void },
  input: DecideInput,
): Promise<{ actionRunId: string; decision: Decision; actor: string; delivered: boolean }> {
  const run = await approvableRun(deps.db, input);
  await checkDecidable(deps.db, run, input.decision);
  const decision = {
    decision: input.decision,
    actor: input.actor.name,
    at: new Date().toISOString(),
    ...(input.comment !== undefined ? { comment: input.comment } : {}),
    ...(input.link ? { via: 'link' } : {}),
  };
  const recorded = await inTransaction(deps.db, async (trx) => {
    if (input.link && !(await consumeApprovalLink(trx, input.link.id, input.actor.name))) return 'link' as const;
    if (!(await recordApprovalDecision(trx, input.actionRunId, decision, run.team))) {
      // The deadline, a cancellation, another approver or a change of the rule got there between our read
      // and our write: the link stays unused (the transaction is rolled back) and the answer says which.
      throw new RolledBack();
    }
    return 'ok' as const;
  }).catch(async (err: unknown) => {
    if (!(err instanceof RolledBack)) throw err;
    const now = await findActionRun(deps.db, input.actionRunId);
    if (now) await checkDecidable(deps.db, now, input.decision);
    throw late(input.actionRunId, now?.status ?? 'unknown', now?.approval);
  });
  if (recorded === 'link') throw new ApprovalError('gone', 'this approval link was already used or has expired');
  let delivered = true;
  try {
    if (!run.workflow_id) throw new Error('no rule-run workflow recorded');
    await deps.temporal.workflow.getHandle(run.workflow_id).signal(SIGNALS.approval, { actionRunId: input.actionRunId });
  } catch (err) {
    delivered = false;
    deps.warn?.({ actionRunId: input.actionRunId, err: { message: (err as Error).message.split('\n')[0] } }, 'approval recorded; rule run not reached');
  }
  return { actionRunId: input.actionRunId, decision: input.decision, actor: input.actor.name, delivered };
}

class RolledBack extends Error {}

export function describeDecision(d: unknown): string {
  const x = d as { decision?: string; actor?: string };
  return `${x.decision ?? '?'} by ${x.actor ?? '?'}`;
}
