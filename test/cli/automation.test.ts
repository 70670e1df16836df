// selfheal automation status|resume, run as an SRE would (the real launcher in a child process) against a
// real API server and Postgres. docs/runbooks/guards-and-verification.md: `status` "prints the guards, and
// the pauses in force with the guard, the time and the incident that crossed it; it exits 1 while
// something is paused"; only an admin token may resume (others get 403: exit 3, README's exit codes).
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { insertPause } from '../../src/db/repositories/guards.js';
import { selfheal } from '../helpers/cli.js';
import { startLoggedApi, type LoggedApi } from '../helpers/logged-api.js';
import { ADMIN_TOKEN } from '../helpers/stack.js';

describe('selfheal automation status and resume against a real server', function () {
  this.timeout(120_000);
  let api: LoggedApi;

  before(async function () {
    api = await startLoggedApi({});
  });
  after(async () => api?.close());

  async function token(scope: 'read' | 'write' | 'admin'): Promise<string> {
    const res = await fetch(`${api.server.url}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: `${scope}-${randomUUID().slice(0, 6)}`, scopes: [scope] }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    return ((await res.json()) as { token: string }).token;
  }

  it('status exits 1 while an environment is paused, naming guard, time and incident and how to resume; a write token cannot resume (exit 3), the admin can (0), and then status exits 0', async function () {
    const before = await selfheal(['automation', 'status'], api.as(ADMIN_TOKEN));
    assert.equal(before.code, 0, before.stderr);
    assert.match(before.stdout, /^automation is running \(nothing paused\)$/m);

    const environment = `prod-eu-${randomUUID().slice(0, 6)}`;
    const at = new Date('2026-12-09T03:04:05.000Z');
    const pause = await insertPause(api.db.db, { scope: 'environment', environment, guard: 'maxTargets', reason: 'maxTargets: 5 hosts remediated in the last 10m (max 5)', incidentId: 'Q0PAUSEDBY1', at });
    assert.ok(pause, 'the pause is in force');

    const reader = await token('read');
    const paused = await selfheal(['automation', 'status'], api.as(reader));
    assert.equal(paused.code, 1, `exit 1 while something is paused: ${paused.stderr}`);
    assert.match(paused.stdout, /^guards: /m);
    assert.match(paused.stdout, /^PAUSED:$/m);
    assert.match(paused.stdout, /^SCOPE\tENVIRONMENT\tGUARD\tSINCE\tINCIDENT\tREASON$/m);
    assert.ok(
      paused.stdout.split('\n').includes(`environment\t${environment}\tmaxTargets\t${at.toISOString()}\tQ0PAUSEDBY1\tmaxTargets: 5 hosts remediated in the last 10m (max 5)`),
      `the pause's row names guard, time and incident:\n${paused.stdout}`,
    );
    assert.match(paused.stdout, new RegExp(`^resume with: selfheal automation resume --environment ${environment} \\(admin\\)$`, 'm'));
    assert.doesNotMatch(paused.stdout, /nothing paused/);
    const json = await selfheal(['--json', 'automation', 'status'], api.as(reader));
    assert.equal(json.code, 1, json.stderr);
    const body = JSON.parse(json.stdout) as { pauses: { environment: string; guard: string; incidentId: string; pausedAt: string }[] };
    assert.deepEqual(
      body.pauses.map((p) => [p.environment, p.guard, p.incidentId, p.pausedAt]),
      [[environment, 'maxTargets', 'Q0PAUSEDBY1', at.toISOString()]],
    );

    // A write token is refused: 403, a server-side refusal (exit 3); the pause holds.
    const writer = await token('write');
    const refused = await selfheal(['automation', 'resume', '--environment', environment], api.as(writer));
    assert.equal(refused.code, 3, refused.stderr);
    assert.match(refused.stderr, /^POST \/api\/automation\/resume failed: 403 /);
    assert.equal(refused.stdout, '');
    assert.equal((await selfheal(['automation', 'status'], api.as(reader))).code, 1, 'still paused');

    const resumed = await selfheal(['automation', 'resume', '--environment', environment], api.as(ADMIN_TOKEN));
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(resumed.stdout, `resumed environment ${environment} (guard maxTargets, paused since ${at.toISOString()})\n`);
    const row = await api.db.db.selectFrom('automation_pauses').select(['resumed_at', 'resumed_by']).where('id', '=', pause.id).executeTakeFirstOrThrow();
    assert.ok(row.resumed_at, 'resumed in Postgres');
    assert.equal(row.resumed_by, 'admin-token');
    const audit = await api.db.db.selectFrom('audit_log').select(['actor', 'action']).where('entity_id', '=', String(pause.id)).execute();
    assert.deepEqual(audit, [{ actor: 'admin-token', action: 'automation.resume' }]);

    const after = await selfheal(['automation', 'status'], api.as(reader));
    assert.equal(after.code, 0, after.stderr);
    assert.match(after.stdout, /^automation is running \(nothing paused\)$/m);
    assert.doesNotMatch(after.stdout, /PAUSED/);
  });
});
