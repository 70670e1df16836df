import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import YAML from 'yaml';
import { configVariables, loadConfig } from '../../src/config.js';
import { API_DRAIN_SECONDS } from '../../src/server.js';

// No Docker engine runs here, so the compose file is checked against the config it feeds.
type Service = {
  image?: string;
  stop_grace_period?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string | number>;
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test: string[] };
  volumes?: (string | { type: string; source?: string; target: string; read_only?: boolean })[];
  read_only?: boolean;
  tmpfs?: string | string[];
  security_opt?: string[];
  cap_drop?: string[];
  cap_add?: string[];
  privileged?: boolean;
};

const composeText = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
const compose = YAML.parse(composeText, { merge: true }) as {
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

const secrets = { PAGERDUTY_WEBHOOK_SECRETS: 'whsec-one,whsec-two', SELFHEAL_ADMIN_TOKEN: 'admin-token-0123456789', POSTGRES_PASSWORD: 'pg-password-0f1e2d3c' };
/** The variables compose refuses to start without (`${NAME:?message}`), wherever in the file. */
const REQUIRED = [...new Set([...composeText.matchAll(/\$\{([A-Z0-9_]+):\?[^}]*\}/g)].map((m) => m[1]!))].sort();
/** A service's environment as compose hands it to the process, from a shell holding `shell` (plus the required secrets). */
const envOf = (name: string, shell: Record<string, string> = {}) =>
  Object.fromEntries(Object.entries(compose.services[name]!.environment ?? {}).map(([k, v]) => [k, interpolate(v, { ...secrets, ...shell })]));

/** Entries whose value is the same-named variable of the shell or .env (`NAME: ${NAME:-default}`). */
const passedThrough = (name: string) =>
  Object.entries(compose.services[name]!.environment ?? {})
    .filter(([k, v]) => new RegExp(`^\\$\\{${k}(:[-?][^}]*)?\\}$`).test(String(v)))
    .map(([k]) => k);

/** Set by the compose file itself, for the stack it describes. */
const SET_BY_COMPOSE: Record<'api' | 'worker', Record<string, string>> = {
  api: {
    NODE_ENV: 'the stack runs in production',
    PORT: 'the published port maps to it',
    TEMPORAL_ADDRESS: "the stack's own Temporal",
    TEMPORAL_NAMESPACE: "the stack's Temporal has the default namespace",
    TEMPORAL_TASK_QUEUE: 'the API and the worker must agree',
    DATABASE_URL: "the stack's own Postgres (POSTGRES_PASSWORD)",
  },
  worker: {
    NODE_ENV: 'the stack runs in production',
    TEMPORAL_ADDRESS: "the stack's own Temporal",
    TEMPORAL_NAMESPACE: "the stack's Temporal has the default namespace",
    TEMPORAL_TASK_QUEUE: 'the API and the worker must agree',
    DATABASE_URL: "the stack's own Postgres (POSTGRES_PASSWORD)",
    TEMPORAL_WORKER_METRICS_ADDRESS: 'its health check probes that listener',
  },
};

/** Deliberately not given, and why. */
const COMMON_LEFT_OUT: Record<string, string> = {
  SELFHEAL_DATA_DIR: 'the embedded database of npm start',
  TEMPORAL_CLI_PATH: 'the dev server of npm start',
  PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: 'refused in production',
  HOST: 'the container listens on every interface; the published port decides who reaches it',
  TEMPORAL_TLS_CERT_PATH: "the stack's Temporal on the compose network has no TLS",
  TEMPORAL_TLS_KEY_PATH: "the stack's Temporal on the compose network has no TLS",
  TEMPORAL_TLS_CA_PATH: "the stack's Temporal on the compose network has no TLS",
  TEMPORAL_API_KEY: "the stack's Temporal has no API keys",
  SELFHEAL_EXTRACTORS_FILE: 'a file: mount it and set the variable in an override file',
  SELFHEAL_ENVIRONMENT: 'Doctor agent only',
  SELFHEAL_SCRIPTS_DIR: 'Doctor agent only',
  SELFHEAL_AGENT_SCRIPTS_TIMEOUT_SECONDS: 'Doctor agent only',
  SELFHEAL_AGENT_MAX_CONCURRENT_SCRIPTS: 'Doctor agent only',
  SELFHEAL_AGENT_TEAMS: 'Doctor agent only',
};
const LEFT_OUT: Record<'api' | 'worker', Record<string, string>> = {
  api: {
    ...COMMON_LEFT_OUT,
    PAGERDUTY_API_TOKEN: "the worker's credential",
    SMTP_PASSWORD: "the worker's credential",
    JIRA_API_TOKEN: "the worker's credential",
    GITHUB_TOKEN: "the worker's credential",
    EWM_PASSWORD: "the worker's credential",
    TEMPORAL_WORKER_METRICS_ADDRESS: "the worker's and the agent's Temporal SDK listener",
  },
  worker: {
    ...COMMON_LEFT_OUT,
    PORT: 'the worker serves no HTTP',
    PAGERDUTY_WEBHOOK_SECRETS: "the API's credential",
    SELFHEAL_ADMIN_TOKEN: "the API's credential",
    METRICS_TOKEN: "the API's credential",
    OIDC_CLIENT_SECRET: "the API's credential",
  },
};

/** The URL a `node -e "fetch('<url>')…"` health check asks. */
function probeUrl(name: string): URL {
  const test = compose.services[name]!.healthcheck!.test;
  assert.deepEqual(test.slice(0, 3), ['CMD', 'node', '-e'], `${name}: the health check is not node -e in exec form`);
  assert.equal(test.length, 4, `${name}: node -e takes one script`);
  const m = /^fetch\('(http:\/\/[^']+)'\)/.exec(test[3]!);
  assert.ok(m, `${name}: the health check's script does not start with fetch('http://…'): ${test[3]}`);
  return new URL(m[1]!);
}

/** Exit code of a health check's `node -e` script, run with the URL's host:port pointed at `port`. */
async function runProbe(name: string, port: number): Promise<number> {
  const url = probeUrl(name);
  const script = compose.services[name]!.healthcheck!.test[3]!;
  const pointed = script.replace(`//${url.host}/`, `//127.0.0.1:${port}/`);
  assert.notEqual(pointed, script, `${name}: cannot point the probe at the test server`);
  try {
    await promisify(execFile)(process.execPath, ['-e', pointed], { env: { PATH: process.env.PATH ?? '' } });
    return 0;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    assert.equal(typeof code, 'number', `${name}: the probe did not exit on its own: ${String(err)}`);
    return code as number;
  }
}

/** An HTTP server on loopback answering `status` at `path` and 404 elsewhere. */
async function serve(path: string, status: number): Promise<Server> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === path ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

/** The Dockerfile's CMD, as an exec-form array. */
const dockerCmd = JSON.parse(/^CMD (\[.*\])$/m.exec(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'))![1]!) as string[];

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
    assert.ok(compose.services.postgres!.volumes!.some((v) => typeof v === 'string' && v.startsWith('pgdata:')));
    assert.ok('pgdata' in compose.volumes);
  });

  it('every health check is a command in exec form that can fail: no shell, no process match', function () {
    // Under CMD-SHELL, `pgrep -f src/worker.ts` matches the `sh -c "pgrep -f src/worker.ts …"` running it,
    // so the check passed with no worker at all. Exec form runs the probe itself, and its exit code counts.
    for (const [name, svc] of Object.entries(compose.services)) {
      const test = svc.healthcheck!.test;
      assert.equal(test[0], 'CMD', `${name}: health check ${JSON.stringify(test)} is not exec form (CMD)`);
      assert.ok(test.length > 1, `${name}: empty health check`);
      assert.ok(!['sh', 'bash', '/bin/sh', '/bin/bash'].includes(test[1]!), `${name}: health check runs a shell: ${JSON.stringify(test)}`);
      assert.doesNotMatch(test.join(' '), /\bpgrep\b|\bpidof\b|\bps\b/, `${name}: health check matches processes: ${JSON.stringify(test)}`);
    }
  });

  it('the API is probed on /readyz, the worker and the agent on the Temporal SDK metrics listener they are told to open', function () {
    const api = loadConfig(envOf('api'), { role: 'api' });
    const apiProbe = probeUrl('api');
    assert.equal(apiProbe.pathname, '/readyz');
    assert.equal(Number(apiProbe.port), api.port, 'the API probe asks another port than PORT');
    assert.equal(api.host, '0.0.0.0', 'the API listens on every interface of its container, loopback included');
    assert.equal(apiProbe.hostname, '127.0.0.1');
    for (const [name, role] of [['worker', 'worker'], ['agent', 'agent']] as const) {
      const address = loadConfig(envOf(name), { role }).temporal.workerMetricsAddress;
      assert.ok(address, `${name} opens no metrics listener: its health check has nothing to ask`);
      const [host, port] = address.split(':');
      // Whatever the shell holds, the listener stays where the health check looks.
      assert.equal(loadConfig(envOf(name, { TEMPORAL_WORKER_METRICS_ADDRESS: '0.0.0.0:1' }), { role }).temporal.workerMetricsAddress, address, name);
      const probe = probeUrl(name);
      assert.equal(probe.pathname, '/metrics', name);
      assert.equal(probe.port, port, `${name}: the probe asks port ${probe.port}, the listener is on ${address}`);
      assert.equal(probe.hostname, '127.0.0.1', name);
      assert.ok(['0.0.0.0', '127.0.0.1'].includes(host!), `${name}: a listener on ${address} does not answer on loopback`);
    }
    assert.equal(envOf('api').TEMPORAL_WORKER_METRICS_ADDRESS, undefined, 'the API opens no Temporal SDK listener');
  });

  it('each node health check exits 0 when its endpoint answers 200, and non-zero on an error status or when nothing listens', async function () {
    for (const name of ['api', 'worker', 'agent']) {
      const path = probeUrl(name).pathname;
      const ok = await serve(path, 200);
      const okPort = (ok.address() as AddressInfo).port;
      assert.equal(await runProbe(name, okPort), 0, `${name}: the probe fails against a server answering 200 on ${path}`);
      await new Promise((r) => ok.close(r));
      assert.notEqual(await runProbe(name, okPort), 0, `${name}: the probe passes with nothing listening`);
      const failing = await serve(path, 503);
      assert.notEqual(await runProbe(name, (failing.address() as AddressInfo).port), 0, `${name}: the probe passes on a 503`);
      await new Promise((r) => failing.close(r));
    }
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

  it('publishes only the API, on its configured PORT and on loopback unless SELFHEAL_PUBLISH_ADDRESS widens it: Temporal, its UI and Postgres stay on the compose network', function () {
    const port = loadConfig(envOf('api')).port;
    const published = (shell: Record<string, string>) => compose.services.api!.ports!.map((p) => interpolate(p, shell));
    // GET /metrics answers anyone when METRICS_TOKEN is unset: by default only this host reaches the API.
    assert.deepEqual(published({}), [`127.0.0.1:${port}:${port}`]);
    assert.deepEqual(published({ SELFHEAL_PUBLISH_ADDRESS: '0.0.0.0' }), [`0.0.0.0:${port}:${port}`]);
    assert.deepEqual(published({ SELFHEAL_PUBLISH_ADDRESS: '10.1.2.3' }), [`10.1.2.3:${port}:${port}`]);
    for (const [name, svc] of Object.entries(compose.services)) {
      if (name !== 'api') assert.equal(svc.ports, undefined, `${name} publishes ${JSON.stringify(svc.ports)}`);
    }
  });

  it('opens the Temporal UI only through the opt-in override, on loopback', function () {
    const override = YAML.parse(readFileSync(new URL('../../deploy/compose/temporal-ui.yml', import.meta.url), 'utf8')) as { services: Record<string, Service> };
    assert.deepEqual(Object.keys(override.services), ['temporal-ui']);
    assert.deepEqual(override.services['temporal-ui']!.ports, ['127.0.0.1:8233:8080']);
  });

  it('refuses to start without the required secrets, the Postgres password among them (no default anywhere)', function () {
    assert.deepEqual(REQUIRED, ['PAGERDUTY_WEBHOOK_SECRETS', 'POSTGRES_PASSWORD', 'SELFHEAL_ADMIN_TOKEN']);
    assert.throws(() => interpolate(compose.services.api!.environment!.PAGERDUTY_WEBHOOK_SECRETS!, {}), /PAGERDUTY_WEBHOOK_SECRETS is required/);
    assert.doesNotMatch(composeText, /\$\{POSTGRES_PASSWORD:-/, 'POSTGRES_PASSWORD has a default');
    for (const [svc, key] of [['postgres', 'POSTGRES_PASSWORD'], ['temporal', 'POSTGRES_PWD'], ['api', 'DATABASE_URL'], ['worker', 'DATABASE_URL']] as const) {
      const value = compose.services[svc]!.environment![key]!;
      assert.throws(() => interpolate(value, {}), /POSTGRES_PASSWORD is required/, `${svc} ${key} starts without POSTGRES_PASSWORD`);
      const given = interpolate(value, { POSTGRES_PASSWORD: 'pw-from-the-shell' });
      assert.ok(given === 'pw-from-the-shell' || new URL(given).password === 'pw-from-the-shell', `${svc} ${key}: ${given}`);
    }
  });

  it('runs the API, the worker and the agent with no capabilities, no-new-privileges and a read-only root file system', function () {
    for (const name of ['api', 'worker', 'agent']) {
      const svc = compose.services[name]!;
      // As the Helm chart runs them (readOnlyRootFilesystem): the API and the worker hold every credential,
      // and their root file systems were writable.
      assert.equal(svc.read_only, true, `${name}: the root file system is writable`);
      assert.deepEqual([svc.tmpfs ?? []].flat().map((t) => t.split(':')[0]), ['/tmp'], `${name}: /tmp, and only /tmp, writable`);
      assert.ok(svc.security_opt?.includes('no-new-privileges:true'), `${name}: no no-new-privileges (security_opt ${JSON.stringify(svc.security_opt)})`);
      assert.deepEqual(svc.cap_drop, ['ALL'], `${name}: cap_drop`);
      assert.equal(svc.cap_add, undefined, `${name} adds capabilities`);
      assert.notEqual(svc.privileged, true, `${name} is privileged`);
      // Non-root (the image's user), so dropping the bounding set takes nothing the process uses.
      assert.equal((svc as { user?: string }).user, undefined, `${name} overrides the image's user`);
    }
    assert.match(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'), /^USER 1000:1000$/m);
  });

  it("the README's compose commands give every variable compose requires, and document the publish address", function () {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = /^## Production deployment\n([\s\S]*?)(?=\n### |\n## )/m.exec(readme)?.[1];
    assert.ok(section, 'README has no "## Production deployment" section');
    const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(block, 'no sh block in the production section');
    assert.match(block, /^docker compose up -d --build\b/m);
    // Assigned in the block (an export, or a line of the .env it writes) before `docker compose up`.
    const before = block.slice(0, block.search(/^docker compose up/m));
    const assigned = new Set([...before.matchAll(/(?:^|\s)([A-Z][A-Z0-9_]*)=/gm)].map((m) => m[1]!));
    for (const name of REQUIRED) assert.ok(assigned.has(name), `the README's commands do not set ${name}, which compose requires`);
    assert.ok(assigned.has('METRICS_TOKEN'), 'the README sets no METRICS_TOKEN');
    assert.match(section, /SELFHEAL_PUBLISH_ADDRESS/);
    assert.match(composeText, /SELFHEAL_PUBLISH_ADDRESS/);
  });

  for (const name of ['api', 'worker'] as const) {
    it(`${name}: every variable src/config.ts knows is passed from the shell, set by the compose file, or deliberately left out, and only one of them`, function () {
      const passed = passedThrough(name);
      const given = Object.keys(compose.services[name]!.environment ?? {});
      const groups = { 'passed from the shell': passed, 'set by the compose file': Object.keys(SET_BY_COMPOSE[name]), 'left out': Object.keys(LEFT_OUT[name]) };
      const seen = new Map<string, string>();
      for (const [group, names] of Object.entries(groups)) {
        for (const n of names) {
          assert.ok(configVariables.includes(n as never), `${n} (${group}) is not a variable src/config.ts knows`);
          assert.ok(!seen.has(n), `${n} is both ${seen.get(n)} and ${group}`);
          seen.set(n, group);
        }
      }
      for (const n of Object.keys(SET_BY_COMPOSE[name])) assert.ok(given.includes(n), `${n} is said to be set by the compose file but is not`);
      for (const n of Object.keys(LEFT_OUT[name])) assert.ok(!given.includes(n), `${n} is said to be left out but is given`);
      assert.deepEqual(given.filter((n) => !seen.has(n)), [], 'given, but neither from the shell nor listed as set by the compose file');
      assert.deepEqual(configVariables.filter((n) => !seen.has(n)), [], `variables ${name} can be given neither from the shell nor the compose file: pass them or list why not`);
    });

    it(`${name}: a value set in the shell or .env reaches the process; unset, the process gets its default`, function () {
      const defaults = loadConfig(envOf(name), { role: name });
      for (const n of passedThrough(name)) {
        assert.equal(envOf(name, { [n]: 'from-the-shell' })[n], 'from-the-shell', n);
      }
      // Unset, each passed variable reaches the process empty or with the default .env.example documents.
      assert.equal(defaults.database.statementTimeoutMs, 30_000);
      assert.equal(defaults.sshScriptsDir, '/opt/selfheal/scripts');
      assert.deepEqual(defaults.egressAllow, []);
      assert.equal(defaults.sso.oidc, undefined);
      assert.equal(defaults.sso.tokenSignIn, true);
    });
  }

  it('the single sign-on settings reach the API, its client secret only the API', function () {
    const shell = {
      SELFHEAL_PUBLIC_URL: 'https://selfheal.example.com',
      OIDC_ISSUER_URL: 'https://login.example.com/realms/sre',
      OIDC_CLIENT_ID: 'selfheal',
      OIDC_CLIENT_SECRET: 'oidc-client-secret-value',
      OIDC_ROLE_MAP: 'sre-admins=admin,sre=write',
      OIDC_PROVIDER_NAME: 'Example SSO',
      OIDC_GROUPS_CLAIM: 'realm_access.roles',
      OIDC_SCOPES: 'openid profile email groups',
      SESSION_MAX_AGE_SECONDS: '7200',
      SESSION_IDLE_TIMEOUT_SECONDS: '900',
      SESSION_MAX_PER_USER: '4',
      DASHBOARD_TOKEN_SIGN_IN: 'false',
    };
    const api = loadConfig(envOf('api', shell), { role: 'api' });
    assert.equal(api.sso.oidc?.issuerUrl, 'https://login.example.com/realms/sre');
    assert.equal(api.sso.oidc?.clientSecret, 'oidc-client-secret-value');
    assert.equal(api.sso.oidc?.redirectUrl, 'https://selfheal.example.com/auth/callback');
    assert.equal(api.sso.oidc?.providerName, 'Example SSO');
    assert.equal(api.sso.oidc?.groupsClaim, 'realm_access.roles');
    assert.deepEqual(api.sso.oidc?.scopes, ['openid', 'profile', 'email', 'groups']);
    assert.deepEqual([...api.sso.oidc!.roleMap], [['sre-admins', 'admin'], ['sre', 'write']]);
    assert.deepEqual(api.sso.session, { maxAgeSeconds: 7200, idleTimeoutSeconds: 900, maxPerUser: 4 });
    assert.equal(api.sso.tokenSignIn, false);
    assert.equal(envOf('worker', shell).OIDC_CLIENT_SECRET, undefined);
  });

  it('the authority, egress, metrics and pool settings reach the processes that enforce them', function () {
    const shell = {
      SECRET_REF_ENV_PREFIXES: 'SELFHEAL_SECRET_,VAULT_',
      SECRET_REF_DIRS: '/run/secrets',
      SELFHEAL_SSH_SCRIPTS_DIR: '/srv/selfheal/scripts',
      ACTION_EGRESS_ALLOW: '10.20.0.0/16',
      ACTION_EGRESS_DENY: '203.0.113.0/24',
      NOTIFY_EMAIL_ALLOW: 'example.com,*.corp.example',
      GITHUB_REPOS_ALLOW: 'acme/ops',
      NOTIFY_WEBHOOK_ALLOW: 'hooks.example.com',
      METRICS_TOKEN: 'metrics-token-0123456789',
      METRICS_REFRESH_SECONDS: '60',
      DATABASE_CONNECT_TIMEOUT_MS: '2000',
      DATABASE_STATEMENT_TIMEOUT_MS: '120000',
      SELFHEAL_AUTH_MAX_FAILURES: '5',
      SELFHEAL_TRUSTED_PROXIES: '10.0.0.1',
    };
    const api = loadConfig(envOf('api', shell), { role: 'api' });
    const worker = loadConfig(envOf('worker', shell), { role: 'worker' });
    for (const c of [api, worker]) {
      assert.deepEqual(c.secretRefs.envPrefixes, ['SELFHEAL_SECRET_', 'VAULT_']);
      assert.deepEqual(c.secretRefs.dirs, ['/run/secrets']);
      assert.equal(c.database.connectTimeoutMs, 2000);
      assert.equal(c.database.statementTimeoutMs, 120_000);
      assert.deepEqual(c.emailAllow && [...c.emailAllow.hosts, ...c.emailAllow.parents], ['example.com', 'corp.example'], 'rules are checked on save (API) and on send (worker)');
      assert.deepEqual(c.github.reposAllow && [...c.github.reposAllow.repos], ['acme/ops']);
      assert.deepEqual(c.webhookAllow && [...c.webhookAllow.hosts], ['hooks.example.com']);
    }
    assert.equal(worker.sshScriptsDir, '/srv/selfheal/scripts');
    assert.deepEqual(worker.egressAllow, ['10.20.0.0/16']);
    assert.deepEqual(worker.egressDeny, ['203.0.113.0/24']);
    assert.equal(api.metricsToken, 'metrics-token-0123456789');
    assert.equal(worker.metricsToken, undefined, "the API's credential stays with the API");
    assert.equal(api.metricsRefreshSeconds, 60);
    assert.deepEqual(api.authLimit, { maxFailures: 5, windowSeconds: 60, trustedProxies: ['10.0.0.1'] });
  });

  it('no service runs npx: the app services run node --import tsx like the Dockerfile, as its user', function () {
    assert.deepEqual(dockerCmd.slice(0, 3), ['node', '--import', 'tsx']);
    for (const [name, svc] of Object.entries(compose.services)) {
      const words = [...(svc.command ?? []), ...(svc.healthcheck?.test ?? [])].join(' ');
      assert.doesNotMatch(words, /\bnpx\b/, `${name} runs npx`);
    }
    for (const [name, entry] of [['api', 'src/server.ts'], ['worker', 'src/worker.ts'], ['agent', 'src/agent.ts']] as const) {
      assert.deepEqual(compose.services[name]!.command, [...dockerCmd.slice(0, -1), entry], name);
      assert.equal((compose.services[name] as { user?: string }).user, undefined, `${name} overrides the image's user`);
    }
    assert.equal(compose.services.api!.command!.at(-1), dockerCmd.at(-1), "the API runs the image's default entrypoint");
  });

  it('gives each app service longer to stop than it takes to drain (Docker kills after 10 s by default)', function () {
    const seconds = (d: string | undefined) => {
      const m = /^(\d+)s$/.exec(d ?? '10s');
      assert.ok(m, `stop_grace_period ${d} is not "<n>s"`);
      return Number(m[1]);
    };
    const sdkGrace = (file: string) => Number(/shutdownGraceTime:\s*'(\d+) seconds'/.exec(readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8'))![1]);
    for (const [name, drain] of [['api', API_DRAIN_SECONDS], ['worker', sdkGrace('src/temporal/worker.ts')], ['agent', sdkGrace('src/agent.ts')]] as const) {
      assert.ok(drain > 0, name);
      assert.ok(seconds(compose.services[name]!.stop_grace_period) > drain, `${name}: stop_grace_period ${compose.services[name]!.stop_grace_period ?? '10s (default)'} <= ${drain} s`);
    }
  });

  it("gives the agent its image's scripts, read-only: no named volume that would keep the first release's scripts", function () {
    const agent = compose.services.agent!;
    const dir = envOf('agent').SELFHEAL_SCRIPTS_DIR;
    assert.equal(dir, '/app/scripts');
    assert.match(readFileSync(new URL('../../Dockerfile', import.meta.url), 'utf8'), /^COPY scripts \.\/scripts$/m, 'the image holds scripts/ at /app/scripts (WORKDIR /app)');
    // Docker seeds a named volume from the image only while it is empty: mounted on the scripts directory,
    // it would serve the scripts of the first release ever started, whatever image runs now.
    const onScripts = (agent.volumes ?? []).filter((v) => {
      const target = typeof v === 'string' ? v.split(':')[1] : v.target;
      return target !== undefined && (target === dir || dir.startsWith(`${target.replace(/\/$/, '')}/`));
    });
    assert.deepEqual(onScripts, [], 'a volume covers the scripts directory');
    assert.ok(!Object.keys(compose.volumes).some((name) => /script/i.test(name)), 'a named volume for scripts is declared');
    // Read-only: the root file system, as the Helm chart runs it, so neither the agent nor a script changes them.
    assert.equal(agent.read_only, true, "the agent's root file system (and so its scripts) is writable");
    const tmpfs = [agent.tmpfs ?? []].flat();
    assert.deepEqual(tmpfs.map((t) => t.split(':')[0]), ['/tmp'], 'the agent gets /tmp, and only /tmp, writable');
  });

  it('runs the same entrypoints as the npm scripts', function () {
    for (const [svc, script] of [['api', 'server'], ['worker', 'worker'], ['agent', 'agent']] as const) {
      const entry = compose.services[svc]!.command!.at(-1)!;
      assert.ok(pkg.scripts[script]!.endsWith(entry), `${svc} runs ${entry}, npm run ${script} runs ${pkg.scripts[script]}`);
    }
  });
});
