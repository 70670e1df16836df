import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { onTeardown } from '../helpers/shared.js';
import { unusedPort } from '../helpers/ports.js';
import { startDevServer } from '../../src/temporal/dev-server.js';
import { temporalCliForTests } from '../helpers/temporal.js';
import { component, containerEnv, deployments, podOf, renderChart, repo, type Container, type K8sObject, type PodSpec } from '../helpers/helm.js';

// The chart's pods, run here the way Kubernetes runs them, without a cluster: each container's rendered
// command and environment, as the pod's user (securityContext runAsUser/runAsGroup), in a mount
// namespace where every file system is read-only except a tmpfs at each of the container's emptyDir
// mounts (the chart gives each one /tmp).
// The application is bind-mounted at /mnt/app and Node at /mnt/node (the image has them at /app and
// /usr/local). Against a real Temporal dev server and Postgres: the migration, then the API serving
// /readyz, the worker processing a signed webhook, the Doctor agent running health-check.sh, every probe
// the chart declares, and each process stopping on SIGTERM within its terminationGracePeriodSeconds.
//
// Differences from a pod, because the processes share this machine's network: a free port instead of
// 8080 and of the metrics port 9464, a task queue and an environment name of this run's own.

const UID_CHECK = process.getuid?.() === 0;
const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** The sandbox: mounts, then drop to the pod's user with exactly the given environment and command. */
const SANDBOX = `
set -e
mount --make-rprivate /
mount -t tmpfs -o size=16m,mode=755 tmpfs /mnt
mkdir /mnt/node /mnt/app
mount --bind "$SANDBOX_NODE_DIR" /mnt/node
mount --bind "$SANDBOX_APP_DIR" /mnt/app
for m in $(awk '{print $2}' /proc/self/mounts | sort -u); do
  case "$m" in /proc|/proc/*|/sys|/sys/*|/dev|/dev/*) ;; *) mount -o remount,ro,bind "$m" 2>/dev/null || true ;; esac
done
for spec in $SANDBOX_EMPTYDIRS; do
  mount -t tmpfs -o "size=\${spec#*=},mode=1777" tmpfs "\${spec%%=*}"
done
cd /mnt/app
exec setpriv --reuid="$SANDBOX_UID" --regid="$SANDBOX_GID" --clear-groups -- env -i "$@"
`;

interface Sandboxed {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/** The container's emptyDir mounts as tmpfs specs "path=size": the only writable places it gets. */
function emptyDirs(pod: PodSpec, c: Container | undefined): string {
  if (!c) return '/tmp=64m';
  return (c.volumeMounts ?? [])
    .map((m) => {
      const vol = pod.volumes?.find((v) => v.name === m.name);
      if (!vol?.emptyDir) return undefined;
      const size = (vol.emptyDir as { sizeLimit?: string }).sizeLimit ?? '64Mi';
      return `${m.mountPath}=${size.replace(/Mi$/, 'm').replace(/Gi$/, 'g')}`;
    })
    .filter((x) => x !== undefined)
    .join(' ');
}

function sandboxed(name: string, pod: PodSpec, env: Record<string, string>, command: string[], container?: Container): Sandboxed {
  const argv = [...Object.entries(env).map(([k, v]) => `${k}=${v}`), ...command.map((a, i) => (i === 0 && a === 'node' ? '/mnt/node/bin/node' : a))];
  const child = spawn('unshare', ['-m', 'sh', '-c', SANDBOX, 'sandbox', ...argv], {
    env: {
      PATH: process.env.PATH ?? IMAGE_PATH,
      SANDBOX_NODE_DIR: path.dirname(path.dirname(process.execPath)),
      SANDBOX_APP_DIR: repo,
      SANDBOX_UID: String(pod.securityContext!.runAsUser),
      SANDBOX_GID: String(pod.securityContext!.runAsGroup),
      SANDBOX_EMPTYDIRS: emptyDirs(pod, container),
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const append = (d: Buffer) => {
    out = (out + d.toString()).slice(-200_000);
  };
  child.stdout!.on('data', append);
  child.stderr!.on('data', append);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  onTeardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  });
  return {
    child,
    output: () => out,
    exited,
    async waitFor(pattern, timeoutMs = 180_000) {
      const deadline = Date.now() + timeoutMs;
      while (!pattern.test(out)) {
        if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${out.slice(-4000)}`);
        if (Date.now() > deadline) throw new Error(`${name} did not log ${pattern} within ${timeoutMs} ms:\n${out.slice(-4000)}`);
        await new Promise((r) => setTimeout(r, 200));
      }
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const probeUrl = (c: Container, probe: 'readinessProbe' | 'livenessProbe' | 'startupProbe', ports: Record<string, number>) => {
  const get = c[probe]?.httpGet;
  assert.ok(get, `${c.name} has no ${probe}`);
  const port = typeof get.port === 'number' ? get.port : ports[get.port];
  assert.ok(port, `${c.name} ${probe}: port ${get.port} is not one this test maps`);
  return `http://127.0.0.1:${port}${get.path}`;
};

describe('the chart\'s pods, run as Kubernetes runs them: the pod\'s user, read-only root, only /tmp writable', function () {
  this.timeout(600_000);
  const run = randomBytes(3).toString('hex');
  const environment = `pod-${run}`;
  const secrets = { PAGERDUTY_WEBHOOK_SECRETS: `whsec-pod-${run}-0123456789`, SELFHEAL_ADMIN_TOKEN: `admin-pod-${run}-0123456789` };
  let objs: K8sObject[];
  let databaseUrl: string;
  let dropDatabase: (() => Promise<void>) | undefined;
  let temporalAddress: string;
  const apiPort = { http: 0 };
  const workerPorts = { metrics: 0 };
  const agentPorts = { metrics: 0 };
  const procs: Record<string, Sandboxed> = {};

  /** The container's environment as the chart renders it, pointed at this run's Temporal, Postgres and ports. */
  const envFor = (c: Container, ports: Record<string, number>): Record<string, string> => {
    const env = containerEnv(objs, c, (name, ref) => (name === 'DATABASE_URL' ? databaseUrl : (secrets as Record<string, string>)[name] ?? (ref.optional ? undefined : `missing ${name}`)));
    env.PATH = IMAGE_PATH;
    env.HOME = '/home/node';
    if (env.TEMPORAL_ADDRESS) env.TEMPORAL_ADDRESS = temporalAddress;
    if (env.TEMPORAL_TASK_QUEUE) env.TEMPORAL_TASK_QUEUE = `selfheal-pod-${run}`;
    if (env.PORT) env.PORT = String(ports.http);
    if (env.TEMPORAL_WORKER_METRICS_ADDRESS) env.TEMPORAL_WORKER_METRICS_ADDRESS = `127.0.0.1:${ports.metrics}`;
    if (env.SELFHEAL_SCRIPTS_DIR?.startsWith('/app/')) env.SELFHEAL_SCRIPTS_DIR = env.SELFHEAL_SCRIPTS_DIR.replace('/app/', '/mnt/app/');
    return env;
  };
  const api = (p: string, init: RequestInit = {}) =>
    fetch(`http://127.0.0.1:${apiPort.http}${p}`, {
      ...init,
      headers: { authorization: `Bearer ${secrets.SELFHEAL_ADMIN_TOKEN}`, 'content-type': 'application/json', ...(init.headers ?? {}) },
      signal: AbortSignal.timeout(30_000),
    });

  before(async function () {
    assert.ok(UID_CHECK, 'this test switches to the pod\'s user inside a mount namespace and needs root (CI runs as root)');
    for (const tool of ['unshare', 'setpriv']) assert.equal(spawnSync(tool, ['--version']).status, 0, `${tool} (util-linux) is missing`);
    assert.ok(process.env.DATABASE_URL, 'the chart runs against Postgres: set DATABASE_URL (CI does)');
    objs = await renderChart('selfheal', { files: [], sets: [`agent.environments[0].name=${environment}`, 'agent.environments[0].teams[0]=default'] });
    // A Temporal dev server of its own: the worker reconciles job schedules against its (empty) database
    // at start and would delete other tests' schedules on the shared one.
    const temporal = await startDevServer({ executable: await temporalCliForTests() });
    onTeardown(() => temporal.stop());
    temporalAddress = temporal.address;
    const name = `selfheal_pod_${Date.now()}_${run}`;
    const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
    await admin.connect();
    await admin.query(`CREATE DATABASE ${name}`);
    await admin.end();
    const url = new URL(process.env.DATABASE_URL);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = async () => {
      const a = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await a.connect();
      await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await a.end();
    };
    onTeardown(dropDatabase);
    apiPort.http = await unusedPort();
    workerPorts.metrics = await unusedPort();
    agentPorts.metrics = await unusedPort();
  });

  it('the sandbox is what the securityContext asks for: the pod\'s uid, nothing writable but /tmp', async function () {
    const pod = podOf(objs, 'api')!.spec!.template!.spec;
    const probe = sandboxed('probe', pod, { PATH: IMAGE_PATH }, ['sh', '-c', 'id -u; id -g; touch /mnt/app/.w 2>&1; touch /etc/.w 2>&1; touch /tmp/w && echo tmp-writable'], pod.containers[0]);
    assert.equal(await probe.exited, 0, probe.output());
    const out = probe.output();
    assert.match(out, new RegExp(`^${pod.securityContext!.runAsUser}\n${pod.securityContext!.runAsGroup}\n`));
    assert.match(out, /\/mnt\/app\/\.w': Read-only file system/);
    assert.match(out, /\/etc\/\.w': Read-only file system/);
    assert.match(out, /tmp-writable/);
  });

  it('the migrate init container brings the empty database up to date, then the API serves /readyz', async function () {
    const d = podOf(objs, 'api')!;
    const pod = d.spec!.template!.spec;
    const migrate = pod.initContainers![0]!;
    const m = sandboxed('migrate', pod, envFor(migrate, {}), migrate.command!, migrate);
    assert.equal(await m.exited, 0, m.output());
    assert.match(m.output(), /database schema is up to date/);
    const c = pod.containers[0]!;
    procs.api = sandboxed('api', pod, envFor(c, apiPort), c.command!, c);
    for (const p of ['startupProbe', 'livenessProbe'] as const) {
      await until(`${p} ${probeUrl(c, p, apiPort)} answers 200`, async () => ((await fetch(probeUrl(c, p, apiPort))).ok ? true : undefined));
    }
    const ready = await until('readinessProbe answers 200', async () => {
      const res = await fetch(probeUrl(c, 'readinessProbe', apiPort));
      return res.ok ? ((await res.json()) as { status: string }) : undefined;
    });
    assert.equal(ready.status, 'ready');
  });

  it('the worker starts (its workflow bundle built in memory and /tmp), answers its probes and processes a signed webhook', async function () {
    const d = podOf(objs, 'worker')!;
    const c = d.spec!.template!.spec.containers[0]!;
    procs.worker = sandboxed('worker', d.spec!.template!.spec, envFor(c, workerPorts), c.command!, c);
    await procs.worker.waitFor(/"msg":"worker started"/);
    for (const p of ['startupProbe', 'livenessProbe'] as const) {
      await until(`worker ${p} answers 200`, async () => ((await fetch(probeUrl(c, p, workerPorts))).ok ? true : undefined));
    }
    const incidentId = `QPOD${run.toUpperCase()}`;
    const ping = spawnSync(
      process.execPath,
      ['bin/selfheal.js', 'pagerduty', 'ping', '--url', `http://127.0.0.1:${apiPort.http}/webhooks/pagerduty`, '--secret', secrets.PAGERDUTY_WEBHOOK_SECRETS, '--incident', '--incident-id', incidentId],
      { cwd: repo, encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(ping.status, 0, `${ping.stdout}${ping.stderr}`);
    const incident = await until(`incident ${incidentId} stored by the worker`, async () => {
      const res = await api(`/api/incidents/${incidentId}`);
      return res.ok ? ((await res.json()) as { id: string; status: string }) : undefined;
    });
    assert.equal(incident.id, incidentId);
  });

  it('the Doctor agent polls and runs health-check.sh from the image\'s scripts for `environments check`', async function () {
    const d = deployments(objs).find((o) => component(o) === 'agent')!;
    const c = d.spec!.template!.spec.containers[0]!;
    procs.agent = sandboxed('agent', d.spec!.template!.spec, envFor(c, agentPorts), c.command!, c);
    await procs.agent.waitFor(/"msg":"Doctor agent polling"/);
    for (const p of ['startupProbe', 'livenessProbe'] as const) {
      await until(`agent ${p} answers 200`, async () => ((await fetch(probeUrl(c, p, agentPorts))).ok ? true : undefined));
    }
    const added = await api('/api/environments', { method: 'POST', body: JSON.stringify({ name: environment }) });
    assert.equal(added.status, 201, await added.text());
    const check = await until('environments check healthy', async () => {
      const res = await api(`/api/environments/${environment}/check`, { method: 'POST' });
      const body = (await res.json()) as { healthy: boolean; check: { exitCode: number | null; output: string } | null };
      return body.healthy ? body : undefined;
    });
    assert.equal(check.check?.exitCode, 0);
    assert.match(check.check!.output, /RESULT status=ok/);
  });

  it('each process stops on SIGTERM, exit 0, within its pod\'s terminationGracePeriodSeconds', async function () {
    for (const comp of ['agent', 'worker', 'api'] as const) {
      const proc = procs[comp];
      assert.ok(proc, `${comp} was not started`);
      const grace = podOf(objs, comp)!.spec!.template!.spec.terminationGracePeriodSeconds!;
      proc.child.kill('SIGTERM');
      const code = await Promise.race([proc.exited, new Promise<'killed'>((r) => setTimeout(() => r('killed'), grace * 1000))]);
      assert.equal(code, 0, `${comp} after SIGTERM: ${code === 'killed' ? `still running after ${grace} s, Kubernetes would SIGKILL it` : `exit ${code}`}\n${proc.output().slice(-2000)}`);
    }
  });
});
