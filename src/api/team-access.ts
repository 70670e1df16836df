// Team checks of the API (issue 24), one call per route: the model is src/domain/teams.ts; this file turns
// the request's principal (set by requireScope: actor, scopes, teamRoles) into its Actor and answers the
// refusals in one shape.
//
// Reads of another team's object answer 404 exactly as an unknown id does (lists leave them out), so a
// reader learns nothing of other teams' objects. Writes (change, approve, manage) the principal may not do
// answer 403 naming the team and the role needed; a write to an id the principal cannot even read is 403
// too (the route family's choice, docs/security.md), which tells the writer that the id exists.
import type { Context } from 'hono';
import type { Kysely } from 'kysely';
import type { Database } from '../db/database.js';
import { findTeam } from '../db/repositories/teams.js';
import { actorFrom, can, canMove, DEFAULT_TEAM, readableTeams, ROLE_ACTION, type Actor, type TeamRole } from '../domain/teams.js';
import type { AppEnv } from './app.js';
import { badRequest, notFound, ProblemError } from './problem.js';

/** The request's principal in the team model (after requireScope). */
export function actorOf(c: Context<AppEnv>): Actor {
  return actorFrom(c.get('actor') ?? 'unknown', c.get('scopes') ?? [], c.get('teamRoles') ?? []);
}

/**
 * Refuses unless the principal holds `role` (or a role granting the same) in `team`. For `viewer` the
 * refusal is the 404 of an unknown object (`what` names it: `rule 3f…`); for every other role it is 403.
 */
export function requireTeam(c: Context<AppEnv>, role: TeamRole, team: string, what = 'the object'): void {
  const actor = actorOf(c);
  const action = ROLE_ACTION[role];
  if (can(actor, action, team)) return;
  if (role === 'viewer') throw notFound(`${what} is not known`);
  throw new ProblemError(403, 'Forbidden', `${what} belongs to team "${team}"; this needs the ${role} role there (or the global admin scope), which ${actor.name} does not have`, {
    team,
    requiredRole: role,
  });
}

/**
 * The teams whose objects the principal may list: undefined for all (global admin), else a list for a
 * `where team in (…)` filter (possibly empty).
 */
export function visibleTeams(c: Context<AppEnv>): string[] | undefined {
  const teams = readableTeams(actorOf(c));
  return teams === 'all' ? undefined : teams;
}

/** True when the principal may read objects of `team` (for filtering rows already loaded). */
export const canRead = (c: Context<AppEnv>, team: string): boolean => can(actorOf(c), 'read', team);

/**
 * The team a new object goes to (`requested`, else `default`): it must exist (400 naming `team`), and the
 * principal must be its editor (403).
 */
export async function teamForCreate(c: Context<AppEnv>, db: Kysely<Database>, requested: string | undefined, what: string): Promise<string> {
  const team = requested ?? DEFAULT_TEAM;
  await mustExist(db, team);
  requireTeam(c, 'editor', team, what);
  return team;
}

/**
 * A change to an object of team `current`, possibly moving it to `requested`: editor of `current`, and to
 * move, admin of both teams (and `requested` must exist). Returns the team the object ends in.
 */
export async function teamForChange(c: Context<AppEnv>, db: Kysely<Database>, current: string, requested: string | undefined, what: string): Promise<string> {
  requireTeam(c, 'editor', current, what);
  if (requested === undefined || requested === current) return current;
  await mustExist(db, requested);
  if (!canMove(actorOf(c), current, requested)) {
    throw new ProblemError(403, 'Forbidden', `moving ${what} from team "${current}" to team "${requested}" needs the admin role in both teams (or the global admin scope)`, {
      team: current,
      requiredRole: 'admin',
      errors: [{ path: 'team', message: `needs admin of "${current}" and of "${requested}"` }],
    });
  }
  return requested;
}

async function mustExist(db: Kysely<Database>, team: string): Promise<void> {
  if (!(await findTeam(db, team))) throw badRequest(`team ${team} does not exist`, [{ path: 'team', message: `no team named "${team}" (an admin creates it with POST /api/teams)` }]);
}
