// Script variables (README "Security model": `write` tokens run only allow-listed scripts; only `admin` may
// add a shell command). A rule's `environment` used to be checked against a deny list, which missed names
// that make common programs run a command (VIMINIT, PYTHONWARNINGS + BROWSER, GIT_CONFIG_*, …) and the
// shipped check-root-password-expiry.sh ran whatever CHAGE_CMD named, as root, even with --dry-run. Now a
// rule may set only SELFHEAL_PARAM_* names: refused when saved (400 naming the variable) and again by both
// executors, so a stored rule saved before fails its action instead of running anything.
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseRuleInput, scriptAgentActionSchema, scriptSshActionSchema } from '../../src/domain/rules/schema.js';
import { ScriptNotAllowedError, SshConfigError } from '../../src/executors/errors.js';
import { runScript } from '../../src/executors/script-runner.js';
import { withEnv } from '../../src/executors/ssh.js';

const SHIPPED_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'scripts');
const exists = (path: string) => stat(path).then(() => true, () => false);

/** Variables the audit showed run code through programs a script starts (and a plain name, for good measure). */
const ATTACK_ENV: Record<string, string> = {
  CHAGE_CMD: '/usr/bin/vi',
  VIMINIT: 'call system("id > /tmp/x")|qa!',
  EXINIT: 'call system("id")',
  PYTHONWARNINGS: 'all:0:antigravity.x:0:0',
  BROWSER: '/bin/sh -c "id > /tmp/x" %s',
  GIT_CONFIG_COUNT: '1',
  GIT_CONFIG_KEY_0: 'core.fsmonitor',
  GIT_CONFIG_VALUE_0: 'id > /tmp/x; false',
  GIT_CONFIG_PARAMETERS: "'core.fsmonitor'='id'",
  LUA_INIT: 'os.execute("id")',
  JDK_JAVA_OPTIONS: '-javaagent:/tmp/x.jar',
  PAGER: 'sh -c id',
  EDITOR: 'sh -c id',
  LESSOPEN: '|id %s',
  https_proxy: 'http://evil.example.com:3128',
  KUBECONFIG: '/tmp/evil-kubeconfig',
  AWS_CONFIG_FILE: '/tmp/evil-aws-config',
  OPENSSL_CONF: '/tmp/evil.cnf',
  DRY_RUN: '1',
};

describe('security: a rule sets only SELFHEAL_PARAM_* variables for its scripts', function () {
  let root: string;
  let marker: string;
  let payload: string;

  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'selfheal-sec-env-'));
    marker = join(root, 'pwned');
    // Stands for any program already on the host (vi with VIMINIT, xargs -l <cmd>, …): it is not in the
    // scripts directory, so it must never run because a rule said so.
    payload = join(root, 'payload');
    await writeFile(payload, `#!/bin/sh\nid > ${marker}\n`);
    await chmod(payload, 0o755);
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('the rule schema refuses every other name, naming the variable and the name to use instead (script.agent and script.ssh)', () => {
    for (const schema of [scriptAgentActionSchema, scriptSshActionSchema]) {
      const type = schema === scriptAgentActionSchema ? 'script.agent' : 'script.ssh';
      const parsed = schema.safeParse({ type, script: 'check-root-password-expiry.sh', args: ['--dry-run'], environment: ATTACK_ENV });
      assert.equal(parsed.success, false, `${type} with code-loading variables was accepted`);
      const named = new Set(parsed.error!.issues.map((i) => String(i.path.at(-1))));
      for (const name of Object.keys(ATTACK_ENV)) assert.ok(named.has(name), `${type}: ${name} is not named`);
      const dryRun = parsed.error!.issues.find((i) => i.path.at(-1) === 'DRY_RUN');
      assert.match(dryRun?.message ?? '', /SELFHEAL_PARAM_DRY_RUN/);
    }
    const ok = scriptAgentActionSchema.safeParse({ type: 'script.agent', script: 'x.sh', environment: { SELFHEAL_PARAM_DRY_RUN: '1', SELFHEAL_PARAM_NOTE_2: '{{ incident.title }}' } });
    assert.ok(ok.success, JSON.stringify(ok.error?.issues));
    for (const name of ['SELFHEAL_PARAM_', 'selfheal_param_x', 'SELFHEAL_PARAM_lower', 'SELFHEAL_INCIDENT_ID']) {
      assert.equal(scriptAgentActionSchema.safeParse({ type: 'script.agent', script: 'x.sh', environment: { [name]: 'x' } }).success, false, name);
    }
  });

  it('a whole rule with such a variable is refused at the path the API reports (actions.N.environment.NAME)', () => {
    const parsed = parseRuleInput({ name: 'legacy', actions: [{ type: 'script.ssh', script: 'x.sh', environment: { SELFHEAL_PARAM_OK: '1', NOTE: 'x' } }] });
    assert.equal(parsed.ok, false);
    assert.ok(!parsed.ok && parsed.issues.some((i) => i.path === 'actions.0.environment.NOTE' && /SELFHEAL_PARAM_NOTE/.test(i.message)), JSON.stringify(!parsed.ok && parsed.issues));
  });

  it('the shipped check-root-password-expiry.sh --dry-run no longer runs what CHAGE_CMD names (refused, the program did not run)', async () => {
    await assert.rejects(
      runScript({ scriptsDir: SHIPPED_SCRIPTS, script: 'check-root-password-expiry.sh', args: ['--dry-run'], env: { CHAGE_CMD: payload }, timeoutMs: 10_000 }),
      (err: Error) => err instanceof ScriptNotAllowedError && /CHAGE_CMD/.test(err.message),
    );
    assert.equal(await exists(marker), false, `a program outside the scripts directory ran: ${marker} was written`);
    // And the script itself gives no variable that meaning any more, under the prefix or not.
    assert.doesNotMatch(await readFile(join(SHIPPED_SCRIPTS, 'check-root-password-expiry.sh'), 'utf8'), /\$\{?[A-Z_]*CMD\b/);
  });

  it('an allow-listed Python script cannot be made to start a browser command (PYTHONWARNINGS + BROWSER refused, nothing ran)', async function () {
    const dir = join(root, 'scripts');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'report.py'), '#!/usr/bin/env python3\nprint("RESULT ok")\n');
    await chmod(join(dir, 'report.py'), 0o755);
    await assert.rejects(
      runScript({ scriptsDir: dir, script: 'report.py', env: { PYTHONWARNINGS: 'all:0:antigravity.x:0:0', BROWSER: `${payload} %s` }, timeoutMs: 10_000 }),
      ScriptNotAllowedError,
    );
    assert.equal(await exists(marker), false, `a program outside the scripts directory ran: ${marker} was written`);
  });

  it('the local runner and the SSH executor refuse each such name before anything runs', async () => {
    const dir = join(root, 'scripts');
    await mkdir(dir, { mode: 0o755 });
    await chmod(dir, 0o755);
    await writeFile(join(dir, 'run-named.sh'), `#!/bin/sh\n"\${CHAGE_CMD:-true}"\ntouch ${marker}\n`);
    await chmod(join(dir, 'run-named.sh'), 0o755);
    for (const [name, value] of Object.entries({ ...ATTACK_ENV, CHAGE_CMD: payload })) {
      await assert.rejects(runScript({ scriptsDir: dir, script: 'run-named.sh', env: { [name]: value }, timeoutMs: 10_000 }), ScriptNotAllowedError, name);
      assert.throws(() => withEnv(['/opt/selfheal/scripts/run-named.sh'], { [name]: value }), SshConfigError, name);
    }
    assert.equal(await exists(marker), false, 'the script ran with a refused variable');
    // The parameters a rule may set arrive as they are, and mean nothing to the programs the script starts.
    const r = await runScript({ scriptsDir: dir, script: 'run-named.sh', env: { SELFHEAL_PARAM_CHAGE_CMD: payload }, timeoutMs: 10_000 });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.equal(await readFile(marker, 'utf8'), '', 'the script ran, the payload did not');
  });
});
