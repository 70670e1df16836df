import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { configVariables, loadConfig } from '../../src/config.js';

// No Docker engine runs here, so the compose file is checked against the config it feeds.
type Service = {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: string[];
};

const compose = YAML.parse(readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };

/** Resolve ${VAR:-default} / ${VAR:?msg} the way compose does, with an empty shell environment plus `given`. */
function interpolate(value: string | number, given: Record<string, string>): string {
  return String(value).replace(/\$\{([A-Z0-9_]+)(?::([-?])([^}]*))?\}/g, (_m, name: string, kind?: string, rest?: string) => {
    if (given[name] !== undefined && given[name] !== '') return given[name]!;
    if (kind === '?') throw new Error(`${name} is required: ${rest}`);
    return rest ?? '';
  });
}

const secrets = { PAGERDUTY_WEBHOOK_SECRETS: 'whsec-one,whsec-two', SELFHEAL_ADMIN_TOKEN: 'admin-token-0123456789' };
const envOf = (name: string) =>
  Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(v, secrets)]));

describe('docker-compose.yml', function () {
  it('has Postgres, Temporal on that Postgres, its Web UI, the API, the worker and a Doctor agent', function () {
    assert.deepEqual(Object.keys(compose.services).sort(), ['agent', 'api', 'postgres', 'temporal', 'temporal-ui', 'worker']);
    const t = compose.services.temporal!.environment!;
    assert.equal(t.DB, 'postgres12');
    assert.equal(t.POSTGRES_SEEDS, 'postgres');
    assert.equal(compose.services['temporal-ui']!.environment!.TEMPORAL_ADDRESS, 'temporal:7233');
  });

  it('gives every service a health check and persists Postgres in a volume', function () {
    for (const [name, svc] of Object.entries(compose.services)) assert.ok(svc.healthcheck?.test?.length, `${name} has no healthcheck`);
    assert.ok(compose.services.postgres!.volumes!.some((v) => v.startsWith('pgdata:')));
    assert.ok('pgdata' in compose.volumes);
  });

  for (const [name, role] of [['api', 'api'], ['worker', 'worker'], ['agent', 'agent']] as const) {
    it(`${name}: every variable is one the config knows, and the config accepts the values`, function () {
      const env = envOf(name);
      assert.deepEqual(Object.keys(env).filter((k) => !configVariables.includes(k as never)), []);
      const config = loadConfig(env, { role });
      assert.equal(config.nodeEnv, 'production');
      assert.equal(config.temporal.address, 'temporal:7233');
      for (const dep of Object.keys(compose.services[name]!.depends_on ?? {})) assert.ok(compose.services[dep], `${name} depends on unknown ${dep}`);
    });
  }

  it('points the API and worker at the compose Postgres and the same task queue', function () {
    const api = loadConfig(envOf('api'));
    const worker = loadConfig(envOf('worker'), { role: 'worker' });
    assert.equal(new URL(api.database.url!).hostname, 'postgres');
    assert.equal(api.database.url, worker.database.url);
    assert.equal(api.temporal.taskQueue, worker.temporal.taskQueue);
    assert.equal(api.nodeEnv, 'production');
    assert.deepEqual(api.pagerduty.webhookSecrets, ['whsec-one', 'whsec-two']);
  });

  it('publishes only the API, on its configured PORT: Temporal, its UI and Postgres stay on the compose network', function () {
    const port = loadConfig(envOf('api')).port;
    assert.deepEqual(compose.services.api!.ports, [`${port}:${port}`]);
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name !== 'api') assert.equal(svc.ports, undefined, `${name} publishes ${JSON.stringify(svc.ports)}`);
    }
    assert.match(compose.services.api!.healthcheck!.test.join(' '), new RegExp(`localhost:${port}/readyz`));
  });

  it('opens the Temporal UI only through the opt-in override, on loopback', function () {
    const override = YAML.parse(readFileSync(new URL('../../deploy/compose/temporal-ui.yml', import.meta.url), 'utf8')) as { services: Record<string, Service> };
    assert.deepEqual(Object.keys(override.services), ['temporal-ui']);
    assert.deepEqual(override.services['temporal-ui']!.ports, ['127.0.0.1:8233:8080']);
  });

  it('refuses to start without the required secrets', function () {
    assert.throws(() => interpolate(compose.services.api!.environment!.PAGERDUTY_WEBHOOK_SECRETS!, {}), /PAGERDUTY_WEBHOOK_SECRETS is required/);
  });

  it('runs the same entrypoints as the npm scripts', function () {
    for (const [svc, script] of [['api', 'server'], ['worker', 'worker'], ['agent', 'agent']] as const) {
      const entry = compose.services[svc]!.command!.at(-1)!;
      assert.ok(pkg.scripts[script]!.endsWith(entry), `${svc} runs ${entry}, npm run ${script} runs ${pkg.scripts[script]}`);
    }
  });
});
