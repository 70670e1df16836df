import { sql, type Kysely } from 'kysely';
import type { TeamMembership, TeamRole } from '../../domain/teams.js';
import type { Database } from '../database.js';

// Teams, their API-token memberships, and the team facts other checks read (issue 24).
type Db = Kysely<Database>;

export interface TeamRow {
  name: string;
  description: string | null;
  created_by: string;
  created_at: Date;
}

/** Teams by name, `limit` of them after the name `after` (the last of the previous page); `only`: these names. */
export const listTeams = (db: Db, page: { limit: number; after?: string | undefined }, only?: readonly string[]): Promise<TeamRow[]> => {
  let q = db.selectFrom('teams').selectAll().orderBy('name');
  if (only) q = only.length === 0 ? q.where((eb) => eb.val(false)) : q.where('name', 'in', only);
  if (page.after !== undefined) q = q.where('name', '>', page.after);
  return q.limit(page.limit).execute();
};

export const findTeam = (db: Db, name: string): Promise<TeamRow | undefined> => db.selectFrom('teams').selectAll().where('name', '=', name).executeTakeFirst();

/** Which of `names` are teams. */
export const existingTeams = async (db: Db, names: readonly string[]): Promise<string[]> =>
  names.length === 0 ? [] : (await db.selectFrom('teams').select('name').where('name', 'in', names).execute()).map((r) => r.name);

/** Inserts a team; undefined when the name is taken. */
export const insertTeam = (db: Db, t: { name: string; description: string | null; createdBy: string }): Promise<TeamRow | undefined> =>
  db
    .insertInto('teams')
    .values({ name: t.name, description: t.description, created_by: t.createdBy })
    .onConflict((oc) => oc.column('name').doNothing())
    .returningAll()
    .executeTakeFirst();

/** The team roles of one token. */
export const tokenMemberships = (db: Db, tokenId: string): Promise<TeamMembership[]> =>
  db.selectFrom('team_memberships').select(['team', 'role']).where('token_id', '=', tokenId).orderBy('team').orderBy('role').execute();

/** The team roles of these tokens (a page of GET /api/tokens). */
export const membershipsOf = (db: Db, tokenIds: readonly string[]): Promise<{ token_id: string; team: string; role: TeamRole }[]> =>
  tokenIds.length === 0
    ? Promise.resolve([])
    : db.selectFrom('team_memberships').select(['token_id', 'team', 'role']).where('token_id', 'in', [...tokenIds]).orderBy('team').orderBy('role').execute();

/** Gives a new token its team roles. */
export async function insertMemberships(db: Db, tokenId: string, memberships: readonly TeamMembership[], by: string): Promise<void> {
  if (memberships.length === 0) return;
  await db
    .insertInto('team_memberships')
    .values(memberships.map((m) => ({ token_id: tokenId, team: m.team, role: m.role, created_by: by })))
    .execute();
}

/**
 * The live (not revoked, not expired) token, locked until the transaction ends: changes to one token's memberships then run one
 * after the other, so a check of what the others left (its last team) sees every change made before it.
 */
export const lockLiveToken = (db: Db, tokenId: string): Promise<{ id: string; name: string } | undefined> =>
  db
    .selectFrom('api_tokens')
    .select(['id', 'name'])
    .where('id', '=', tokenId)
    .where('revoked_at', 'is', null)
    .where('expires_at', '>', new Date())
    .forUpdate()
    .executeTakeFirst();

/** Whether a token holds any team role at all (a token without one acts on the default team). */
export const hasMemberships = async (db: Db, tokenId: string): Promise<boolean> =>
  (await db.selectFrom('team_memberships').select('token_id').where('token_id', '=', tokenId).limit(1).executeTakeFirst()) !== undefined;

export interface MemberRow {
  token_id: string;
  token_name: string;
  role: TeamRole;
  created_by: string;
  created_at: Date;
}

/**
 * The memberships of a team with the tokens' names, live (not revoked, not expired) tokens only: every role
 * of `limit` tokens, by token name then id, after the position `after` (the name and id of the last token
 * of the previous page).
 */
export async function listMembers(db: Db, team: string, page: { limit: number; after?: { name: string; id: string } | undefined }): Promise<MemberRow[]> {
  const now = new Date();
  let tokens = db
    .selectFrom('api_tokens as t')
    .select('t.id')
    .where('t.revoked_at', 'is', null)
    .where('t.expires_at', '>', now)
    .where((eb) => eb.exists(eb.selectFrom('team_memberships as m').select('m.token_id').where('m.team', '=', team).whereRef('m.token_id', '=', 't.id')));
  // The cursor is a position (name, id), not a key: no row is looked up by it, so it tells nothing of tokens
  // outside the team (one read by id answered differently for an id that exists and one that does not).
  if (page.after !== undefined) tokens = tokens.where(sql<boolean>`(t.name, t.id) > (${page.after.name}, ${page.after.id})`);
  const ids = (await tokens.orderBy('t.name').orderBy('t.id').limit(page.limit).execute()).map((r) => r.id);
  if (ids.length === 0) return [];
  return db
    .selectFrom('team_memberships as m')
    .innerJoin('api_tokens as t', 't.id', 'm.token_id')
    .select(['m.token_id', 't.name as token_name', 'm.role', 'm.created_by', 'm.created_at'])
    .where('m.team', '=', team)
    .where('m.token_id', 'in', ids)
    .orderBy('t.name')
    .orderBy('t.id')
    .orderBy('m.role')
    .execute();
}

/** Replaces the roles a token holds in a team (an empty list removes it from the team). Returns the roles it held before. */
export async function replaceMemberships(db: Db, m: { tokenId: string; team: string; roles: readonly TeamRole[]; by: string }): Promise<TeamRole[]> {
  const before = await db.deleteFrom('team_memberships').where('token_id', '=', m.tokenId).where('team', '=', m.team).returning('role').execute();
  if (m.roles.length > 0) {
    await db
      .insertInto('team_memberships')
      .values(m.roles.map((role) => ({ token_id: m.tokenId, team: m.team, role, created_by: m.by })))
      .execute();
  }
  return before.map((r) => r.role).sort();
}

/** The team of a rule (deleted ones too), or undefined when no such rule exists. */
export const ruleTeam = async (db: Db, ruleId: string): Promise<string | undefined> =>
  (await db.selectFrom('rules').select('team').where('id', '=', ruleId).executeTakeFirst())?.team;

/**
 * The registered environments among `names` with their teams, each row held FOR KEY SHARE until the
 * transaction ends: an environment delete (which locks its row FOR UPDATE, then looks for jobs naming it)
 * waits for this transaction and then sees its job, and a name deleted first is not returned here.
 */
export const registeredEnvironmentsHeld = (db: Db, names: readonly string[]): Promise<{ name: string; team: string }[]> =>
  names.length === 0
    ? Promise.resolve([])
    : db.selectFrom('environments').select(['name', 'team']).where('name', 'in', [...names]).orderBy('name').forKeyShare().execute();
