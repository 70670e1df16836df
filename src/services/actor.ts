// Who calls a service: the audit log's actor name, and the scopes and team roles authorization decisions
// are made on (the team model is src/domain/teams.ts; src/services/team-access.ts applies it).
import type { TeamMembership } from '../domain/teams.js';

export type Scope = 'read' | 'write' | 'admin';
/** Each scope's rank: a larger scope includes the smaller ones. */
export const SCOPE_RANK: Record<Scope, number> = { read: 1, write: 2, admin: 3 };

export interface Actor {
  /** `admin-token`, `token:<name>` or `user:<email>` (`user:<sub>` unless the provider marks the email verified), as the audit log records it. */
  name: string;
  scopes: readonly string[];
  /** Team roles (issue 24); none: the legacy scopes act on the default team. */
  teams?: readonly TeamMembership[] | undefined;
  /**
   * Other names the same person is or was recorded under: a signed-in user's `user:<sub>` and
   * `user:<email>` (verified or not); a token's owner (`api_tokens.owner`). Used only to refuse: the
   * four-eyes rule of approvals.
   */
  aliases?: readonly string[] | undefined;
}

/**
 * True when any of `recorded` (an author in rule_versions and the other names they had then, say) may be
 * the person `actor`: their name or one of their aliases, compared without regard to case (e-mail
 * addresses are case-insensitive in practice; where they differ only in case, refusing is the safe side).
 */
export function mayBeSamePerson(actor: Pick<Actor, 'name' | 'aliases'>, recorded: readonly string[]): boolean {
  const wanted = new Set(recorded.map((n) => n.toLowerCase()));
  return [actor.name, ...(actor.aliases ?? [])].some((n) => wanted.has(n.toLowerCase()));
}

/** True when `scopes` include `needed` or a larger scope. */
export function hasScope(scopes: readonly string[] | undefined, needed: Scope): boolean {
  return Math.max(0, ...(scopes ?? []).map((s) => SCOPE_RANK[s as Scope] ?? 0)) >= SCOPE_RANK[needed];
}
