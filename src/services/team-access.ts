// Team checks of the services (issue 24), one call per operation: the model is src/domain/teams.ts; this
// file turns the service's Actor (name, scopes, team roles) into the model's and answers the refusals in
// one shape.
//
// Reads of another team's object answer 404 exactly as an unknown id does (lists leave them out), so a
// reader learns nothing of other teams' objects. Writes (change, approve, manage) the actor may not do
// answer 403 naming the team and the role needed; a write to an id the actor cannot even read is 403 too
// (the route family's choice, docs/security.md), which tells the writer that the id exists.
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { findTeam } from '../db/repositories/teams.js';
import { actorFrom, can, canMove, DEFAULT_TEAM, readableTeams, ROLE_ACTION, type Actor as TeamActor, type TeamRole } from '../domain/teams.js';
import type { Actor } from './actor.js';
import { ConflictError, ForbiddenError, NotFoundError, ValidationError } from './errors.js';

/** The actor in the team model. */
export const teamActor = (actor: Actor): TeamActor => actorFrom(actor.name, actor.scopes, actor.teams ?? []);

/**
 * Refuses unless the actor holds `role` (or a role granting the same) in `team`. For `viewer` the refusal
 * is the 404 of an unknown object (`what` names it: `rule 3f…`); for every other role it is 403.
 */
export function requireTeam(actor: Actor, role: TeamRole, team: string, what = 'the object'): void {
  const model = teamActor(actor);
  if (can(model, ROLE_ACTION[role], team)) return;
  if (role === 'viewer') throw new NotFoundError(`${what} is not known`);
  throw new ForbiddenError(`${what} belongs to team "${team}"; this needs the ${role} role there (or the global admin scope), which ${actor.name} does not have`, {
    team,
    requiredRole: role,
  });
}

/** The teams whose objects the actor may list: undefined for all (global admin), else a list for a `team in (…)` filter (possibly empty). */
export function visibleTeams(actor: Actor): string[] | undefined {
  const teams = readableTeams(teamActor(actor));
  return teams === 'all' ? undefined : teams;
}

/** True when the actor may read objects of `team` (for filtering rows already loaded). */
export const canRead = (actor: Actor, team: string): boolean => can(teamActor(actor), 'read', team);

/** True when the actor manages the memberships of `team` (its admin, or a global admin). */
export const canManage = (actor: Actor, team: string): boolean => can(teamActor(actor), 'manage', team);

/** The new object's team (`requested`, else `default`): it must exist (400 naming `team`), and the actor must be its editor (403). */
export async function teamForCreate(db: Kysely<Database>, actor: Actor, requested: string | undefined, what: string): Promise<string> {
  const team = requested ?? DEFAULT_TEAM;
  await mustExist(db, team);
  requireTeam(actor, 'editor', team, what);
  return team;
}

/**
 * A change to an object of team `current`, possibly moving it to `requested`: editor of `current`, and to
 * move, admin of both teams (and `requested` must exist). Returns the team the object ends in.
 */
export async function teamForChange(db: Kysely<Database>, actor: Actor, current: string, requested: string | undefined, what: string): Promise<string> {
  requireTeam(actor, 'editor', current, what);
  if (requested === undefined || requested === current) return current;
  await mustExist(db, requested);
  if (!canMove(teamActor(actor), current, requested)) {
    throw new ForbiddenError(`moving ${what} from team "${current}" to team "${requested}" needs the admin role in both teams (or the global admin scope)`, {
      team: current,
      requiredRole: 'admin',
      errors: [{ path: 'team', message: `needs admin of "${current}" and of "${requested}"` }],
    });
  }
  return requested;
}

async function mustExist(db: Kysely<Database>, team: string): Promise<void> {
  if (!(await findTeam(db, team))) throw new ValidationError(`team ${team} does not exist`, [{ path: 'team', message: `no team named "${team}" (an admin creates it with POST /api/teams)` }]);
}

/**
 * The `ifTeam` precondition of a change or delete: the object must still be in the team the caller read it
 * in (`selfheal apply` sends the team its plan saw), else 409 and nothing changes. Names are unique across
 * teams, so between a plan and its request a name can pass to another team (deleted and registered again
 * there, or moved by an admin of both): a prune would delete that team's object, an update move it back,
 * with a token that sees every team (an admin's). The team it is in now is named only to who may read it.
 */
export function requireStillInTeam(actor: Actor, current: string, expected: string | undefined, what: string): void {
  if (expected === undefined || expected === current) return;
  const now = canRead(actor, current) ? `is in team ${current} now` : 'is in another team now';
  throw new ConflictError(`${what} ${now}, not in team ${expected} as the request expects; nothing was changed`, {
    errors: [{ path: 'ifTeam', message: `the object is no longer in team "${expected}"` }],
  });
}
