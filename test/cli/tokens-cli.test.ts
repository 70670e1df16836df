// selfheal tokens create|list|revoke and the CLI's answer to the failed-authentication limit (429), run as
// an SRE would (the real launcher in a child process) against a real API server, Postgres and Temporal.
import assert from 'node:assert/strict';
import { hashToken } from '../../src/api/auth.js';
import { retryAfterSeconds } from '../../src/cli/http-client.js';
import type { TestDatabase } from '../helpers/db.js';
import { startLoggedApi, type LoggedApi } from '../helpers/logged-api.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';
import { selfheal } from '../helpers/cli.js';

const MAX_FAILURES = 3;

describe('selfheal tokens, and the failed-authentication limit, against a real server', function () {
  let api: LoggedApi;
  let db: TestDatabase;
  let admin: Record<string, string>;
  const as = (token: string) => api.as(token);
  const requests = () => api.requests();

  before(async function () {
    api = await startLoggedApi({ SELFHEAL_AUTH_MAX_FAILURES: String(MAX_FAILURES), SELFHEAL_AUTH_FAILURE_WINDOW_SECONDS: '600' });
    db = api.db;
    admin = as(ADMIN_TOKEN);
  });
  after(async () => api?.close());

  it('create prints the token once; it works with its scope and no more, and expires when asked', async () => {
    const run = await selfheal(['tokens', 'create', '--name', 'ci-deploy', '--scope', 'write', '--expires-in', '12h'], admin);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^created token (\S+) "ci-deploy" with scope write \(default team\), expires (\S+)$/);
    const token = lines[1]!;
    assert.match(token, /^shk_[A-Za-z0-9_-]{43}$/);
    assert.match(lines[2]!, /shown only once/);

    const row = await db.db.selectFrom('api_tokens').selectAll().where('token_hash', '=', hashToken(token)).executeTakeFirstOrThrow();
    assert.deepEqual(row.scopes, ['write']);
    assert.equal(row.created_by, 'admin-token');
    const hours = (row.expires_at.getTime() - row.created_at.getTime()) / 3_600_000;
    assert.ok(hours > 11.9 && hours <= 12.01, `expires after ${hours} h`);
    assert.ok(lines[0]!.includes(row.id) && lines[0]!.includes(row.expires_at.toISOString()));

    // The printed token is a working write token: it reads, and is refused the admin-only token list.
    const reads = await selfheal(['jobs', 'list', '--json'], as(token));
    assert.equal(reads.code, 0, reads.stderr);
    const refused = await selfheal(['tokens', 'list'], as(token));
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /^GET \/api\/tokens\?limit=500 failed: 403 /);

    const owned = await selfheal(['tokens', 'create', '--name', 'alice-laptop', '--scope', 'write', '--owner', 'Alice@Example.com'], admin);
    assert.equal(owned.code, 0, owned.stderr);
    assert.match(owned.stdout, /^created token \S+ "alice-laptop" with scope write \(default team\), issued to user:alice@example\.com, expires /);
    assert.equal((await db.db.selectFrom('api_tokens').select('owner').where('name', '=', 'alice-laptop').executeTakeFirstOrThrow()).owner, 'user:alice@example.com');

    const json = await selfheal(['tokens', 'create', '--name', 'dashboard', '--scope', 'read', '--expires-at', new Date(Date.now() + 2 * 86_400_000).toISOString(), '--json'], admin);
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout) as { id: string; token: string; scopes: string[]; expiresAt: string; expired: boolean };
    assert.deepEqual(body.scopes, ['read']);
    assert.equal(body.expired, false);
    assert.match(body.token, /^shk_/);
    const stored = await db.db.selectFrom('api_tokens').select(['token_hash', 'expires_at']).where('id', '=', body.id).executeTakeFirstOrThrow();
    assert.equal(stored.token_hash, hashToken(body.token));
    assert.equal(stored.expires_at.toISOString(), body.expiresAt);

    const defaulted = JSON.parse((await selfheal(['tokens', 'create', '--name', 'default-life', '--scope', 'admin', '--json'], admin)).stdout) as { expiresAt: string };
    const days = (Date.parse(defaulted.expiresAt) - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, `default lifetime ${days} days`);
  });

  it('teams: create a team, issue a token with --team payments:editor that sees its team and roles, manage its roles as admin', async () => {
    const made = await selfheal(['teams', 'create', 'payments', '--description', 'the payments SREs'], admin);
    assert.equal(made.code, 0, made.stderr);
    assert.equal(made.stdout, 'created team payments\n');
    const run = await selfheal(['tokens', 'create', '--name', 'pay-ci', '--team', 'payments:editor', '--team', 'payments:approver', '--json'], admin);
    assert.equal(run.code, 0, run.stderr);
    const created = JSON.parse(run.stdout) as { id: string; token: string; scopes: string[]; teams: string[] };
    assert.deepEqual(created.teams, ['payments:editor', 'payments:approver']);
    assert.deepEqual(created.scopes, ['write'], 'the scope the roles need, derived');
    const pay = as(created.token);
    const list = await selfheal(['teams', 'list'], pay);
    assert.equal(list.code, 0, list.stderr);
    assert.equal(list.stdout, 'TEAM\tYOUR ROLES\tDESCRIPTION\npayments\tapprover,editor\tthe payments SREs\n');
    // The team admin's view of the team; the editor is not its admin (403 → exit 3).
    const members = await selfheal(['teams', 'members', 'payments'], admin);
    assert.equal(members.code, 0, members.stderr);
    assert.match(members.stdout, new RegExp(`^${created.id}\tpay-ci\tapprover,editor$`, 'm'));
    const notAdmin = await selfheal(['teams', 'members', 'payments'], pay);
    assert.equal(notAdmin.code, 3);
    assert.match(notAdmin.stderr, /403 .*needs the admin role/);
    const set = await selfheal(['teams', 'set-roles', 'payments', created.id, '--role', 'viewer'], admin);
    assert.equal(set.code, 0, set.stderr);
    assert.equal(set.stdout, 'pay-ci in payments: viewer\n');
    const rows = await db.db.selectFrom('team_memberships').select(['team', 'role']).where('token_id', '=', created.id).execute();
    assert.deepEqual(rows, [{ team: 'payments', role: 'viewer' }]);
    const unknown = await selfheal(['teams', 'members', 'nowhere'], admin);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.stderr, 'team nowhere is not known\n');
  });

  it('teams list and teams members follow the pages: every team and every member, past the 500 of one page', async () => {
    await db.db.insertInto('teams').values(Array.from({ length: 620 }, (_, i) => ({ name: `bulk-${String(i).padStart(3, '0')}`, description: null, created_by: 'test' }))).execute();
    const names = (await db.db.selectFrom('teams').select('name').orderBy('name').execute()).map((r) => r.name);
    const list = await selfheal(['teams', 'list', '--json'], admin);
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual((JSON.parse(list.stdout) as { name: string }[]).map((t) => t.name), names);

    const bots = Array.from({ length: 510 }, (_, i) => ({ id: `bulk-bot-${i}`, name: `bot-${String(i).padStart(3, '0')}`, token_hash: hashToken(`shk_bulk_${i}`), scopes: ['read'], created_by: 'test', expires_at: new Date(Date.now() + 3_600_000) }));
    await db.db.insertInto('api_tokens').values(bots).execute();
    await db.db.insertInto('team_memberships').values(bots.map((b) => ({ token_id: b.id, team: 'bulk-001', role: 'viewer' as const, created_by: 'test' }))).execute();
    const members = await selfheal(['teams', 'members', 'bulk-001', '--json'], admin);
    assert.equal(members.code, 0, members.stderr);
    const got = JSON.parse(members.stdout) as { tokenId: string; tokenName: string; roles: string[] }[];
    assert.deepEqual(got.map((m) => m.tokenName), bots.map((b) => b.name));
    assert.ok(got.every((m) => m.roles.join() === 'viewer'));
  });

  it('create refuses bad input with exit 2, on the command line or from the server, and issues nothing', async () => {
    const before = await db.db.selectFrom('api_tokens').select('id').execute();
    for (const [args, message] of [
      [['--name', 'x', '--scope', 'root'], /argument 'root' is invalid\. Allowed choices are read, write, admin/],
      [['--scope', 'read'], /required option '--name <name>' not specified/],
      [['--name', 'x'], /give --scope, --team <team:role>, or both/],
      [['--name', 'x', '--team', 'payments:owner'], /teams\.0: role "owner" is not one of viewer, editor, approver, admin/],
      [['--name', 'x', '--team', 'nowhere:editor'], /teams\.0: no team named "nowhere"/],
      [['--name', 'x', '--scope', 'read', '--expires-in', '1d', '--expires-at', '2030-01-01T00:00:00Z'], /cannot be used with option '--expires-at/],
      [['--name', 'x', '--scope', 'read', '--expires-in', '400d'], /^POST \/api\/tokens failed: 400 .*366 days[\s\S]*expiresIn: must be at most 366 days from now/],
      [['--name', 'x', '--scope', 'read', '--expires-in', 'soon'], /expiresIn: must be a duration like "30m", "12h" or "90d"/],
      [['--name', 'x', '--scope', 'read', '--expires-at', '2020-01-01T00:00:00Z'], /expiresAt: must be at least one minute from now/],
      [['--name', 'x', '--scope', 'read', '--owner', 'alice'], /owner: must be an e-mail address, or user:<subject>/],
    ] as [string[], RegExp][]) {
      const run = await selfheal(['tokens', 'create', ...args], admin);
      assert.equal(run.code, 2, `${args.join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, message, args.join(' '));
      assert.equal(run.stdout, '');
    }
    assert.equal((await db.db.selectFrom('api_tokens').select('id').execute()).length, before.length, 'no token was issued');
  });

  it('list shows every token with its state and expiry, never a value; --json says expired', async () => {
    const expiredId = '6a0e8bf3-expired-token';
    await db.db
      .insertInto('api_tokens')
      .values({ id: expiredId, name: 'old-bot', token_hash: hashToken('shk_expired'), scopes: ['read'], created_by: 'admin-token', expires_at: new Date(Date.now() - 3_600_000) })
      .execute();
    const run = await selfheal(['tokens', 'list'], admin);
    assert.equal(run.code, 0, run.stderr);
    const [header, ...rows] = run.stdout.trimEnd().split('\n');
    assert.equal(header, 'ID\tNAME\tSCOPES\tTEAMS\tSTATE\tEXPIRES\tLAST USED\tCREATED BY\tOWNER\tMINTED FROM');
    const byName = new Map(rows.map((r) => [r.split('\t')[1], r.split('\t')]));
    assert.deepEqual(byName.get('old-bot')!.slice(0, 5), [expiredId, 'old-bot', 'read', 'default (by scope)', 'expired']);
    assert.equal(byName.get('ci-deploy')![4], 'active');
    assert.notEqual(byName.get('ci-deploy')![6], 'never', 'the write token was used in the test before');
    assert.equal(byName.get('dashboard')![6], 'never');
    assert.equal(byName.get('default-life')![3], 'all (admin)', 'an admin token reaches every team');
    assert.equal(byName.get('pay-ci')![3], 'payments:viewer');
    assert.equal(byName.get('alice-laptop')![8], 'user:alice@example.com');
    assert.equal(byName.get('dashboard')![8], '-', 'a token issued to nobody in particular');
    assert.equal(byName.get('dashboard')![9], '-', 'minted with the admin token, from no session');
    assert.doesNotMatch(run.stdout, /shk_/);

    const json = JSON.parse((await selfheal(['tokens', 'list', '--json'], admin)).stdout) as { id: string; expired: boolean; revokedAt: string | null }[];
    assert.equal(json.find((t) => t.id === expiredId)?.expired, true);
    assert.ok(json.every((t) => !('token' in t)));

    const live = await selfheal(['tokens', 'list', '--live', '--json'], admin);
    assert.equal(live.code, 0, live.stderr);
    const liveIds = (JSON.parse(live.stdout) as { id: string }[]).map((t) => t.id);
    assert.ok(!liveIds.includes(expiredId) && liveIds.length === json.length - 1, 'only the expired token left out');
  });

  it('revoke refuses the token at once; twice is fine; an unknown id exits 1', async () => {
    const created = JSON.parse((await selfheal(['tokens', 'create', '--name', 'short-lived', '--scope', 'read', '--json'], admin)).stdout) as { id: string; token: string };
    assert.equal((await selfheal(['jobs', 'list'], as(created.token))).code, 0);

    const run = await selfheal(['tokens', 'revoke', created.id], admin);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, new RegExp(`^token ${created.id} "short-lived" is revoked \\(since \\S+\\)`));
    const refused = await selfheal(['jobs', 'list'], as(created.token));
    assert.equal(refused.code, 3);
    assert.match(refused.stderr, /401/);

    const again = await selfheal(['tokens', 'revoke', created.id, '--json'], admin);
    assert.equal(again.code, 0, again.stderr);
    assert.ok((JSON.parse(again.stdout) as { revokedAt: string | null }).revokedAt);
    const listed = await selfheal(['tokens', 'list'], admin);
    assert.match(listed.stdout, new RegExp(`^${created.id}\\tshort-lived\\tread\\tdefault \\(by scope\\)\\trevoked\\t`, 'm'));
    const audit = await db.db.selectFrom('audit_log').select('action').where('entity_id', '=', created.id).orderBy('id').execute();
    assert.deepEqual(audit.map((a) => a.action), ['token.create', 'token.revoke'], 'revoked once');

    const unknown = await selfheal(['tokens', 'revoke', 'no-such-token'], admin);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /^token no-such-token is not known$/m);
  });

  // Last: the limit then blocks this address (127.0.0.1) for every token until the window ends.
  it('429 from the failed-authentication limit: one line with Retry-After, exit 3, and no retry', async () => {
    const bad = as('shk_not-a-token-of-this-server');
    // Failures so far (the revoked token's 401 counts too) plus these reach the limit; then one more is blocked.
    const failures = () => requests().filter((l) => l.status === 401).length;
    while (failures() < MAX_FAILURES) {
      const run = await selfheal(['jobs', 'list'], bad);
      assert.equal(run.code, 3);
      assert.match(run.stderr, /^GET \/api\/jobs\?limit=500 failed: 401 /);
    }
    const seen = requests().length;
    const blocked = await selfheal(['jobs', 'list'], bad);
    assert.equal(blocked.code, 3);
    const m = /^too many failed authentications from this address; retry in (\d+) s$/.exec(blocked.stderr.trimEnd());
    assert.ok(m, blocked.stderr);
    assert.ok(Number(m[1]) >= 1 && Number(m[1]) <= 600, `retry in ${m[1]} s`);
    assert.equal(blocked.stdout, '');
    const reached = requests().slice(seen);
    assert.deepEqual(reached.map((l) => [l.req?.method, l.req?.path, l.status]), [['GET', '/api/jobs', 429]], 'exactly one request, not retried');

    // The admin token from the same address is blocked too (the limit counts the address), same answer.
    const adminBlocked = await selfheal(['tokens', 'list'], admin);
    assert.equal(adminBlocked.code, 3);
    assert.match(adminBlocked.stderr.trimEnd(), /^too many failed authentications from this address; retry in \d+ s$/);
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    assert.equal(retryAfterSeconds('42'), 42);
    assert.equal(retryAfterSeconds(new Date(Date.UTC(2030, 0, 1, 0, 0, 30)).toUTCString(), Date.UTC(2030, 0, 1)), 30);
    assert.equal(retryAfterSeconds(null), undefined);
    assert.equal(retryAfterSeconds('soon'), undefined);
  });
});
