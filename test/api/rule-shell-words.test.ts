import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { createActionActivities } from '../../activities/actions.js';
import type { PlannedAction } from '../../activities/types.js';
import { createLogger } from '../../src/logger.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { routeHarness } from './rules.test.js';

// A shell command's templated args and environment are incident data (src/domain/shell-words.ts): the save,
// the rollback and the worker refuse a command that splits them or reads them as code, and only then.
describe('rules API: a shell command taking incident data (shell-words)', function () {
  let db: TestDatabase;
  let h: Awaited<ReturnType<typeof routeHarness>>;

  before(async function () {
    db = await createTestDatabase();
    h = await routeHarness(db);
  });
  beforeEach(async () => db.truncate());
  after(async () => db?.close());

  const approval = { required: true, timeoutMinutes: 30 };
  const rule = (command: string, extra: Record<string, unknown>) => ({
    name: `shell-${randomUUID().slice(0, 8)}`,
    services: ['PSHELL1'],
    actions: [{ id: 'fix', type: 'script.ssh', command, approval, ...extra }],
  });
  const paths = (body: Record<string, unknown>) => ((body.errors ?? []) as { path: string }[]).map((e) => e.path);
  const titled = { args: ['{{ incident.title }}'] };
  const hostEnv = { environment: { SELFHEAL_PARAM_HOST: '{{ environment.host }}' } };

  it('refuses with 400 naming actions.N.command a command that splits templated data or reads it as code', async function () {
    const refused: [string, Record<string, unknown>, RegExp][] = [
      ['systemctl restart $1', titled, /expands "\$1" outside double quotes/],
      ['a="$1"; systemctl restart $a', titled, /expands "\$a" outside double quotes: .*Write it in double quotes: "\$1", "\$a"/],
      ['systemctl restart $HOME', hostEnv, /expands "\$HOME" outside double quotes/],
      ['systemctl restart ${SELFHEAL_PARAM_HOST:-web}', hostEnv, /expands "\$\{SELFHEAL_PARAM_HOST:-web\}"/],
      ['eval "systemctl restart $1"', titled, /hands data to another parser \("eval/],
      ['sh -c "systemctl restart $1"', titled, /hands data to another parser \("sh -c/],
      ['ssh web-01 "systemctl restart $SELFHEAL_PARAM_HOST"', hostEnv, /hands data to another parser \("ssh web-01/],
      ['echo $(( $1 + 1 ))', titled, /evaluates "\$1" as arithmetic/],
      ["cat <<EOF\nit's $1\nEOF\nsystemctl restart $1", titled, /expands "\$1" outside double quotes/],
      ['echo "`id`"#$1', titled, /expands "\$1" outside double quotes/],
      ['echo "$1', titled, /cannot read the command \(an unterminated double quote\)/],
      // Data written where another program runs it later, and a found name read as code.
      ['echo "$SELFHEAL_PARAM_HOST" | sudo tee /etc/logrotate.d/app', hostEnv, /hands data to another parser \("\/etc\/logrotate\.d\/app is read as code later"\)/],
      ["find /var/tmp -name \"$1*\" -exec sh -c 'gzip {}' \\;", titled, /hands data to another parser \("find -exec sh -c 'gzip \{\}' \(a found name read as code\)"\)/],
      // A quoted value in an option position: a title `--to-command=id` is read by tar as an option.
      ['tar -xf /backup/app.tar "$1"', titled, /puts data where a program reads its options \("tar \\"\$1\\""\): .*Put -- before the data/],
    ];
    for (const [command, extra, message] of refused) {
      const res = await h.call('POST', '/api/rules', rule(command, extra));
      assert.equal(res.status, 400, `${command}: ${JSON.stringify(res.body)}`);
      assert.equal(res.headers.get('content-type'), 'application/problem+json');
      assert.deepEqual(paths(res.body), ['actions.0.command'], command);
      assert.match((res.body.errors as { message: string }[])[0]!.message, message, command);
    }
    assert.equal((await db.db.selectFrom('rules').select('id').execute()).length, 0, 'nothing was stored');
  });

  it('accepts the same commands with fixed args and environment, and quoted ones with templated data', async function () {
    const accepted: [string, Record<string, unknown>][] = [
      // Fixed values are the author's, not the incident's: before, these were refused as if templated.
      ['systemctl restart $1', { args: ['nginx'] }],
      ['systemctl restart $SELFHEAL_PARAM_UNIT', { environment: { SELFHEAL_PARAM_UNIT: 'nginx' } }],
      ['eval "systemctl restart $1"', { args: ['nginx'] }],
      ['systemctl restart "$1"', titled],
      ["sh -c 'systemctl restart \"$1\"' _ \"$1\"", titled],
      ["cat <<EOF\nit's \"$1\"\nEOF\nsystemctl restart \"$1\"", titled],
      ['systemctl restart "$SELFHEAL_PARAM_HOST" # restart $1 later', hostEnv],
      ['tar -xf /backup/app.tar -- "$1"', titled],
    ];
    for (const [command, extra] of accepted) {
      const res = await h.call('POST', '/api/rules', rule(command, extra));
      assert.equal(res.status, 201, `${command}: ${JSON.stringify(res.body)}`);
    }
  });

  it('a rollback to a version taking templated data unquoted is 409 naming actions.N.command; with fixed args it is 200', async function () {
    const created = await h.call('POST', '/api/rules', rule('systemctl restart $1', { args: ['nginx'] }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const id = created.body.id as string;
    const v2 = await h.call('PUT', `/api/rules/${id}`, rule('systemctl restart "$1"', titled), { 'if-match': '"1"' });
    assert.equal(v2.status, 200, JSON.stringify(v2.body));
    // Version 1 (fixed args) may come back.
    assert.equal((await h.call('POST', `/api/rules/${id}/rollback`, { version: 1 })).status, 200);
    // A version stored before the check (written around the API) with templated args and an unquoted $1.
    const bad = { ...rule('systemctl restart $1', titled), name: created.body.name };
    await db.db.updateTable('rule_versions').set({ definition: JSON.stringify(bad) }).where('rule_id', '=', id).where('version', '=', 2).execute();
    const rolled = await h.call('POST', `/api/rules/${id}/rollback`, { version: 2 });
    assert.equal(rolled.status, 409, JSON.stringify(rolled.body));
    assert.deepEqual(paths(rolled.body), ['actions.0.command']);
    assert.match(rolled.body.detail as string, /version 2 passes incident data to a shell command where it is split or read as code/);
  });

  it('the worker does not run a stored command that splits templated data, and runs one with fixed args', async function () {
    const { executeAction } = createActionActivities({ db: db.db, logger: createLogger({ level: 'silent' }) });
    const run = (action: Partial<PlannedAction> & { params: Record<string, unknown> }) =>
      executeAction({
        actionRunId: randomUUID(),
        incidentId: 'Q-none',
        eventId: 'e',
        matchId: 'm',
        ruleId: 'r',
        ruleVersion: 1,
        action: { index: 0, id: 'fix', type: 'script.ssh', when: 'success', approval: { timeoutMinutes: 30, onTimeout: 'reject' }, ...action } as PlannedAction,
        dryRun: false,
        previous: [],
      });
    // The planner said the stored args are templated: not run, with the save's words.
    await assert.rejects(run({ params: { command: 'systemctl restart $1', args: ['web-01 --force *'], sshEnvironment: 'nowhere' }, commandTakesData: true }), /not run: the command expands "\$1" outside double quotes/);
    await assert.rejects(run({ params: { command: 'eval "restart $SELFHEAL_PARAM_HOST"', environment: { SELFHEAL_PARAM_HOST: 'x; id' }, sshEnvironment: 'nowhere' }, commandTakesData: true }), /not run: the command hands data to another parser/);
    // A plan made before the planner said so: any args count as data, as before.
    await assert.rejects(run({ params: { command: 'systemctl restart $1', args: ['nginx'], sshEnvironment: 'nowhere' } }), /not run: the command expands "\$1"/);
    // Fixed args: past the check, on to the environment (none here, so it fails there, not as "not run").
    await assert.rejects(run({ params: { command: 'systemctl restart $1', args: ['nginx'], sshEnvironment: 'nowhere' }, commandTakesData: false }), (err: Error) => {
      assert.doesNotMatch(err.message, /not run/);
      return true;
    });
  });
});
