// The team authorization model (issue 24), pure: who may do what to the objects of which team.
//
// Rules, environments and jobs belong to a team. A principal (API token or signed-in user) holds roles per
// team; each role grants actions on that team's objects:
//
//   viewer   → read
//   editor   → read, change      (create, replace, delete, pause, trigger, test against, …)
//   approver → read, approve     (decide the team's gated actions)
//   admin    → read, change, approve, manage (the team's memberships)
//
// editor and approver are incomparable: the roles form a lattice with viewer at the bottom and admin at the
// top, and a principal may hold several roles in one team (their grants add up). The global `admin` scope
// is above every team: it may do everything everywhere, and alone may create teams.
//
// Backwards compatibility: a principal with no team role at all (every token issued before teams) acts on
// the `default` team only, as its scope says: `read` → viewer, `write` → editor and approver (today's
// write tokens change and approve). Once a principal holds any team role, only its team roles count.

export const DEFAULT_TEAM = 'default';

export const TEAM_ROLES = ['viewer', 'editor', 'approver', 'admin'] as const;
export type TeamRole = (typeof TEAM_ROLES)[number];

export const TEAM_ACTIONS = ['read', 'change', 'approve', 'manage'] as const;
export type TeamAction = (typeof TEAM_ACTIONS)[number];

/** What each role grants in its team. */
export const ROLE_GRANTS: Readonly<Record<TeamRole, readonly TeamAction[]>> = {
  viewer: ['read'],
  editor: ['read', 'change'],
  approver: ['read', 'approve'],
  admin: ['read', 'change', 'approve', 'manage'],
};

/** The action a role stands for when a route asks for "at least this role" (requireTeam). */
export const ROLE_ACTION: Readonly<Record<TeamRole, TeamAction>> = { viewer: 'read', editor: 'change', approver: 'approve', admin: 'manage' };

/** Team names: lowercase slugs, like environment names. */
export const TEAM_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
export const TEAM_NAME_RULE = 'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit';

export interface TeamMembership {
  team: string;
  role: TeamRole;
}

/** A principal as the model sees it. */
export interface Actor {
  /** As the audit log records it: `token:<name>`, `user:<email>` (a verified email) or `user:<sub>`, `admin-token`. */
  name: string;
  globalAdmin: boolean;
  /** Team → roles held there. */
  roles: ReadonlyMap<string, ReadonlySet<TeamRole>>;
}

/** True when `role` grants `action`. */
export const grants = (role: TeamRole, action: TeamAction): boolean => ROLE_GRANTS[role].includes(action);

/** True when `actor` may do `action` to an object of `team`. */
export function can(actor: Actor, action: TeamAction, team: string): boolean {
  if (actor.globalAdmin) return true;
  for (const role of actor.roles.get(team) ?? []) if (grants(role, action)) return true;
  return false;
}

/** Moving an object from one team to another needs admin of both (a global admin may always). */
export const canMove = (actor: Actor, from: string, to: string): boolean => can(actor, 'manage', from) && can(actor, 'manage', to);

/** The teams whose objects `actor` may read; `all` for a global admin. */
export function readableTeams(actor: Actor): 'all' | string[] {
  if (actor.globalAdmin) return 'all';
  return [...actor.roles.keys()].filter((team) => can(actor, 'read', team)).sort();
}

/**
 * The actor of a principal: `scopes` are its global scopes (read, write, admin), `memberships` its team roles.
 * Without memberships the legacy scopes act on the default team (see the header).
 */
export function actorFrom(name: string, scopes: readonly string[], memberships: readonly TeamMembership[]): Actor {
  const roles = new Map<string, Set<TeamRole>>();
  const add = (team: string, role: TeamRole) => {
    let set = roles.get(team);
    if (!set) roles.set(team, (set = new Set()));
    set.add(role);
  };
  if (memberships.length > 0) for (const m of memberships) add(m.team, m.role);
  else if (scopes.includes('write')) {
    add(DEFAULT_TEAM, 'editor');
    add(DEFAULT_TEAM, 'approver');
  }
  else if (scopes.includes('read')) add(DEFAULT_TEAM, 'viewer');
  return { name, globalAdmin: scopes.includes('admin'), roles };
}

/**
 * The global scope team roles need to pass the API's scope gate (`read` for routes that only read,
 * `write` for routes that change): `write` when some role grants more than reading, else `read`;
 * undefined without memberships. The team checks of each route then decide.
 */
export function gateScope(memberships: readonly TeamMembership[]): 'read' | 'write' | undefined {
  if (memberships.length === 0) return undefined;
  return memberships.some((m) => m.role !== 'viewer') ? 'write' : 'read';
}

/** `payments:editor` → { team: 'payments', role: 'editor' }, or an error message naming what is wrong. */
export function parseMembership(text: string): TeamMembership | { error: string } {
  const at = text.lastIndexOf(':');
  if (at <= 0) return { error: `"${text.slice(0, 100)}" must be team:role (e.g. payments:editor)` };
  const team = text.slice(0, at);
  const role = text.slice(at + 1);
  if (!TEAM_NAME_PATTERN.test(team)) return { error: `team "${team.slice(0, 100)}" ${TEAM_NAME_RULE}` };
  if (!(TEAM_ROLES as readonly string[]).includes(role)) return { error: `role "${role.slice(0, 40)}" is not one of ${TEAM_ROLES.join(', ')}` };
  return { team, role: role as TeamRole };
}

/** The team roles `groups` give under `map`, each once, sorted by team then role. */
export function teamRolesOf(groups: readonly string[], map: ReadonlyMap<string, readonly TeamMembership[]> | undefined): TeamMembership[] {
  const seen = new Map<string, TeamMembership>();
  for (const g of groups) for (const m of map?.get(g) ?? []) seen.set(`${m.team}:${m.role}`, m);
  return [...seen.values()].sort((a, b) => a.team.localeCompare(b.team) || a.role.localeCompare(b.role));
}
