// Over ~400 lines on purpose: the chart is rendered once and every property of the rendered objects (schema,
// credentials, configuration, probes, security contexts, documentation) is checked against that one render.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Ajv } from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import YAML from 'yaml';
import { configVariables, loadConfig, type ProcessRole } from '../../src/config.js';
import { API_DRAIN_SECONDS } from '../../src/server.js';
import { resolveAllowedScript } from '../../src/executors/script-runner.js';
import {
  allContainers, CHART, component, containerEnv, deployments, ensureHelm, helm, KUBE_VERSION, parseManifests, podOf, repo, templateArgs as chartArgs,
  type Container, type K8sObject,
} from '../helpers/helm.js';

// The Helm chart in deploy/helm/self-healing, rendered by a real Helm (built from its Go module by
// tools/ensure-helm.sh) and checked against the Kubernetes API schemas of its kinds
// (test/fixtures/kubernetes) and against the invariants docker-compose.test.ts checks for compose:
// no credentials in plain values, probes present, only the API exposed, the config accepted.

const RELEASE = 'selfheal';
const NAMESPACE = 'selfheal';

interface K8sSchemaFile {
  kubernetesVersion: string;
  kinds: Record<string, object>;
  definitions: Record<string, object>;
}
const k8sSchema = JSON.parse(readFileSync(path.join(repo, 'test/fixtures/kubernetes/v1.30.schema.json'), 'utf8')) as K8sSchemaFile;

/** A values setup to render: committed values files plus --set flags. */
interface Variant {
  name: string;
  files: string[];
  sets?: string[];
}
const VALUES_FILES = ['values.yaml', 'values-production.yaml', 'values-agent.yaml'];
// Credentials given at install time, for the variant where the chart writes the Secret itself.
const GIVEN = {
  DATABASE_URL: 'postgres://selfheal:pw-0f1e2d3c4b5a@db.internal:5432/selfheal',
  PAGERDUTY_WEBHOOK_SECRETS: 'whsec-given-at-install-7c1d',
  SELFHEAL_ADMIN_TOKEN: 'admin-token-given-at-install-0123456789',
  GITHUB_TOKEN: 'ghp_givenAtInstall0123456789abcdef',
};
const VARIANTS: Variant[] = [
  { name: 'default values', files: [] },
  { name: 'values-production.yaml', files: ['values-production.yaml'] },
  { name: 'values-agent.yaml', files: ['values-agent.yaml'] },
  {
    name: 'Secret written from values given at install',
    files: [],
    sets: [
      'secret.create=true',
      ...Object.entries(GIVEN).map(([k, v]) => `secret.data.${k}=${v}`),
      'temporal.tls.secretName=temporal-client',
      'temporal.tls.caKey=ca.crt',
      'extractors=services: {}',
      'agent.environments[0].name=lab',
      'agent.environments[0].teams[0]=default',
      'worker.secretMounts[0].name=ssh',
      'worker.secretMounts[0].secretName=selfheal-ssh',
      'worker.secretMounts[0].mountPath=/etc/selfheal/ssh',
      'worker.envFromSecrets[0]=selfheal-rule-secrets',
    ],
  },
];

const templateArgs = (v: Pick<Variant, 'files' | 'sets'>) => chartArgs(RELEASE, v, NAMESPACE);

const rendered = new Map<string, Promise<K8sObject[]>>();
function render(v: Variant): Promise<K8sObject[]> {
  let p = rendered.get(v.name);
  if (!p) {
    p = helm(templateArgs(v)).then(({ code, stdout, stderr }) => {
      assert.equal(code, 0, `helm template (${v.name}) failed: ${stderr}`);
      return parseManifests(stdout, v.name);
    });
    rendered.set(v.name, p);
  }
  return p;
}

const variant = (name: string) => VARIANTS.find((v) => v.name === name)!;

/** Render under another release name (the chart must not assume RELEASE). */
async function renderChartAs(release: string, v: Pick<Variant, 'files' | 'sets'>): Promise<K8sObject[]> {
  const { code, stdout, stderr } = await helm(chartArgs(release, v, NAMESPACE));
  assert.equal(code, 0, `helm template ${release} failed: ${stderr}`);
  return parseManifests(stdout, `${release}: ${[...v.files, ...(v.sets ?? [])].join(' ')}`);
}
const fullname = `${RELEASE}-self-healing`;

// ---- what the chart promises about credentials --------------------------------------------------------
const valuesSchema = JSON.parse(readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')) as {
  properties: { config: { properties: Record<string, unknown> }; secret: { properties: { data: { properties: Record<string, unknown> } } } };
};
/** The credentials: accepted only in the Secret (values.schema.json secret.data), never in config. */
const SECRET_VARS = Object.keys(valuesSchema.properties.secret.properties.data.properties).sort();
/** The non-secret settings `config` accepts. */
const CONFIG_VARS = Object.keys(valuesSchema.properties.config.properties).sort();
/** Variables that make no sense on Kubernetes: dev-only state (PGlite folder, the Temporal CLI dev server). */
// PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED: the chart runs in production, which refuses unsigned webhooks at start.
const NOT_APPLICABLE = ['SELFHEAL_DATA_DIR', 'TEMPORAL_CLI_PATH', 'PAGERDUTY_WEBHOOK_ALLOW_UNSIGNED'];
/** Variables set by the chart besides these (NODE_OPTIONS bounds the V8 heap below the memory limit). */
const NODE_VARS = ['NODE_OPTIONS'];

const FAKE_SECRETS: Record<string, string> = {
  DATABASE_URL: 'postgres://selfheal:fake@postgres:5432/selfheal',
  PAGERDUTY_WEBHOOK_SECRETS: 'whsec-one,whsec-two',
  SELFHEAL_ADMIN_TOKEN: 'admin-token-0123456789',
  METRICS_TOKEN: 'metrics-token-0123456789',
};
/** Required keys get a value, optional ones are left out (as when the Secret does not hold them). */
const requiredOnly = (name: string, ref: { optional?: boolean }) => (ref.optional ? undefined : FAKE_SECRETS[name] ?? 'x'.repeat(24));

function sdkGraceSeconds(file: string): number {
  const text = readFileSync(path.join(repo, file), 'utf8');
  const m = /shutdownGraceTime:\s*'(\d+)\s*(?:s|seconds?)'/.exec(text);
  assert.ok(m, `${file}: no shutdownGraceTime: '<n> seconds' found; the chart's terminationGracePeriodSeconds must be checked against it`);
  return Number(m[1]);
}

function mebibytes(q: string): number {
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|k|M|G)?$/.exec(q);
  assert.ok(m, `cannot read memory quantity ${q}`);
  const n = Number(m[1]);
  const unit = { Ki: 1 / 1024, Mi: 1, Gi: 1024, k: 1000 / 1048576, M: 1e6 / 1048576, G: 1e9 / 1048576 }[m[2] ?? ''] ?? 1 / 1048576;
  return n * unit;
}

/** Walk plain values: [dotted path, value] for every scalar. */
function scalars(node: unknown, at = ''): [string, unknown][] {
  if (node !== null && typeof node === 'object') {
    return Object.entries(node as Record<string, unknown>).flatMap(([k, v]) => scalars(v, at ? `${at}.${k}` : k));
  }
  return [[at, node]];
}
const URL_WITH_PASSWORD = /[a-z][a-z0-9+.-]*:\/\/[^/\s@]*:[^/\s@]*@/i;

describe('Helm chart (deploy/helm/self-healing)', function () {
  this.timeout(120_000);

  before(async function () {
    this.timeout(15 * 60_000); // the first run on a machine builds Helm from its Go module
    await ensureHelm();
    assert.equal(`v${KUBE_VERSION}`, k8sSchema.kubernetesVersion, 'test/helpers/helm.ts renders for another Kubernetes version than the vendored schemas');
  });

  for (const file of VALUES_FILES) {
    it(`helm lint --strict passes with ${file}`, async function () {
      const { code, stdout, stderr } = await helm(['lint', '--strict', CHART, '-f', path.join(CHART, file), '--kube-version', KUBE_VERSION]);
      assert.equal(code, 0, `${stdout}\n${stderr}`);
      assert.match(stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
    });
  }

  describe(`every rendered object is valid against the Kubernetes ${k8sSchema.kubernetesVersion} schema of its kind`, function () {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats.default(ajv);
    ajv.addSchema({ $id: 'k8s', definitions: k8sSchema.definitions });
    const validators = new Map<string, ValidateFunction>();
    const validatorFor = (apiVersion: string, kind: string) => {
      const key = `${apiVersion}/${kind}`;
      const schema = k8sSchema.kinds[key];
      if (!schema) return undefined;
      if (!validators.has(key)) {
        const withRefs = JSON.parse(JSON.stringify(schema).replaceAll('"#/definitions/', '"k8s#/definitions/')) as object;
        validators.set(key, ajv.compile(withRefs));
      }
      return validators.get(key)!;
    };

    for (const v of VARIANTS) {
      it(v.name, async function () {
        const objs = await render(v);
        assert.ok(objs.length > 0);
        for (const o of objs) {
          const validate = validatorFor(o.apiVersion, o.kind);
          assert.ok(validate, `${o.kind} ${o.metadata?.name}: ${o.apiVersion}/${o.kind} has no vendored schema (test/fixtures/kubernetes)`);
          const ok = validate(o);
          assert.ok(ok, `${o.kind} ${o.metadata.name}: ${ajv.errorsText(validate.errors, { separator: '\n  ' })}`);
        }
      });
    }

    it('the vendored schemas are exactly the kinds the chart renders', async function () {
      const kinds = new Set<string>();
      for (const v of VARIANTS) for (const o of await render(v)) kinds.add(`${o.apiVersion}/${o.kind}`);
      assert.deepEqual([...kinds].sort(), Object.keys(k8sSchema.kinds).sort());
    });

    it('the schemas catch a misplaced field (strict) and a wrong apiVersion', async function () {
      const api = structuredClone(podOf(await render(VARIANTS[0]!), 'api')!);
      const validate = validatorFor('apps/v1', 'Deployment')!;
      assert.equal(validate(api), true);
      (api.spec!.template!.spec.containers[0] as unknown as Record<string, unknown>).readinessprobe = { httpGet: { path: '/readyz', port: 'http' } };
      assert.equal(validate(api), false);
      assert.equal(validatorFor('autoscaling/v2beta2', 'HorizontalPodAutoscaler'), undefined);
      const pdb = { apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', metadata: { name: 'x' }, spec: {} };
      assert.equal(validatorFor('policy/v1', 'PodDisruptionBudget')!(pdb), false);
    });
  });

  describe('no credentials in plain values', function () {
    it('every variable the config knows is a credential, a setting, set by the chart, or not applicable, and only one of them', async function () {
      const managed = new Set<string>();
      for (const v of VARIANTS) {
        for (const d of deployments(await render(v))) {
          for (const c of allContainers(d.spec!.template!.spec)) for (const e of c.env ?? []) if (e.value !== undefined) managed.add(e.name);
        }
      }
      // LOG_LEVEL is a setting (config) the chart also hands to the agents and the migration as a literal.
      const chartSet = [...managed].filter((n) => !NODE_VARS.includes(n) && !CONFIG_VARS.includes(n));
      const groups = { credentials: SECRET_VARS, config: CONFIG_VARS, 'set by the chart': chartSet, 'not applicable': NOT_APPLICABLE };
      const seen = new Map<string, string>();
      for (const [group, names] of Object.entries(groups)) {
        for (const n of names) {
          assert.ok(configVariables.includes(n as never), `${n} (${group}) is not a variable src/config.ts knows`);
          assert.ok(!seen.has(n), `${n} is both ${seen.get(n)} and ${group}`);
          seen.set(n, group);
        }
      }
      const missing = configVariables.filter((n) => !seen.has(n));
      assert.deepEqual(missing, [], `variables the chart cannot set: add each to values.schema.json (config, or secret.data if it is a credential) or to the chart's env`);
    });

    it('the committed values files hold no credential: no Secret data, no token, no URL with a password', function () {
      for (const file of VALUES_FILES) {
        const values = YAML.parse(readFileSync(path.join(CHART, file), 'utf8')) as { secret?: { data?: Record<string, unknown>; create?: boolean } };
        assert.deepEqual(values.secret?.data ?? {}, {}, `${file}: secret.data`);
        assert.notEqual(values.secret?.create, true, `${file}: secret.create`);
        for (const [at, value] of scalars(values)) {
          const leaf = at.split('.').at(-1)!;
          if (!at.startsWith('secret.refs.')) assert.ok(!SECRET_VARS.includes(leaf), `${file}: ${at} holds a credential variable`);
          if (typeof value === 'string') assert.doesNotMatch(value, URL_WITH_PASSWORD, `${file}: ${at} is a URL with a password`);
          if (/token|password|secret|apikey|api_key/i.test(leaf) && !at.startsWith('secret.') && !/secretName|existingSecret|envFromSecrets|secretMounts/i.test(at)) {
            assert.ok(value === '' || value === undefined || value === null, `${file}: ${at} holds a value`);
          }
        }
      }
    });

    it('rendered ConfigMaps and env literals hold no credential; every credential comes from a Secret', async function () {
      for (const v of VARIANTS) {
        const objs = await render(v);
        for (const cm of objs.filter((o) => o.kind === 'ConfigMap')) {
          for (const [k, value] of Object.entries(cm.data ?? {})) {
            assert.ok(!SECRET_VARS.includes(k), `${v.name}: ConfigMap ${cm.metadata.name} holds ${k}`);
            assert.doesNotMatch(value, URL_WITH_PASSWORD, `${v.name}: ConfigMap ${cm.metadata.name} ${k}`);
          }
        }
        for (const d of deployments(objs)) {
          for (const c of allContainers(d.spec!.template!.spec)) {
            for (const e of c.env ?? []) {
              if (SECRET_VARS.includes(e.name)) {
                assert.equal(e.value, undefined, `${v.name}: ${d.metadata.name}/${c.name} has ${e.name} as a literal`);
                assert.ok(e.valueFrom?.secretKeyRef, `${v.name}: ${d.metadata.name}/${c.name} ${e.name} is not from a Secret`);
              } else if (e.value !== undefined) {
                assert.doesNotMatch(e.value, URL_WITH_PASSWORD, `${v.name}: ${d.metadata.name}/${c.name} ${e.name}`);
              }
            }
          }
        }
      }
    });

    it('credentials given at install time end up only in the Secret', async function () {
      const objs = await render(variant('Secret written from values given at install'));
      const secret = objs.find((o) => o.kind === 'Secret');
      assert.ok(secret);
      assert.equal(secret.metadata.name, fullname);
      for (const [k, value] of Object.entries(GIVEN)) {
        assert.equal(Buffer.from(secret.data![k]!, 'base64').toString(), value);
        const elsewhere = JSON.stringify(objs.filter((o) => o !== secret));
        assert.ok(!elsewhere.includes(value) && !elsewhere.includes(Buffer.from(value).toString('base64')), `${k}'s value appears outside the Secret`);
      }
      assert.equal((await render(VARIANTS[0]!)).filter((o) => o.kind === 'Secret').length, 0, 'default values render a Secret');
    });

    it('each process reads only the credentials it uses, and the required ones without optional', async function () {
      const objs = await render(variant('values-production.yaml'));
      const creds = (c: Container) =>
        Object.fromEntries((c.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => [e.name, e.valueFrom!.secretKeyRef!.optional ? 'optional' : 'required']));
      const api = podOf(objs, 'api')!.spec!.template!.spec;
      assert.deepEqual(creds(api.containers[0]!), {
        // METRICS_TOKEN: required, as values-production.yaml has an Ingress (see the next test).
        DATABASE_URL: 'required', PAGERDUTY_WEBHOOK_SECRETS: 'required', SELFHEAL_ADMIN_TOKEN: 'required', METRICS_TOKEN: 'required', OIDC_CLIENT_SECRET: 'optional', TEMPORAL_API_KEY: 'optional',
      });
      assert.deepEqual(creds(api.initContainers![0]!), { DATABASE_URL: 'required' });
      const worker = creds(podOf(objs, 'worker')!.spec!.template!.spec.containers[0]!);
      assert.equal(worker.DATABASE_URL, 'required');
      assert.equal(worker.PAGERDUTY_WEBHOOK_SECRETS, undefined);
      assert.equal(worker.SELFHEAL_ADMIN_TOKEN, undefined);
      for (const k of ['PAGERDUTY_API_TOKEN', 'SMTP_PASSWORD', 'JIRA_API_TOKEN', 'GITHUB_TOKEN', 'EWM_PASSWORD', 'TEMPORAL_API_KEY']) assert.equal(worker[k], 'optional', k);
      assert.deepEqual(creds(podOf(objs, 'agent')!.spec!.template!.spec.containers[0]!), { TEMPORAL_API_KEY: 'optional' });
      // values-production.yaml takes DATABASE_URL from the Postgres operator's Secret, the rest from "self-healing".
      const ref = api.containers[0]!.env!.find((e) => e.name === 'DATABASE_URL')!.valueFrom!.secretKeyRef!;
      assert.deepEqual([ref.name, ref.key], ['selfheal-db-app', 'uri']);
      const admin = api.containers[0]!.env!.find((e) => e.name === 'SELFHEAL_ADMIN_TOKEN')!.valueFrom!.secretKeyRef!;
      assert.deepEqual([admin.name, admin.key], ['self-healing', 'SELFHEAL_ADMIN_TOKEN']);
    });

    it('an Ingress serves every host over TLS, or says TLS ends in front of it: helm refuses to render a plain-HTTP one', async function () {
      // Bearer tokens, session cookies and approval links cross an Ingress; NOTES.txt prints https:// for it.
      const base = ['api.ingress.enabled=true', 'secret.refs.METRICS_TOKEN.name=sh', 'secret.refs.METRICS_TOKEN.key=METRICS_TOKEN', 'api.ingress.hosts[0].host=selfheal.example.com', 'api.ingress.hosts[0].paths[0].path=/'];
      const refused: [string[], RegExp][] = [
        [base, /api\.ingress\.tls is empty: API tokens, session cookies and approval links would cross the network in clear text/],
        [
          [...base, 'api.ingress.hosts[1].host=other.example.com', 'api.ingress.hosts[1].paths[0].path=/', 'api.ingress.tls[0].secretName=t', 'api.ingress.tls[0].hosts[0]=selfheal.example.com'],
          /api\.ingress\.hosts names other\.example\.com, which no api\.ingress\.tls entry lists/,
        ],
      ];
      for (const [sets, why] of refused) {
        const { code, stderr } = await helm(templateArgs({ files: [], sets }));
        assert.notEqual(code, 0, `helm template ${sets.join(' ')} rendered`);
        assert.match(stderr, why, sets.join(' '));
      }
      const ingressOf = (objs: K8sObject[]) => objs.find((o) => o.kind === 'Ingress') as unknown as { spec: { tls?: { hosts?: string[] }[] } } | undefined;
      const accepted: [string[], unknown][] = [
        [[...base, 'api.ingress.tls[0].secretName=t', 'api.ingress.tls[0].hosts[0]=selfheal.example.com'], [{ secretName: 't', hosts: ['selfheal.example.com'] }]],
        // An entry without hosts takes the controller's default certificate for every host.
        [[...base, 'api.ingress.tls[0].secretName=t'], [{ secretName: 't' }]],
        [[...base, 'api.ingress.tlsTerminatedUpstream=true'], undefined],
      ];
      for (const [sets, tls] of accepted) {
        const { code, stdout, stderr } = await helm(templateArgs({ files: [], sets }));
        assert.equal(code, 0, `helm template ${sets.join(' ')}: ${stderr}`);
        assert.deepEqual(ingressOf(parseManifests(stdout, sets.join(' ')))?.spec.tls, tls, sets.join(' '));
      }
      // values-production.yaml has an Ingress with TLS, and renders (the METRICS_TOKEN test renders it too).
    });

    it('an API exposed outside the cluster (Ingress, NodePort, LoadBalancer) needs METRICS_TOKEN: helm refuses to render without one, and the pod requires it', async function () {
      // Without METRICS_TOKEN, GET /metrics answers anyone (src/api/auth.ts checkMetricsToken); an Ingress routes it too.
      // values-production.yaml (an Ingress) without its METRICS_TOKEN reference:
      const dir = mkdtempSync(path.join(tmpdir(), 'selfheal-values-'));
      const production = YAML.parse(readFileSync(path.join(CHART, 'values-production.yaml'), 'utf8')) as { secret: { refs: Record<string, unknown> } };
      assert.ok(production.secret.refs.METRICS_TOKEN, 'values-production.yaml names no METRICS_TOKEN');
      delete production.secret.refs.METRICS_TOKEN;
      const withoutToken = path.join(dir, 'values-production-without-metrics-token.yaml');
      writeFileSync(withoutToken, YAML.stringify(production));
      const refused: [string[], string[], RegExp][] = [
        [[], ['api.ingress.enabled=true'], /api\.ingress\.enabled is true/],
        [[], ['api.service.type=NodePort'], /api\.service\.type is NodePort/],
        [[], ['api.service.type=LoadBalancer'], /api\.service\.type is LoadBalancer/],
        [[], ['api.ingress.enabled=true', 'secret.create=true', `secret.data.DATABASE_URL=${GIVEN.DATABASE_URL}`], /api\.ingress\.enabled is true/],
        [[withoutToken], [], /api\.ingress\.enabled is true/],
      ];
      try {
        for (const [files, sets, why] of refused) {
          const { code, stderr } = await helm(templateArgs({ files, sets }));
          const what = [...files, ...sets].join(' ');
          assert.notEqual(code, 0, `helm template ${what} rendered`);
          assert.match(stderr, why, what);
          assert.match(stderr, /GET \/metrics answers anyone[\s\S]*secret\.refs\.METRICS_TOKEN/, what);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const metricsRef = (objs: K8sObject[]) => podOf(objs, 'api')!.spec!.template!.spec.containers[0]!.env!.find((e) => e.name === 'METRICS_TOKEN')!.valueFrom!.secretKeyRef!;
      const accepted: [string[], string[], { name: string; key: string; optional?: boolean }][] = [
        [['values-production.yaml'], [], { name: 'self-healing', key: 'METRICS_TOKEN' }],
        [[], ['api.service.type=LoadBalancer', 'secret.refs.METRICS_TOKEN.name=selfheal-metrics', 'secret.refs.METRICS_TOKEN.key=token'], { name: 'selfheal-metrics', key: 'token' }],
        [[], ['api.ingress.enabled=true', 'api.ingress.tlsTerminatedUpstream=true', 'secret.create=true', 'secret.data.METRICS_TOKEN=metrics-token-given-0123456789'], { name: fullname, key: 'METRICS_TOKEN' }],
        // Not exposed: the token stays optional (a port-forward or the cluster's own Prometheus).
        [[], [], { name: fullname, key: 'METRICS_TOKEN', optional: true }],
      ];
      for (const [files, sets, ref] of accepted) {
        const { code, stdout, stderr } = await helm(templateArgs({ files, sets }));
        assert.equal(code, 0, `helm template ${[...files, ...sets].join(' ')}: ${stderr}`);
        assert.deepEqual(metricsRef(parseManifests(stdout, sets.join(' '))), ref, [...files, ...sets].join(' '));
      }
    });

    it('values.schema.json refuses a credential in config, a URL with a password, an empty created Secret and a misspelt key', async function () {
      const cases: [string[], RegExp][] = [
        [['config.SELFHEAL_ADMIN_TOKEN=admin-token-0123456789'], /SELFHEAL_ADMIN_TOKEN/],
        [['config.DATABASE_URL=postgres://u:p@db:5432/x'], /DATABASE_URL/],
        [['config.SMTP_URL=smtp://mailer:hunter2@mail.internal:587'], /SMTP_URL/],
        [['config.JIRA_BASE_URL=https://bot:hunter2@example.atlassian.net'], /JIRA_BASE_URL/],
        [['secret.data.SLACK_WEBHOOK=https://hooks.slack.com/x'], /SLACK_WEBHOOK/],
        [['secret.create=true'], /secret\.create is true but secret\.data is empty/],
        [['api.replica=3'], /replica/],
        [['agent.environments[0].name=Prod EU', 'agent.environments[0].teams[0]=default'], /name/],
        // Its agent (NODE_ENV=production) would refuse to start, crash-looping: the chart refuses it first.
        [['agent.environments[0].name=prod-eu'], /teams/],
        // "*" is every team's alone: "*,ops" is a SELFHEAL_AGENT_TEAMS the agent refuses (crash-loop).
        [['agent.environments[0].name=prod-eu', 'agent.environments[0].teams[0]=*', 'agent.environments[0].teams[1]=ops'], /teams/],
        [['agent.environments[0].name=prod-eu', 'agent.environments[0].teams[0]=ops', 'agent.environments[0].teams[1]=*'], /teams/],
      ];
      for (const [sets, message] of cases) {
        const { code, stderr } = await helm(templateArgs({ files: [], sets }));
        assert.notEqual(code, 0, `helm template --set ${sets.join(' ')} rendered`);
        assert.match(stderr, message, `--set ${sets.join(' ')}`);
      }
    });
  });

  describe('the processes get a configuration they accept', function () {
    const roles: Record<string, ProcessRole> = { api: 'api', worker: 'worker', agent: 'agent' };
    for (const name of ['default values', 'values-production.yaml', 'Secret written from values given at install']) {
      it(`${name}: every variable is one the config knows, and src/config.ts accepts the values`, async function () {
        const objs = await render(variant(name));
        const seen: Record<string, ReturnType<typeof loadConfig>> = {};
        for (const d of deployments(objs)) {
          const comp = component(d)!;
          const pod = d.spec!.template!.spec;
          for (const c of allContainers(pod)) {
            const env = containerEnv(objs, c, requiredOnly);
            assert.deepEqual(Object.keys(env).filter((k) => !configVariables.includes(k as never) && !NODE_VARS.includes(k)), [], `${d.metadata.name}/${c.name}`);
            if (c.command?.some((a) => a.endsWith('.ts'))) {
              const role = c.name === 'migrate' ? 'tool' : roles[comp]!;
              const config = loadConfig(env, { role });
              assert.equal(config.nodeEnv, 'production', `${d.metadata.name}/${c.name}`);
              if (c.name !== 'migrate') seen[comp] = config;
            }
          }
        }
        if (seen.api && seen.worker) {
          assert.equal(seen.api.temporal.address, seen.worker.temporal.address);
          assert.equal(seen.api.temporal.namespace, seen.worker.temporal.namespace);
          assert.equal(seen.api.temporal.taskQueue, seen.worker.temporal.taskQueue);
        }
        for (const d of deployments(objs).filter((o) => component(o) === 'agent')) {
          const env = containerEnv(objs, d.spec!.template!.spec.containers[0]!, requiredOnly);
          assert.equal(env.SELFHEAL_ENVIRONMENT, d.metadata.annotations?.['selfheal.io/environment']);
          assert.equal(loadConfig(env, { role: 'agent' }).agent.environment, env.SELFHEAL_ENVIRONMENT);
        }
      });
    }

    it('the containers run the same entrypoints as the npm scripts', async function () {
      const pkg = JSON.parse(readFileSync(path.join(repo, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
      const objs = await render(variant('values-production.yaml'));
      const entry = (comp: string, init = false) => {
        const pod = podOf(objs, comp)!.spec!.template!.spec;
        return (init ? pod.initContainers![0]! : pod.containers[0]!).command!.at(-1)!;
      };
      for (const [comp, script, init] of [['api', 'server', false], ['worker', 'worker', false], ['agent', 'agent', false], ['api', 'migrate', true]] as const) {
        const file = entry(comp, init);
        assert.ok(pkg.scripts[script]!.endsWith(file), `${comp} runs ${file}, npm run ${script} runs ${pkg.scripts[script]}`);
      }
    });
  });

  describe('probes, exposure and shutdown', function () {
    it('the API is ready on /readyz and alive on /healthz, on the port it listens on', async function () {
      for (const v of VARIANTS) {
        const objs = await render(v);
        const api = podOf(objs, 'api');
        if (!api) continue;
        const c = api.spec!.template!.spec.containers[0]!;
        const port = c.ports!.find((p) => p.name === 'http')!;
        assert.equal(String(port.containerPort), containerEnv(objs, c, requiredOnly).PORT);
        assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'http' }, v.name);
        assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'http' }, v.name);
        assert.ok(c.startupProbe?.httpGet, v.name);
      }
    });

    it('the worker and every agent are probed on the Temporal SDK metrics listener they are told to open', async function () {
      let checked = 0;
      for (const v of VARIANTS) {
        const objs = await render(v);
        for (const d of deployments(objs).filter((o) => component(o) !== 'api')) {
          const c = d.spec!.template!.spec.containers[0]!;
          const address = (c.env ?? []).find((e) => e.name === 'TEMPORAL_WORKER_METRICS_ADDRESS')?.value;
          assert.ok(address, `${v.name}: ${d.metadata.name} opens no metrics listener`);
          const port = c.ports!.find((p) => p.name === 'metrics')!;
          assert.equal(address, `0.0.0.0:${port.containerPort}`);
          for (const probe of [c.livenessProbe, c.startupProbe]) assert.deepEqual(probe?.httpGet, { path: '/metrics', port: 'metrics' }, d.metadata.name);
          checked++;
        }
      }
      assert.ok(checked >= 6, `only ${checked} worker/agent Deployments checked`);
    });

    it('only the API is exposed: one Service, selecting API pods only; the Ingress routes to it; no host ports', async function () {
      for (const v of VARIANTS) {
        const objs = await render(v);
        const services = objs.filter((o) => o.kind === 'Service');
        const api = podOf(objs, 'api');
        assert.equal(services.length, api ? 1 : 0, `${v.name}: Services`);
        for (const svc of services) {
          assert.notEqual(svc.spec!.type, 'NodePort', v.name);
          assert.notEqual(svc.spec!.type, 'LoadBalancer', v.name);
          const selector = svc.spec!.selector as Record<string, string>;
          for (const d of deployments(objs)) {
            const labels = d.spec!.template!.metadata.labels;
            const selected = Object.entries(selector).every(([k, val]) => labels[k] === val);
            assert.equal(selected, component(d) === 'api', `${v.name}: Service ${svc.metadata.name} vs ${d.metadata.name}`);
          }
        }
        for (const ing of objs.filter((o) => o.kind === 'Ingress')) {
          for (const rule of ing.spec!.rules!) for (const p of rule.http.paths) assert.equal(p.backend.service.name, `${fullname}-api`);
        }
        for (const d of deployments(objs)) {
          const pod = d.spec!.template!.spec;
          assert.ok(!pod.hostNetwork && !pod.hostPID, d.metadata.name);
          for (const c of allContainers(pod)) for (const p of c.ports ?? []) assert.equal(p.hostPort, undefined, `${d.metadata.name}/${c.name}`);
        }
      }
      const prod = await render(variant('values-production.yaml'));
      assert.equal(prod.filter((o) => o.kind === 'Ingress').length, 1);
    });

    it('the worker and agents get longer to stop than the Temporal SDK takes to drain', async function () {
      const worker = sdkGraceSeconds('src/temporal/worker.ts');
      const agent = sdkGraceSeconds('src/agent.ts');
      for (const v of VARIANTS) {
        for (const d of deployments(await render(v))) {
          const grace = d.spec!.template!.spec.terminationGracePeriodSeconds!;
          const sdk = component(d) === 'worker' ? worker : component(d) === 'agent' ? agent : undefined;
          if (sdk !== undefined) assert.ok(grace > sdk, `${v.name}: ${d.metadata.name} terminationGracePeriodSeconds ${grace} <= shutdownGraceTime ${sdk} s`);
        }
      }
    });

    it('the workers are replaced all at once: no worker of the release before runs beside one of the new release', async function () {
      let seen = 0;
      for (const v of VARIANTS) {
        for (const d of deployments(await render(v)).filter((o) => component(o) === 'worker')) {
          assert.deepEqual((d.spec as { strategy?: unknown }).strategy, { type: 'Recreate' }, `${v.name}: ${d.metadata.name}`);
          seen += 1;
        }
      }
      assert.ok(seen > 0, 'no values file renders a worker');
    });

    it('the API gets longer to stop than its preStop sleep plus the time it lets requests in flight finish', async function () {
      let checked = 0;
      for (const v of VARIANTS) {
        const api = podOf(await render(v), 'api');
        if (!api) continue;
        const pod = api.spec!.template!.spec;
        const sleep = pod.containers[0]!.lifecycle?.preStop?.exec?.command ?? [];
        assert.equal(sleep[0], 'sleep', `${v.name}: no preStop sleep`);
        const budget = Number(sleep[1]) + API_DRAIN_SECONDS;
        assert.ok(pod.terminationGracePeriodSeconds! > budget, `${v.name}: terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} <= preStop ${sleep[1]} s + drain ${API_DRAIN_SECONDS} s`);
        checked += 1;
      }
      assert.ok(checked >= 2, `only ${checked} API Deployments checked`);
    });

    it('migrations run in an init container before the API container starts, with the API\'s database', async function () {
      for (const v of VARIANTS) {
        const api = podOf(await render(v), 'api');
        if (!api) continue;
        const pod = api.spec!.template!.spec;
        const migrate = pod.initContainers?.[0];
        assert.ok(migrate, `${v.name}: no init container`);
        assert.equal(migrate.command!.at(-1), 'src/migrate.ts');
        assert.equal(pod.containers[0]!.command!.at(-1), 'src/server.ts');
        const db = (c: Container) => c.env!.find((e) => e.name === 'DATABASE_URL')!.valueFrom!.secretKeyRef;
        assert.deepEqual(db(migrate), db(pod.containers[0]!));
      }
    });

    it('api.imageTag holds the API and its migration back while the worker and agents move on (upgrades: workers first)', async function () {
      const { code, stdout, stderr } = await helm(templateArgs({ files: [], sets: ['image.tag=0.2.0', 'api.imageTag=0.1.0', 'agent.environments[0].name=lab', 'agent.environments[0].teams[0]=default'] }));
      assert.equal(code, 0, stderr);
      const objs = parseManifests(stdout, 'imageTag');
      const images = (comp: string) => allContainers(podOf(objs, comp)!.spec!.template!.spec).map((c) => c.image);
      assert.deepEqual(images('api'), ['self-healing:0.1.0', 'self-healing:0.1.0']);
      assert.deepEqual(images('worker'), ['self-healing:0.2.0']);
      assert.deepEqual(images('agent'), ['self-healing:0.2.0']);
    });

    it('the API autoscaler and disruption budgets point at the right pods', async function () {
      const objs = await render(variant('values-production.yaml'));
      const hpa = objs.find((o) => o.kind === 'HorizontalPodAutoscaler')!;
      const api = podOf(objs, 'api')!;
      assert.deepEqual(hpa.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: api.metadata.name });
      assert.equal(api.spec!.replicas, undefined, 'with the HPA on, the Deployment must not pin replicas');
      const pdbs = objs.filter((o) => o.kind === 'PodDisruptionBudget');
      assert.deepEqual(pdbs.map((p) => p.spec!.selector!.matchLabels!['app.kubernetes.io/component']).sort(), ['api', 'worker']);
      for (const pdb of pdbs) {
        const target = podOf(objs, pdb.spec!.selector!.matchLabels!['app.kubernetes.io/component']!)!;
        for (const [k, val] of Object.entries(pdb.spec!.selector!.matchLabels!)) assert.equal(target.spec!.template!.metadata.labels[k], val);
      }
    });
  });

  describe('scheduling', function () {
    type Term = { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } };
    type Affinity = { podAntiAffinity?: { preferredDuringSchedulingIgnoredDuringExecution?: { weight: number; podAffinityTerm: Term }[] }; nodeAffinity?: unknown };
    const affinityOf = (d: K8sObject) => (d.spec!.template!.spec as { affinity?: Affinity }).affinity;
    const selects = (selector: Record<string, string>, d: K8sObject) =>
      Object.entries(selector).every(([k, val]) => d.spec!.template!.metadata.labels[k] === val);
    // Two agents, so that one environment's agents are seen not to avoid the other's.
    const agents = ['agent.environments[0].name=prod-eu-k8s', 'agent.environments[0].replicas=2', 'agent.environments[0].teams[0]=default', 'agent.environments[1].name=prod-us-k8s', 'agent.environments[1].teams[0]=default'];

    for (const release of ['self-healing', 'selfheal-eu']) {
      it(`values-production.yaml released as "${release}": each Deployment's replicas avoid each other's node, and only each other`, async function () {
        const objs = await renderChartAs(release, { files: ['values-production.yaml'], sets: agents });
        const deps = deployments(objs);
        assert.deepEqual(deps.map(component).sort(), ['agent', 'agent', 'api', 'worker']);
        for (const d of deps) {
          const terms = affinityOf(d)?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
          assert.equal(terms?.length, 1, `${d.metadata.name}: one preferred podAntiAffinity term, got ${JSON.stringify(affinityOf(d))}`);
          const { topologyKey, labelSelector } = terms[0]!.podAffinityTerm;
          assert.equal(topologyKey, 'kubernetes.io/hostname', d.metadata.name);
          const sel = labelSelector.matchLabels;
          assert.equal(sel['app.kubernetes.io/instance'], release, `${d.metadata.name}: selects another release's pods`);
          assert.equal(sel['app.kubernetes.io/component'], component(d), `${d.metadata.name}: selects another component's pods`);
          // Its own pods and no other Deployment's (the API's replicas avoid each other, not the worker).
          for (const other of deps) assert.equal(selects(sel, other), other === d, `${d.metadata.name}'s anti-affinity vs ${other.metadata.name}`);
        }
      });
    }

    it('affinity given in values replaces the spread; without spreadAcrossNodes there is none', async function () {
      const nodeAffinity = { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'pool', operator: 'In', values: ['sre'] }] }] } };
      const given = await renderChartAs('selfheal-eu', {
        files: ['values-production.yaml'],
        sets: ['affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=pool',
          'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=In',
          'affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values={sre}'],
      });
      for (const d of deployments(given)) assert.deepEqual(affinityOf(d), { nodeAffinity }, d.metadata.name);
      for (const d of deployments(await render(variant('default values')))) assert.equal(affinityOf(d), undefined, d.metadata.name);
    });
  });

  describe('security contexts and resources', function () {
    const dockerUser = /^USER\s+(\d+)(?::(\d+))?\s*$/m.exec(readFileSync(path.join(repo, 'Dockerfile'), 'utf8'));

    it('every pod runs as the image\'s non-root user with no service account token; every container read-only, unprivileged, no capabilities', async function () {
      assert.ok(dockerUser, 'the Dockerfile has no numeric USER (Kubernetes cannot check runAsNonRoot on a named user)');
      for (const v of VARIANTS) {
        for (const d of deployments(await render(v))) {
          const pod = d.spec!.template!.spec;
          const where = `${v.name}: ${d.metadata.name}`;
          assert.equal(pod.automountServiceAccountToken, false, where);
          assert.equal(pod.securityContext?.runAsNonRoot, true, where);
          assert.equal(pod.securityContext?.runAsUser, Number(dockerUser[1]), where);
          assert.equal(pod.securityContext?.seccompProfile?.type, 'RuntimeDefault', where);
          const tmp = pod.volumes!.find((vol) => vol.name === 'tmp');
          assert.ok(tmp?.emptyDir, `${where}: /tmp is not an emptyDir`);
          for (const c of allContainers(pod)) {
            const sc = c.securityContext ?? {};
            assert.equal(sc.readOnlyRootFilesystem, true, `${where}/${c.name}`);
            assert.equal(sc.allowPrivilegeEscalation, false, `${where}/${c.name}`);
            assert.notEqual(sc.privileged, true, `${where}/${c.name}`);
            assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${where}/${c.name}`);
            assert.equal(sc.capabilities?.add, undefined, `${where}/${c.name}`);
            const node = c.command?.[0] === 'node';
            if (node) assert.ok(c.volumeMounts?.some((m) => m.name === 'tmp' && m.mountPath === '/tmp'), `${where}/${c.name}: no writable /tmp`);
          }
        }
      }
    });

    it('every container has CPU and memory requests and a memory limit above its V8 heap bound', async function () {
      for (const v of VARIANTS) {
        for (const d of deployments(await render(v))) {
          for (const c of allContainers(d.spec!.template!.spec)) {
            const where = `${v.name}: ${d.metadata.name}/${c.name}`;
            assert.ok(c.resources?.requests?.cpu && c.resources.requests.memory, `${where}: requests`);
            assert.ok(c.resources.limits?.memory, `${where}: memory limit`);
            const limit = mebibytes(c.resources.limits.memory);
            assert.ok(mebibytes(c.resources.requests.memory) <= limit, where);
            const opts = c.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
            if (c.command?.[0] === 'node' && c.name !== 'migrate') {
              const heap = /--max-old-space-size=(\d+)/.exec(opts ?? '');
              assert.ok(heap, `${where}: NODE_OPTIONS does not bound the heap`);
              assert.ok(Number(heap[1]) < limit, `${where}: heap ${heap[1]} MiB is not below the ${limit} MiB limit`);
            }
          }
        }
      }
    });

    it('an agent with a scripts ConfigMap gets plain, read-only copies its script check accepts, and names that collide are refused', async function () {
      const objs = await render(variant('values-agent.yaml'));
      const agents = deployments(objs);
      assert.deepEqual(agents.map((d) => d.metadata.annotations?.['selfheal.io/environment']).sort(), ['prod-us', 'staging-us']);
      for (const d of agents) {
        const pod = d.spec!.template!.spec;
        const c = pod.containers[0]!;
        const dir = c.env!.find((e) => e.name === 'SELFHEAL_SCRIPTS_DIR')!.value!;
        const mount = c.volumeMounts!.find((m) => dir === m.mountPath || dir.startsWith(`${m.mountPath}/`))!;
        assert.ok(mount?.readOnly, `${d.metadata.name}: ${dir} is not on a read-only mount`);
        const copy = pod.initContainers!.find((i) => i.volumeMounts!.some((m) => m.name === mount.name))!;
        assert.match(copy.command!.join(' '), /cp -L .*chmod 0555/);
      }
      // Run the init container's command on a ConfigMap volume's layout (files are symlinks into a
      // timestamped ..<date> directory, through ..data), with its mount paths moved under a temp dir, and
      // hand the result to the agent's own script check.
      const pod = agents[0]!.spec!.template!.spec;
      const init = pod.initContainers![0]!;
      const mountOf = (c: Container, vol: string) => c.volumeMounts!.find((m) => m.name === vol)!.mountPath;
      const tmp = mkdtempSync(path.join(tmpdir(), 'selfheal-cm-'));
      try {
        const src = path.join(tmp, 'src');
        const dst = path.join(tmp, 'dst');
        mkdirSync(path.join(src, '..2026_11_30_12_00_00.000000001'), { recursive: true });
        mkdirSync(dst);
        chmodSync(dst, 0o777); // an emptyDir's root: anyone in the pod may write it
        writeFileSync(path.join(src, '..2026_11_30_12_00_00.000000001/health-check.sh'), '#!/bin/sh\necho RESULT status=ok\n', { mode: 0o555 });
        symlinkSync('..2026_11_30_12_00_00.000000001', path.join(src, '..data'));
        symlinkSync('..data/health-check.sh', path.join(src, 'health-check.sh'));
        const script = init.command!.at(-1)!.replaceAll(mountOf(init, 'scripts-src'), src).replaceAll(mountOf(init, 'scripts'), dst);
        const ran = spawnSync('sh', ['-c', script], { encoding: 'utf8' });
        assert.equal(ran.status, 0, ran.stderr);
        // What the agent sees at its mount point: the volume's subPath (or the whole volume), on a parent
        // only root may change, as the container runtime makes it.
        const agentMount = pod.containers[0]!.volumeMounts!.find((m) => m.name === 'scripts')!;
        const view = path.join(tmp, 'agent-mount');
        renameSync(path.join(dst, agentMount.subPath ?? ''), view);
        const agentDir = pod.containers[0]!.env!.find((e) => e.name === 'SELFHEAL_SCRIPTS_DIR')!.value!.replace(agentMount.mountPath, view);
        assert.equal(lstatSync(path.join(agentDir, 'health-check.sh')).isFile(), true, 'the copy is a plain file');
        assert.equal(statSync(agentDir).mode & 0o777, 0o555);
        assert.equal(await resolveAllowedScript(agentDir, 'health-check.sh'), path.join(realpathSync(agentDir), 'health-check.sh'));
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
      const { code, stderr } = await helm(templateArgs({ files: [], sets: ['agent.environments[0].name=prod_eu', 'agent.environments[0].teams[0]=default', 'agent.environments[1].name=prod-eu', 'agent.environments[1].teams[0]=default'] }));
      assert.notEqual(code, 0);
      assert.match(stderr, /both become the Deployment name/);
    });
  });

  describe('documentation', function () {
    it('NOTES point at Temporal\'s Helm chart and Temporal Cloud and name the Secret to create', async function () {
      // helm template does not print NOTES.txt; render it through a probe template in a copy of the chart.
      const dir = mkdtempSync(path.join(tmpdir(), 'selfheal-chart-'));
      try {
        cpSync(CHART, dir, { recursive: true });
        writeFileSync(
          path.join(dir, 'templates/notes-probe.yaml'),
          'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: notes }\ndata:\n  notes: {{ include "self-healing/templates/NOTES.txt" . | quote }}\n',
        );
        const { code, stdout, stderr } = await helm(['template', RELEASE, dir, '--kube-version', KUBE_VERSION, '--show-only', 'templates/notes-probe.yaml']);
        assert.equal(code, 0, stderr);
        const notes = (YAML.parse(stdout) as { data: { notes: string } }).data.notes;
        assert.match(notes, /github\.com\/temporalio\/helm-charts/);
        assert.match(notes, /Temporal Cloud/);
        assert.match(notes, new RegExp(`create secret generic ${fullname}`));
        for (const k of ['DATABASE_URL', 'PAGERDUTY_WEBHOOK_SECRETS', 'SELFHEAL_ADMIN_TOKEN']) assert.match(notes, new RegExp(`--from-literal=${k}=`));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      const readme = readFileSync(path.join(CHART, 'README.md'), 'utf8');
      assert.match(readme, /github\.com\/temporalio\/helm-charts/);
      assert.match(readme, /Temporal Cloud/);
    });

    it('the README\'s install commands render, and the Secrets and ConfigMaps it creates are all the pods require', async function () {
      const readme = readFileSync(path.join(repo, 'README.md'), 'utf8');
      const section = /### Kubernetes \(Helm\)\n([\s\S]*?)(?=\n##)/.exec(readme)?.[1];
      assert.ok(section, 'README has no "### Kubernetes (Helm)" section');
      const shell = [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!.replace(/\\\n\s*/g, ' ')).join('\n');
      const install = /^helm install (\S+) (\S+) (.*)$/m.exec(shell);
      assert.ok(install, 'no helm install command in the README section');
      const [, release, chart, rest] = install;
      assert.equal(path.resolve(repo, chart!), CHART);
      const files = [...rest!.matchAll(/-f (\S+)/g)].map((m) => path.resolve(repo, m[1]!));
      assert.ok(files.length > 0 && files.every((f) => existsSync(f)), `values files ${files.join(', ')}`);
      const { code, stdout, stderr } = await helm(['template', release!, chart!, '--kube-version', KUBE_VERSION, ...files.flatMap((f) => ['-f', f])]);
      assert.equal(code, 0, stderr);
      const objs = parseManifests(stdout, 'README install');
      // Every Secret key a pod requires is created by the README, and so is every ConfigMap it mounts.
      const created = new Map<string, string[]>();
      for (const m of shell.matchAll(/kubectl (?:-n \S+ )?create secret generic (\S+)(.*)$/gm)) {
        created.set(m[1]!, [...m[2]!.matchAll(/--from-literal=([A-Za-z_]+)=/g)].map((k) => k[1]!));
      }
      const configMaps = [...shell.matchAll(/kubectl (?:-n \S+ )?create configmap (\S+)/gm)].map((m) => m[1]!);
      assert.ok(created.size > 0, 'no kubectl create secret command in the README section');
      let required = 0;
      for (const d of deployments(objs)) {
        const pod = d.spec!.template!.spec;
        for (const c of allContainers(pod)) {
          for (const e of c.env ?? []) {
            const ref = e.valueFrom?.secretKeyRef;
            if (!ref || ref.optional) continue;
            required++;
            assert.ok(created.get(ref.name)?.includes(ref.key), `the README creates no Secret ${ref.name} with key ${ref.key}, which ${d.metadata.name}/${c.name} requires`);
          }
        }
        for (const vol of pod.volumes ?? []) if (vol.configMap && !objs.some((o) => o.kind === 'ConfigMap' && o.metadata.name === vol.configMap!.name)) {
          assert.ok(configMaps.includes(vol.configMap.name), `the README creates no ConfigMap ${vol.configMap.name}, which ${d.metadata.name} mounts`);
        }
      }
      assert.ok(required >= 3, `only ${required} required credentials found`);
    });
  });
});
