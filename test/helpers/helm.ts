// Helm for the chart tests: the pinned binary (tools/ensure-helm.sh builds it from its Go module once),
// `helm template` of deploy/helm/self-healing, and the parts of the rendered objects the tests read.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import YAML from 'yaml';

export const repo = fileURLToPath(new URL('../../', import.meta.url));
export const CHART = path.join(repo, 'deploy/helm/self-healing');
/** The Kubernetes version of the vendored API schemas (test/fixtures/kubernetes), passed to helm template. */
export const KUBE_VERSION = '1.30.14';

const execFileP = promisify(execFile);

// ---- the shapes of the rendered objects the tests read ------------------------------------------------
export interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { name: string; key: string; optional?: boolean }; configMapKeyRef?: unknown };
}
export interface Probe {
  httpGet?: { path: string; port: string | number };
}
export interface Container {
  name: string;
  image?: string;
  command?: string[];
  args?: string[];
  env?: EnvVar[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number; hostPort?: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
  startupProbe?: Probe;
  securityContext?: {
    readOnlyRootFilesystem?: boolean;
    allowPrivilegeEscalation?: boolean;
    privileged?: boolean;
    runAsNonRoot?: boolean;
    capabilities?: { drop?: string[]; add?: string[] };
  };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  volumeMounts?: { name: string; mountPath: string; subPath?: string; readOnly?: boolean }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: { name: string; emptyDir?: object; configMap?: { name: string }; secret?: { secretName: string } }[];
  securityContext?: { runAsNonRoot?: boolean; runAsUser?: number; runAsGroup?: number; seccompProfile?: { type: string } };
  automountServiceAccountToken?: boolean;
  hostNetwork?: boolean;
  hostPID?: boolean;
  terminationGracePeriodSeconds?: number;
}
export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  data?: Record<string, string>;
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> } & Record<string, string>;
    template?: { metadata: { labels: Record<string, string> }; spec: PodSpec };
    type?: string;
    scaleTargetRef?: { kind: string; name: string };
    rules?: { http: { paths: { backend: { service: { name: string; port: { name?: string; number?: number } } } }[] } }[];
  };
}

// ---- Helm ----------------------------------------------------------------------------------------------
let helmBin: Promise<string> | undefined;

/** The pinned Helm, built on first use; fails with one line saying how to provision it. */
export function ensureHelm(): Promise<string> {
  helmBin ??= (async () => {
    try {
      const { stdout } = await execFileP('bash', [path.join(repo, 'tools/ensure-helm.sh')], { cwd: repo, maxBuffer: 16 << 20 });
      const bin = stdout.trim().split('\n').at(-1)!;
      assert.ok(existsSync(bin), `tools/ensure-helm.sh printed ${bin}, which does not exist`);
      return bin;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      const last = (e.stderr ?? e.message).trim().split('\n').at(-1);
      throw new Error(`Helm is needed for the chart tests and could not be provisioned: ${last} (run bash tools/ensure-helm.sh)`);
    }
  })();
  return helmBin;
}

export async function helm(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const bin = await ensureHelm();
  try {
    const { stdout, stderr } = await execFileP(bin, args, {
      cwd: repo,
      maxBuffer: 32 << 20,
      env: { ...process.env, HELM_CACHE_HOME: path.join(tmpdir(), 'selfheal-helm-cache') },
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** `helm template` arguments for the chart with values files (relative to the chart) and --set flags. */
export function templateArgs(release: string, v: { files: string[]; sets?: string[] }, namespace = 'selfheal'): string[] {
  return [
    'template', release, CHART, '--namespace', namespace, '--kube-version', KUBE_VERSION,
    ...v.files.flatMap((f) => ['-f', path.isAbsolute(f) ? f : path.join(CHART, f)]),
    ...(v.sets ?? []).flatMap((s) => ['--set', s]),
  ];
}

/** Render the chart; assert success; the objects, parsed strictly (duplicate keys are errors). */
export async function renderChart(release: string, v: { files: string[]; sets?: string[] }): Promise<K8sObject[]> {
  const { code, stdout, stderr } = await helm(templateArgs(release, v));
  assert.equal(code, 0, `helm template failed: ${stderr}`);
  return parseManifests(stdout, `helm template ${[...v.files, ...(v.sets ?? [])].join(' ')}`);
}

export function parseManifests(text: string, what: string): K8sObject[] {
  const objects: K8sObject[] = [];
  for (const doc of YAML.parseAllDocuments(text, { uniqueKeys: true })) {
    assert.deepEqual(doc.errors.map((e) => e.message), [], `${what}: a rendered document is not valid YAML`);
    const js = doc.toJS() as K8sObject | null;
    if (js !== null) objects.push(js);
  }
  return objects;
}

export const deployments = (objs: K8sObject[]) => objs.filter((o) => o.kind === 'Deployment');
export const component = (o: K8sObject) => o.spec!.template!.metadata.labels['app.kubernetes.io/component'];
export const podOf = (objs: K8sObject[], comp: string) => deployments(objs).find((d) => component(d) === comp);
export const allContainers = (pod: PodSpec) => [...(pod.initContainers ?? []), ...pod.containers];

/**
 * The environment a container gets: its ConfigMaps through envFrom, then its env entries; a Secret
 * reference takes what `secretValue` returns for it (undefined: left unset, as for a missing optional key).
 */
export function containerEnv(
  objs: K8sObject[],
  c: Container,
  secretValue: (name: string, ref: { name: string; key: string; optional?: boolean }) => string | undefined,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (!from.configMapRef) continue;
    const cm = objs.find((o) => o.kind === 'ConfigMap' && o.metadata.name === from.configMapRef!.name);
    assert.ok(cm, `${c.name}: envFrom names ConfigMap ${from.configMapRef.name}, which is not rendered`);
    Object.assign(env, cm.data ?? {});
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value;
    else if (e.valueFrom?.secretKeyRef) {
      const v = secretValue(e.name, e.valueFrom.secretKeyRef);
      if (v !== undefined) env[e.name] = v;
    }
  }
  return env;
}
