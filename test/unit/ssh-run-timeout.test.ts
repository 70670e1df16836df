// Review finding: a script.ssh action or SSH job ran as long as its rule or job asked (up to 86,400 s),
// as the VM's login user (often root), while agent runs stop at SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS.
// runOnManagementVm (activities/script-result.ts), shared by actions and jobs, now caps every SSH run at
// SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS; test/integration/executors-ssh.test.ts shows a real run stopped by it.
import assert from 'node:assert/strict';
import { sshRunTimeoutMs } from '../../activities/script-result.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { SshConfigError } from '../../src/executors/errors.js';

describe('SSH run time cap (SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS)', () => {
  it('caps what a rule or job asks at 600 s by default, like the agent', () => {
    assert.equal(sshRunTimeoutMs(86_400_000, {}), 600_000);
    assert.equal(sshRunTimeoutMs(86_400_000, { SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: '' }), 600_000);
    assert.equal(sshRunTimeoutMs(300_000, {}), 300_000, 'a shorter timeout is kept');
  });

  it('takes the operator\'s cap from the environment', () => {
    assert.equal(sshRunTimeoutMs(86_400_000, { SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: '30' }), 30_000);
    assert.equal(sshRunTimeoutMs(10_000, { SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: '30' }), 10_000);
    assert.equal(sshRunTimeoutMs(86_400_000, { SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: '86400' }), 86_400_000);
  });

  it('refuses a cap that is not 1 to 86400 whole seconds, at start-up and at run time', () => {
    for (const bad of ['0', '-5', '1.5', 'ten', '86401']) {
      assert.throws(() => sshRunTimeoutMs(1000, { SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: bad }), SshConfigError, bad);
      assert.throws(() => loadConfig({ SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS: bad }), (err: unknown) => err instanceof ConfigError && err.variable === 'SELFHEAL_SSH_SCRIPTS_TIMEOUT_SECONDS', bad);
    }
  });
});
