import assert from 'node:assert/strict';
import {
  actorFrom,
  can,
  canMove,
  DEFAULT_TEAM,
  gateScope,
  parseMembership,
  readableTeams,
  ROLE_GRANTS,
  TEAM_ACTIONS,
  TEAM_ROLES,
  teamRolesOf,
  type TeamAction,
  type TeamMembership,
  type TeamRole,
} from '../../src/domain/teams.js';

/** Every subset of the roles (16 of them), to check every combination a principal may hold in one team. */
const subsets = <T>(xs: readonly T[]): T[][] => xs.reduce<T[][]>((acc, x) => acc.concat(acc.map((s) => [...s, x])), [[]]);

/** What the issue says each role may do, written out independently of ROLE_GRANTS. */
const expected = (roles: readonly TeamRole[], action: TeamAction): boolean =>
  roles.some(
    (r) =>
      r === 'admin' ||
      (action === 'read' && roles.length > 0) ||
      (r === 'editor' && action === 'change') ||
      (r === 'approver' && action === 'approve'),
  );

describe('teams: the authorization model (src/domain/teams.ts)', function () {
  it('every combination of roles × every action × own team, other team: exactly what the role lattice grants', () => {
    let checked = 0;
    for (const roles of subsets(TEAM_ROLES)) {
      const actor = actorFrom('token:t', ['write'], roles.map((role) => ({ team: 'payments', role })));
      for (const action of TEAM_ACTIONS) {
        assert.equal(can(actor, action, 'payments'), expected(roles, action), `roles [${roles.join(', ')}] ${action} on own team`);
        // No role in a team gives anything in another, the default team included (memberships replace legacy scopes).
        assert.equal(can(actor, action, 'checkout'), false, `roles [${roles.join(', ')}] ${action} on another team`);
        if (roles.length > 0) assert.equal(can(actor, action, DEFAULT_TEAM), false, `roles [${roles.join(', ')}] ${action} on default`);
        checked++;
      }
    }
    assert.equal(checked, 16 * 4);
  });

  it('the lattice: viewer below all, admin above all, editor and approver incomparable', () => {
    const grantsOf = (r: TeamRole) => new Set(ROLE_GRANTS[r]);
    const le = (a: TeamRole, b: TeamRole) => [...grantsOf(a)].every((x) => grantsOf(b).has(x));
    for (const r of TEAM_ROLES) {
      assert.ok(le('viewer', r), `viewer ≤ ${r}`);
      assert.ok(le(r, 'admin'), `${r} ≤ admin`);
    }
    assert.ok(!le('editor', 'approver') && !le('approver', 'editor'));
  });

  it('a global admin may do everything in every team, and move between any two', () => {
    const admin = actorFrom('admin-token', ['admin'], []);
    for (const action of TEAM_ACTIONS) for (const team of ['default', 'payments', 'x']) assert.ok(can(admin, action, team));
    assert.ok(canMove(admin, 'payments', 'checkout'));
    assert.equal(readableTeams(admin), 'all');
  });

  it('legacy tokens without memberships act on the default team only: read → viewer, write → editor + approver', () => {
    const reader = actorFrom('token:r', ['read'], []);
    const writer = actorFrom('token:w', ['write'], []);
    const none = actorFrom('token:n', [], []);
    for (const action of TEAM_ACTIONS) {
      assert.equal(can(reader, action, DEFAULT_TEAM), action === 'read', `read token ${action}`);
      assert.equal(can(writer, action, DEFAULT_TEAM), action !== 'manage', `write token ${action}`);
      assert.equal(can(none, action, DEFAULT_TEAM), false);
      for (const a of [reader, writer]) assert.equal(can(a, action, 'payments'), false, `legacy ${a.name} ${action} on payments`);
    }
    assert.deepEqual(readableTeams(writer), [DEFAULT_TEAM]);
    assert.deepEqual(readableTeams(none), []);
  });

  it('moving needs admin of both teams', () => {
    const m = (xs: [string, TeamRole][]): TeamMembership[] => xs.map(([team, role]) => ({ team, role }));
    assert.ok(canMove(actorFrom('a', [], m([['a', 'admin'], ['b', 'admin']])), 'a', 'b'));
    assert.ok(!canMove(actorFrom('a', [], m([['a', 'admin'], ['b', 'editor']])), 'a', 'b'));
    assert.ok(!canMove(actorFrom('a', [], m([['a', 'editor'], ['b', 'admin']])), 'a', 'b'));
    assert.ok(!canMove(actorFrom('a', ['write'], m([['a', 'admin']])), 'a', DEFAULT_TEAM), 'a legacy write scope is not admin of default');
  });

  it('readable teams are the teams with any role, sorted', () => {
    const a = actorFrom('a', [], [
      { team: 'z', role: 'approver' },
      { team: 'b', role: 'viewer' },
      { team: 'b', role: 'editor' },
    ]);
    assert.deepEqual(readableTeams(a), ['b', 'z']);
  });

  it('the scope gate follows the strongest role: viewer-only → read, anything else → write, none → undefined', () => {
    assert.equal(gateScope([]), undefined);
    assert.equal(gateScope([{ team: 'a', role: 'viewer' }]), 'read');
    for (const role of ['editor', 'approver', 'admin'] as const) assert.equal(gateScope([{ team: 'a', role: 'viewer' }, { team: 'b', role }]), 'write');
  });

  it('parses team:role and names what is wrong', () => {
    assert.deepEqual(parseMembership('payments:editor'), { team: 'payments', role: 'editor' });
    for (const [bad, says] of [
      ['payments', /must be team:role/],
      [':editor', /must be team:role/],
      ['Payments:editor', /team "Payments"/],
      ['payments:owner', /role "owner" is not one of viewer, editor, approver, admin/],
      ['a/b:viewer', /team "a\/b"/],
    ] as const) {
      const r = parseMembership(bad);
      assert.ok('error' in r && says.test(r.error), `${bad}: ${JSON.stringify(r)}`);
    }
  });

  it('team roles of groups: every mapped group contributes, each role once', () => {
    const map = new Map<string, TeamMembership[]>([
      ['pay-devs', [{ team: 'payments', role: 'editor' }]],
      ['pay-leads', [{ team: 'payments', role: 'editor' }, { team: 'payments', role: 'approver' }]],
    ]);
    assert.deepEqual(teamRolesOf(['pay-leads', 'pay-devs', 'other'], map), [
      { team: 'payments', role: 'approver' },
      { team: 'payments', role: 'editor' },
    ]);
    assert.deepEqual(teamRolesOf(['pay-devs'], undefined), []);
  });
});
