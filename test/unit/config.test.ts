import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { configVariables, ConfigError, loadConfig } from '../../src/config.js';

describe('config', function () {
  it('gives the documented defaults for an empty environment', function () {
    const c = loadConfig({});
    assert.equal(c.port, 8080);
    assert.equal(c.database.url, undefined);
    assert.equal(c.temporal.address, undefined);
    assert.equal(c.temporal.namespace, 'default');
    assert.equal(c.temporal.uiUrl, 'http://localhost:8233');
    assert.equal(c.pagerduty.apiUrl, 'https://api.pagerduty.com');
    assert.deepEqual(c.pagerduty.webhookSecrets, []);
    assert.deepEqual(c.temporal.workerSlots, { workflowTasks: 40, localActivities: 100, activities: 100 });
    assert.equal(c.pagerduty.webhookAllowUnsigned, false);
    assert.deepEqual([c.egressAllow, c.egressDeny], [[], []]);
    assert.deepEqual([c.database.connectTimeoutMs, c.database.statementTimeoutMs, c.metricsRefreshSeconds], [5000, 30000, 15]);
  });

  it('reads the fail-closed switches and timeouts', function () {
    const c = loadConfig({ PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'TRUE', DATABASE_CONNECT_TIMEOUT_MS: '1500', DATABASE_STATEMENT_TIMEOUT_MS: '250', METRICS_REFRESH_SECONDS: '0' });
    assert.equal(c.pagerduty.webhookAllowUnsigned, true);
    assert.deepEqual([c.database.connectTimeoutMs, c.database.statementTimeoutMs, c.metricsRefreshSeconds], [1500, 250, 0]);
    assert.equal(loadConfig({ PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'false' }).pagerduty.webhookAllowUnsigned, false);
  });

  it('takes the main worker slots from the environment', function () {
    const c = loadConfig({ TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: '2', TEMPORAL_WORKER_LOCAL_ACTIVITY_SLOTS: '4', TEMPORAL_WORKER_ACTIVITY_SLOTS: '20' });
    assert.deepEqual(c.temporal.workerSlots, { workflowTasks: 2, localActivities: 4, activities: 20 });
  });

  it('splits rotating webhook secrets on commas', function () {
    assert.deepEqual(loadConfig({ PAGERDUTY_WEBHOOK_SECRETS: ' old-secret , new-secret ,' }).pagerduty.webhookSecrets, ['old-secret', 'new-secret']);
  });

  const bad: [Record<string, string>, string, RegExp][] = [
    [{ PORT: 'abc' }, 'PORT', /^Invalid configuration: PORT must be a whole number.*\(got "abc"\)$/],
    [{ PORT: '70000' }, 'PORT', /PORT must be between 0 and 65535/],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL', /DATABASE_URL must be a postgres:\/\/ URL/],
    [{ TEMPORAL_ADDRESS: 'temporal' }, 'TEMPORAL_ADDRESS', /TEMPORAL_ADDRESS must be host:port/],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL', /LOG_LEVEL must be one of/],
    [{ TEMPORAL_UI_URL: 'localhost:8233' }, 'TEMPORAL_UI_URL', /must be an http\(s\) URL/],
    [{ SELFHEAL_ADMIN_TOKEN: 'short' }, 'SELFHEAL_ADMIN_TOKEN', /at least 16 characters$/],
    [{ METRICS_TOKEN: 'scrape' }, 'METRICS_TOKEN', /METRICS_TOKEN must be at least 16 characters$/],
    [{ NODE_ENV: 'production' }, 'PAGERDUTY_WEBHOOK_SECRETS', /required when NODE_ENV=production/],
    [{ PAGERDUTY_API_TOKEN: 'tok' }, 'PAGERDUTY_FROM_EMAIL', /PAGERDUTY_FROM_EMAIL is required/],
    [{ TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS: '1' }, 'TEMPORAL_WORKER_WORKFLOW_TASK_SLOTS', /must be at least 2/],
    [{ TEMPORAL_WORKER_ACTIVITY_SLOTS: 'many' }, 'TEMPORAL_WORKER_ACTIVITY_SLOTS', /must be a whole number/],
    [{ TEMPORAL_TLS_CERT_PATH: '/c.pem' }, 'TEMPORAL_TLS_KEY_PATH', /must be set together/],
    [{ PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'maybe' }, 'PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED', /PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED must be true or false/],
    [{ NODE_ENV: 'production', PAGERDUTY_WEBHOOK_SECRETS: 's', PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'true' }, 'PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED', /not allowed when NODE_ENV=production/],
    [{ DATABASE_STATEMENT_TIMEOUT_MS: '50' }, 'DATABASE_STATEMENT_TIMEOUT_MS', /must be at least 100/],
    [{ DATABASE_CONNECT_TIMEOUT_MS: '5s' }, 'DATABASE_CONNECT_TIMEOUT_MS', /must be a whole number of milliseconds/],
    [{ METRICS_REFRESH_SECONDS: '7200' }, 'METRICS_REFRESH_SECONDS', /must be at most 3600/],
    [{ SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS: '0' }, 'SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS', /must be at least 1/],
    [{ SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS: '500' }, 'SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS', /must be at most 100/],
    [{ ACTION_EGRESS_ALLOW: 'intranet' }, 'ACTION_EGRESS_ALLOW', /must be comma-separated CIDRs or addresses/],
    [{ SELFHEAL_AGENT_TEAMS: 'ops,Payments Team' }, 'SELFHEAL_AGENT_TEAMS', /must be comma-separated team names/],
    [{ SELFHEAL_AGENT_TEAMS: ' , ' }, 'SELFHEAL_AGENT_TEAMS', /must list at least one team/],
  ];

  it('reads SELFHEAL_AGENT_TEAMS as the list of teams (spaces and repeats dropped); unset, every team (undefined)', function () {
    assert.deepEqual(loadConfig({ SELFHEAL_AGENT_TEAMS: 'payments, db,payments' }).agent.teams, ['payments', 'db']);
    assert.equal(loadConfig({}).agent.teams, undefined);
    assert.equal(loadConfig({ SELFHEAL_AGENT_TEAMS: '' }).agent.teams, undefined);
  });
  it('refuses a production Doctor agent without SELFHEAL_AGENT_TEAMS (fail closed); * is the explicit opt-out; other processes and development are unaffected', function () {
    // Before: the agent started, ran every team's scripts, and only warned.
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }, { role: 'agent' }), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.variable, 'SELFHEAL_AGENT_TEAMS');
      assert.match(err.message, /SELFHEAL_AGENT_TEAMS is required when NODE_ENV=production: the team\(s\) whose tasks this Doctor agent runs, comma-separated \(e\.g\. payments,db\), or \* to run every team's/);
      return true;
    });
    assert.throws(() => loadConfig({ NODE_ENV: 'production', SELFHEAL_AGENT_TEAMS: ' ' }, { role: 'agent' }), /SELFHEAL_AGENT_TEAMS is required/);
    const every = loadConfig({ NODE_ENV: 'production', SELFHEAL_AGENT_TEAMS: '*' }, { role: 'agent' }).agent;
    assert.equal(every.teams, undefined);
    assert.equal(every.everyTeam, 'asked');
    const listed = loadConfig({ NODE_ENV: 'production', SELFHEAL_AGENT_TEAMS: 'payments' }, { role: 'agent' }).agent;
    assert.deepEqual([listed.teams, listed.everyTeam], [['payments'], undefined]);
    assert.equal(loadConfig({ NODE_ENV: 'development' }, { role: 'agent' }).agent.everyTeam, 'unset');
    assert.equal(loadConfig({ NODE_ENV: 'test' }, { role: 'agent' }).agent.teams, undefined);
    assert.throws(() => loadConfig({ SELFHEAL_AGENT_TEAMS: '*,ops' }), /must be comma-separated team names, each .*, or \* alone for every team/);
  });
  for (const [env, variable, message] of bad) {
    it(`rejects ${JSON.stringify(env)} naming ${variable}`, function () {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && message.test(err.message) && !err.message.includes('\n'),
      );
    });
  }

  it('requires webhook secrets in production only where webhooks arrive (the API)', function () {
    assert.throws(() => loadConfig({ NODE_ENV: 'production' }, { role: 'api' }), /PAGERDUTY_WEBHOOK_SECRETS is required/);
    assert.equal(loadConfig({ NODE_ENV: 'production', SELFHEAL_AGENT_TEAMS: 'ops' }, { role: 'agent' }).nodeEnv, 'production');
    assert.equal(loadConfig({ NODE_ENV: 'production' }, { role: 'worker' }).nodeEnv, 'production');
  });

  it('never echoes a secret value in the error', function () {
    assert.throws(() => loadConfig({ SELFHEAL_ADMIN_TOKEN: 'tooshort' }), (err: Error) => !err.message.includes('tooshort'));
  });

  // A malformed URL is still a credential: a wrong scheme, a password with a space, a missing scheme.
  const withPasswords: [Record<string, string>, string][] = [
    [{ DATABASE_URL: 'mysql://selfheal:S3cr3t-pw@db:5432/selfheal' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'postgres://selfheal:S3cr3t pw@db/selfheal' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'selfheal:S3cr3t-pw@db/selfheal' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'mysql://selfheal:S3cr3t@pw@db/selfheal?x=1' }, 'DATABASE_URL'],
    [{ SMTP_URL: 'submission://mailer:S3cr3t-pw@mail:587' }, 'SMTP_URL'],
    [{ TEMPORAL_UI_URL: 'ftp://ops:S3cr3t-pw@temporal-ui' }, 'TEMPORAL_UI_URL'],
  ];
  for (const [env, variable] of withPasswords) {
    it(`names a bad ${variable} without showing its value (${Object.values(env)[0]!.split('S3cr3t')[0]}…)`, function () {
      assert.throws(
        () => loadConfig(env),
        (err: unknown) => err instanceof ConfigError && err.variable === variable && !/S3cr3t/.test(err.message) && !err.message.includes('got "'),
      );
    });
  }

  it('keeps a bad DATABASE_URL out of the server\'s start-up line', function () {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...process.env, DATABASE_URL: 'mysql://selfheal:S3cr3t-pw@db:5432/selfheal' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), 'Invalid configuration: DATABASE_URL must be a postgres:// URL');
  });

  it('stops the server at start-up with one line naming the variable', function () {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], { env: { ...process.env, PORT: 'not-a-port' }, encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr.trim(), 'Invalid configuration: PORT must be a whole number between 0 and 65535 (got "not-a-port")');
  });

  it('documents every variable in .env.example', function () {
    const example = readFileSync(new URL('../../.env.example', import.meta.url), 'utf8');
    const documented = new Set([...example.matchAll(/^([A-Z0-9_]+)=/gm)].map((m) => m[1]));
    assert.deepEqual(configVariables.filter((v) => !documented.has(v)), []);
    assert.deepEqual([...documented].filter((v) => !configVariables.includes(v as never)), []);
  });
});
