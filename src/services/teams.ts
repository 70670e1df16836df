// Teams and their API-token memberships (issue 24): list the teams an actor may read, create one (global
// admin), and read or set a token's roles in a team (that team's admin). Users of single sign-on get their
// roles from OIDC_ROLE_MAP instead. Every change is one transaction with its audit entry, under the team.
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { writeAudit } from '../db/repositories/audit.js';
import { findTeam, hasMemberships, insertTeam, listMembers, listTeams, lockLiveToken, replaceMemberships, tokenMemberships, type TeamRow } from '../db/repositories/teams.js';
import { inTransaction } from '../db/repositories/transactions.js';
import type { TeamRole } from '../domain/teams.js';
import type { Actor } from './actor.js';
import { decodeCursor, encodeCursor } from './list-pages.js';
import { ConflictError, ForbiddenError, NotFoundError } from './errors.js';
import { canManage, requireTeam, teamActor, visibleTeams } from './team-access.js';

export interface TeamMember {
  tokenId: string;
  tokenName: string;
  roles: TeamRole[];
}

/** A page asked for: how many, after the cursor of the previous page. */
export interface Page {
  limit: number;
  cursor?: string | undefined;
}

export function teamService(deps: { db: Kysely<Database> }) {
  const { db } = deps;

  /**
   * The team must exist (404) and the actor be its admin: reading its members, an actor outside the team
   * gets the 404 of an unknown team; changing them, 403 like every other write (docs/security.md).
   */
  async function adminOf(actor: Actor, team: string, write: boolean): Promise<void> {
    if (!(await findTeam(db, team))) throw new NotFoundError(`team ${team} is not known`);
    if (!write) requireTeam(actor, 'viewer', team, `team ${team}`);
    requireTeam(actor, 'admin', team, `team ${team}`);
  }

  return {
    /**
     * A page of the teams `actor` may read (every team for a global admin), by name, each with the actor's
     * roles there, and the cursor of the next page (null on the last).
     */
    async list(actor: Actor, page: Page): Promise<{ items: (TeamRow & { roles: TeamRole[] })[]; nextCursor: string | null }> {
      const model = teamActor(actor);
      const rows = await listTeams(db, { limit: page.limit + 1, after: page.cursor }, visibleTeams(actor));
      const items = rows.slice(0, page.limit).map((t) => ({ ...t, roles: [...(model.roles.get(t.name) ?? [])].sort() }));
      return { items, nextCursor: rows.length > page.limit ? items[items.length - 1]!.name : null };
    },

    /** A new team (the route lets only a global admin call this); 409 when the name is taken. */
    async create(actor: Actor, body: { name: string; description?: string | undefined }): Promise<TeamRow> {
      return inTransaction(db, async (trx) => {
        const created = await insertTeam(trx, { name: body.name, description: body.description ?? null, createdBy: actor.name });
        if (!created) throw new ConflictError(`team ${body.name} already exists`);
        await writeAudit(trx, { actor: actor.name, action: 'team.create', entityType: 'team', entityId: body.name, after: { description: created.description }, team: body.name });
        return created;
      });
    },

    /**
     * A page of a team's live tokens, by name, with their roles there (team admin), and the next page's
     * cursor: the position (name, id) of the page's last token, as the rule list's (src/services/list-pages.ts);
     * anything else is a 400 naming `cursor`. Before, the cursor was a token id looked up in every team,
     * so a crafted one told whether that token existed (an unknown id gave an empty page) and where its
     * name sorted among the team's.
     */
    async members(actor: Actor, team: string, page: Page): Promise<{ items: TeamMember[]; nextCursor: string | null }> {
      await adminOf(actor, team, false);
      const byToken = new Map<string, TeamMember>();
      const after = page.cursor === undefined ? undefined : decodeCursor(page.cursor, 2);
      for (const m of await listMembers(db, team, { limit: page.limit + 1, after: after && { name: after[0]!, id: after[1]! } })) {
        const entry = byToken.get(m.token_id) ?? { tokenId: m.token_id, tokenName: m.token_name, roles: [] };
        entry.roles.push(m.role);
        byToken.set(m.token_id, entry);
      }
      const all = [...byToken.values()];
      const items = all.slice(0, page.limit);
      const last = items.at(-1);
      return { items, nextCursor: all.length > page.limit && last ? encodeCursor([last.tokenName, last.tokenId]) : null };
    },

    /**
     * Sets a live token's roles in a team ([] removes it; 404 when it holds none there), audited under the
     * team. An expired or revoked token is 404 like an unknown one, and so, to a team admin, is a token
     * holding no role in a team it administers.
     */
    async setRoles(actor: Actor, team: string, tokenId: string, roles: readonly TeamRole[]): Promise<TeamMember> {
      await adminOf(actor, team, true);
      const globalAdmin = teamActor(actor).globalAdmin;
      return inTransaction(db, async (trx) => {
        // Locked: two team admins removing the same token from their two teams at once would otherwise each
        // see the other's membership still there, and together leave it in no team (the default team's).
        const token = await lockLiveToken(trx, tokenId);
        const held = token ? await tokenMemberships(trx, tokenId) : [];
        // A team admin reaches the tokens of the teams it administers only: any other (another team's, or one
        // of no team) is the 404 of an unknown id, its name never given. Before, the answer named it (200,
        // or the 403 of a token without a team), so a team admin learned the name behind any token id. So a
        // token without any membership, which acts on the default team by its scopes, gets its first one
        // from a global admin only (that takes its default-team reach away).
        if (!token || (!globalAdmin && !held.some((m) => canManage(actor, m.team)))) throw new NotFoundError(`token ${tokenId} is not known`);
        // Removing a token the team does not hold would answer with its name and audit a change that is none.
        if (roles.length === 0 && !held.some((m) => m.team === team)) throw new NotFoundError(`token ${tokenId} is not a member of team ${team}`);
        const before = await replaceMemberships(trx, { tokenId, team, roles, by: actor.name });
        // Its last membership gone, a token would act on the default team again by its scopes.
        if (!globalAdmin && !(await hasMemberships(trx, tokenId))) {
          throw new ForbiddenError(`this would leave token ${token.name} in no team, acting on the default team by its scopes; only a global admin may do that (or revoke the token)`);
        }
        const after = [...roles].sort();
        await writeAudit(trx, { actor: actor.name, action: 'team.membership', entityType: 'token', entityId: tokenId, before: { roles: before }, after: { roles: after }, team });
        return { tokenId, tokenName: token.name, roles: after };
      });
    },
  };
}
