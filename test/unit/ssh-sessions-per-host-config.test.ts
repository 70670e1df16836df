// SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: SSH sessions one worker process runs at once to one management VM
// (src/executors/ssh.ts, sessionTurn); test/integration/ssh-sessions-per-host.test.ts shows the bound at a
// real sshd. Here: its default and its range, refused alike at start-up and at run time.
import assert from 'node:assert/strict';
import { sshMaxSessionsPerHost } from '../../activities/script-result.js';
import { ConfigError, loadConfig } from '../../src/config.js';
import { SshConfigError } from '../../src/executors/errors.js';

describe('SSH sessions per management VM (SELFHEAL_SSH_MAX_SESSIONS_PER_HOST) configuration', () => {
  it('is 4 by default, below sshd\'s MaxStartups, and takes 1 to 100 from the environment', () => {
    assert.equal(sshMaxSessionsPerHost({}), 4);
    assert.equal(sshMaxSessionsPerHost({ SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: '' }), 4);
    assert.equal(sshMaxSessionsPerHost({ SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: '1' }), 1);
    assert.equal(sshMaxSessionsPerHost({ SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: '100' }), 100);
  });

  it('refuses a bound that is not a whole number from 1 to 100, at start-up and at run time', () => {
    for (const bad of ['0', '-1', '2.5', 'four', '101']) {
      assert.throws(() => sshMaxSessionsPerHost({ SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: bad }), SshConfigError, bad);
      assert.throws(() => loadConfig({ SELFHEAL_SSH_MAX_SESSIONS_PER_HOST: bad }), (err: unknown) => err instanceof ConfigError && err.variable === 'SELFHEAL_SSH_MAX_SESSIONS_PER_HOST', bad);
    }
  });
});
