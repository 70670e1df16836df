// `selfheal rules apply` against the real API: a token that cannot read a team the rules file names is
// refused before anything is sent, as `selfheal apply` refuses it. Its plan is made without what the server
// holds in that team (a rule there of a file rule's name reads as a create, and --prune cannot see what it
// would delete), so applying it applied the rules of the other teams and then failed half-way, leaving the
// server in a state no file describes. Found in review.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../src/logger.js';
import { startApiServer, type ApiServer } from '../../src/server.js';
import { ADMIN_TOKEN, startStack, type Stack } from '../helpers/stack.js';
import { selfheal } from '../helpers/cli.js';

const ruleDoc = (name: string, extra = '') =>
  `kind: Rule\nname: ${name}\nservices: ['*']\ndryRun: true\nactions:\n  - { id: note, type: pagerduty.note, content: '${name} saw {{ incident.title }}' }\n${extra}`;

describe('selfheal rules apply: a team the token cannot read', function () {
  let stack: Stack;
  let server: ApiServer;
  let work: string;

  before(async function () {
    stack = await startStack();
    server = await startApiServer({ config: { ...stack.config, port: 0, host: '127.0.0.1' }, db: stack.db.db, temporal: stack.temporal.client, logger: createLogger({ level: 'silent' }) });
    work = await mkdtemp(path.join(os.tmpdir(), 'selfheal-rules-apply-teams-'));
  });
  after(async () => {
    await server?.close();
    await stack?.stop();
    await stack?.db.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('is refused (exit 2) before any rule is applied, naming the team, as selfheal apply refuses it; --dry-run and rules diff warn', async () => {
    assert.equal((await stack.api('/api/teams', { method: 'POST', body: JSON.stringify({ name: 'scope-pay' }) })).status, 201);
    const res = await stack.api('/api/tokens', { method: 'POST', body: JSON.stringify({ name: 'rules-write', scopes: ['read', 'write'] }) });
    assert.equal(res.status, 201);
    const token = ((await res.json()) as { token: string }).token;
    const file = path.join(work, 'rules.yaml');
    await writeFile(file, `${ruleDoc('default-first')}---\n${ruleDoc('pay-second', 'team: scope-pay\n')}`);
    const env = { SELFHEAL_URL: server.url, SELFHEAL_TOKEN: token };

    const gitops = await selfheal(['apply', '-f', file], env);
    assert.equal(gitops.code, 2, gitops.stdout + gitops.stderr);
    const refused = await selfheal(['rules', 'apply', '-f', file, '--no-backtest'], env);
    assert.equal(refused.code, 2, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /the token cannot read team\(s\) scope-pay, which the plan covers .* nothing was applied/);
    const rules = (await (await stack.api('/api/rules')).json()) as { items: { name: string }[] };
    assert.deepEqual(rules.items.map((r) => r.name), [], 'no rule of the file was applied');

    const dry = await selfheal(['rules', 'apply', '-f', file, '--no-backtest', '--dry-run'], { ...env, SELFHEAL_TOKEN: ADMIN_TOKEN });
    assert.equal(dry.code, 0, dry.stderr);
    const blindDry = await selfheal(['rules', 'apply', '-f', file, '--no-backtest', '--dry-run'], env);
    assert.equal(blindDry.code, 0, blindDry.stderr);
    assert.match(blindDry.stderr, /!! the token cannot read team\(s\) scope-pay, which the plan covers/);
    const blindDiff = await selfheal(['rules', 'diff', '-f', file], env);
    assert.equal(blindDiff.code, 1, blindDiff.stderr);
    assert.match(blindDiff.stderr, /!! the token cannot read team\(s\) scope-pay, which the plan covers/);
  });
});
