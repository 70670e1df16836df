// SELFHEAL_ADMIN_TOKEN is the bootstrap admin credential: it reaches every team, mints tokens, and nothing
// revokes it short of a restart (docs/security.md). The configuration only asked for 16+ characters, in
// every mode: the README's quick start's `export SELFHEAL_ADMIN_TOKEN=dev-admin-token-123456`, or sixteen
// times the same letter, started a NODE_ENV=production API silently, whereas the other production foot-guns
// (unsigned webhooks, open /metrics, open destination lists) are refused or warned about.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, loadConfig } from '../../src/config.js';

const production = { NODE_ENV: 'production', PAGERDUTY_WEBHOOK_SECRETS: 'whsec-test-0123456789' };

/** The error loading `env` throws, or undefined when it is accepted. */
function refusal(env: Record<string, string>): ConfigError | undefined {
  try {
    loadConfig(env, { role: 'api' });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err;
  }
  return undefined;
}

/** A production start with `variable=token` is refused, naming the variable and why, never the value. */
function refusedAsGuessable(variable: 'SELFHEAL_ADMIN_TOKEN' | 'METRICS_TOKEN', token: string): void {
  const err = refusal({ ...production, [variable]: token });
  assert.ok(err, `a production API starts with ${variable} set to the guessable "${token}"`);
  assert.equal(err.variable, variable);
  assert.match(err.message, new RegExp(`^Invalid configuration: ${variable} (is the example the README publishes|has fewer than 8 distinct characters|carries less than 40 bits by its characters' entropy), too guessable when NODE_ENV=production \\(set a random one: openssl rand -hex 24\\)$`));
  assert.ok(!err.message.toLowerCase().includes(token.toLowerCase()), err.message);
}

describe('config: a guessable SELFHEAL_ADMIN_TOKEN is refused in production', function () {
  const guessable = ['dev-admin-token-123456', 'DEV-ADMIN-TOKEN-987654321', 'aaaaaaaaaaaaaaaa', 'abababababababababab', 'aaaabbbbccccddddeeeeffff'];
  for (const token of guessable) {
    it(`refuses SELFHEAL_ADMIN_TOKEN=${token} when NODE_ENV=production, naming the variable, not the value`, function () {
      refusedAsGuessable('SELFHEAL_ADMIN_TOKEN', token);
    });
  }

  it('refuses every admin token the README shows being exported (bar the ones it generates)', function () {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const shown = [...readme.matchAll(/SELFHEAL_ADMIN_TOKEN=([^\s`"'$)]+)/g)].map((m) => m[1]!);
    assert.ok(shown.length > 0, 'the README shows an example token');
    for (const token of shown) assert.ok(refusal({ ...production, SELFHEAL_ADMIN_TOKEN: token }), `the README's ${token} is accepted in production`);
  });

  it('accepts a token made as the docs say (openssl rand -hex 24) in production', function () {
    for (let i = 0; i < 200; i++) {
      const token = randomBytes(24).toString('hex');
      assert.equal(refusal({ ...production, SELFHEAL_ADMIN_TOKEN: token })?.message, undefined);
    }
  });

  it('keeps development and test as they were: any token of 16+ characters', function () {
    for (const NODE_ENV of ['development', 'test']) {
      for (const token of guessable) assert.equal(loadConfig({ NODE_ENV, SELFHEAL_ADMIN_TOKEN: token }).adminToken, token);
    }
  });
});

// METRICS_TOKEN is all that keeps GET /metrics (every team's incident, rule and job series) from whoever
// reaches the API, and a production API took `aaaaaaaaaaaaaaaa` or the README's admin example for it
// silently: it is held to the same check. Empty, it counts as unset (docker-compose.yml passes it empty
// when .env has none) and /metrics is open with a warning, as the README says.
describe('config: a guessable METRICS_TOKEN is refused in production', function () {
  const guessable = ['dev-admin-token-123456', 'aaaaaaaaaaaaaaaa', 'abababababababababab', 'aaaabbbbccccddddeeeeffff', 'metricsmetricsmetrics'];
  for (const token of guessable) {
    it(`refuses METRICS_TOKEN=${token} when NODE_ENV=production, naming the variable, not the value`, function () {
      refusedAsGuessable('METRICS_TOKEN', token);
    });
  }

  it('refuses it in every process given it (the worker too), as the admin token', function () {
    assert.throws(
      () => loadConfig({ NODE_ENV: 'production', METRICS_TOKEN: 'aaaaaaaaaaaaaaaa' }, { role: 'worker' }),
      (err) => err instanceof ConfigError && err.variable === 'METRICS_TOKEN' && /has fewer than 8 distinct characters/.test(err.message),
    );
  });

  it('accepts a token made as the docs say (openssl rand -hex 24) in production', function () {
    for (let i = 0; i < 200; i++) {
      const token = randomBytes(24).toString('hex');
      assert.equal(loadConfig({ ...production, METRICS_TOKEN: token }, { role: 'api' }).metricsToken, token);
    }
  });

  it('takes an empty METRICS_TOKEN for unset in production: /metrics open (the README says so), not refused', function () {
    for (const empty of ['', '  ']) assert.equal(loadConfig({ ...production, METRICS_TOKEN: empty }, { role: 'api' }).metricsToken, undefined);
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    assert.match(readme, /\| `METRICS_TOKEN` \|[^\n]*\| unset or empty[^\n|]* → `\/metrics` is open[^\n|]*, with a warning in production \|/);
  });

  it('keeps development and test as they were: any token of 16+ characters', function () {
    for (const NODE_ENV of ['development', 'test']) {
      for (const token of guessable) assert.equal(loadConfig({ NODE_ENV, METRICS_TOKEN: token }).metricsToken, token);
    }
  });
});
