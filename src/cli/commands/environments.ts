// selfheal environments list|add|check
import { Option, type Command } from 'commander';
import { mapBounded } from '../../domain/map-bounded.js';
import { EXIT, usageError } from '../errors.js';
import { linePerWrite, printJson, table } from '../output.js';
import { action, collect, type Runtime } from '../program.js';

interface AddOptions {
  description?: string;
  label?: string[];
  agentTaskQueue?: string;
  sshHost?: string;
  sshUser?: string;
  sshKeyRef?: string;
  sshFingerprint?: string;
  sshPort?: string;
  sshScriptsDir?: string;
}

/** Why --ssh-scripts-dir is refused: the API took `ssh.scriptsDir` away from tokens (docs/security.md). */
const SCRIPTS_DIR_GONE =
  '--ssh-scripts-dir is gone: the scripts directory on management VMs is operator configuration, SELFHEAL_SSH_SCRIPTS_DIR on the worker (default /opt/selfheal/scripts), not an environment field';

const SSH_REQUIRED = [
  ['sshHost', '--ssh-host'],
  ['sshUser', '--ssh-user'],
  ['sshKeyRef', '--ssh-key-ref'],
  ['sshFingerprint', '--ssh-fingerprint'],
] as const;

export function registerEnvironments(program: Command, given: Runtime): void {
  const rt = linePerWrite(given);
  const group = program.command('environments').description('Cloud environments: Doctor agents and management VMs');

  group
    .command('list')
    .description('List environments with their Doctor agent online/offline')
    .action(
      action(rt, async ({ api, io, global }) => {
        const items = await api.environments.list();
        const envs = await mapBounded(items, 8, async (e) => (await api.environments.get(e.name)) ?? e);
        if (global.json) {
          printJson(io, envs);
          return EXIT.ok;
        }
        table(
          io,
          ['NAME', 'AGENT', 'TASK QUEUE', 'SSH', 'LABELS'],
          envs.map((e) => {
            const labels = Object.entries(e.labels ?? {}).map(([k, v]) => `${k}=${v}`);
            return [e.name, e.agent?.error ? 'unknown' : e.agent?.online ? (e.agent.servesTeam === false ? 'other team' : 'online') : 'offline', e.agentTaskQueue, e.ssh ? `${e.ssh.user}@${e.ssh.host}:${e.ssh.port}` : '', labels.join(',')];
          }),
        );
        return EXIT.ok;
      }),
    );

  group
    .command('add')
    .description('Register a cloud environment (its Doctor agent queue and optional management VM)')
    .argument('<name>', 'environment name (lowercase slug)')
    .option('--description <text>', 'what it is')
    .option('--label <k=v>', 'a label (repeatable)', collect)
    .option('--agent-task-queue <queue>', 'task queue of its Doctor agent (default selfheal-agent-<name>; admin token)')
    .option('--ssh-host <host>', 'management VM host (admin token)')
    .option('--ssh-user <user>', 'management VM user (admin token)')
    .option('--ssh-key-ref <ref>', 'reference to the SSH private key inside the secret policy: env:SELFHEAL_SECRET_... or file:/run/secrets/... (admin token)')
    .option('--ssh-fingerprint <fp>', 'pinned host key fingerprint, SHA256:... (admin token)')
    .option('--ssh-port <port>', 'SSH port (default 22; admin token)')
    // Kept hidden so that old scripts get an explanation instead of "unknown option".
    .addOption(new Option('--ssh-scripts-dir <dir>').hideHelp())
    .addHelpText(
      'after',
      '\nWhere code runs and with what credentials is an admin decision: the --ssh-* options and --agent-task-queue need an\n' +
        'admin token (a write token is refused with 403 naming the field). The scripts a management VM runs are in the\n' +
        "worker's SELFHEAL_SSH_SCRIPTS_DIR (default /opt/selfheal/scripts), operator configuration that no token can change.\n" +
        'A team registers only its own names: <team>, or <team>- <team>. <team>_ followed by more (names no team claims are\n' +
        "the default team's); an admin token registers any name in any team.",
    )
    .action(
      action<AddOptions>(rt, async ({ api, io, args: [name], opts, global }) => {
        if (opts.sshScriptsDir !== undefined) throw usageError(SCRIPTS_DIR_GONE);
        const labels: Record<string, string> = {};
        for (const l of opts.label ?? []) {
          const eq = l.indexOf('=');
          if (eq <= 0) throw usageError(`--label "${l}" must be key=value`);
          labels[l.slice(0, eq)] = l.slice(eq + 1);
        }
        const body: Record<string, unknown> = { name, labels };
        if (opts.description !== undefined) body.description = opts.description;
        if (opts.agentTaskQueue !== undefined) body.agentTaskQueue = opts.agentTaskQueue;
        const given = SSH_REQUIRED.filter(([k]) => opts[k] !== undefined);
        if (given.length > 0 || opts.sshPort !== undefined) {
          const missing = SSH_REQUIRED.filter(([k]) => opts[k] === undefined).map(([, flag]) => flag);
          if (missing.length > 0) throw usageError(`a management VM needs ${missing.join(', ')} as well`);
          const ssh: Record<string, unknown> = { host: opts.sshHost, user: opts.sshUser, keyRef: opts.sshKeyRef, hostKeyFingerprint: opts.sshFingerprint };
          if (opts.sshPort !== undefined) {
            const port = Number(opts.sshPort);
            if (!Number.isInteger(port)) throw usageError(`--ssh-port "${opts.sshPort}" is not a port number`);
            ssh.port = port;
          }
          body.ssh = ssh;
        }
        const created = await api.environments.create(body);
        if (global.json) {
          printJson(io, created);
          return EXIT.ok;
        }
        io.out(`registered environment ${created.name}: agent task queue ${created.agentTaskQueue}${created.ssh ? `, management VM ${created.ssh.host}` : ''}`);
        io.out(`next: run a Doctor agent there with SELFHEAL_ENVIRONMENT=${created.name}, then: selfheal environments check ${created.name}`);
        return EXIT.ok;
      }),
    );

  group
    .command('check')
    .description("Is the environment's Doctor agent polling? Runs health-check.sh through it (exit 0 healthy, 1 not)")
    .argument('<name>', 'environment name')
    .action(
      action(rt, async ({ api, io, args: [name], global }) => {
        const a = await api.environments.check(name!);
        if (!a) {
          io.err(`environment ${name} is not known (register it: selfheal environments add ${name})`);
          return EXIT.negative;
        }
        if (global.json) {
          printJson(io, a);
          return a.healthy ? EXIT.ok : EXIT.negative;
        }
        if (!a.agent.online) {
          io.out(`✗ agent OFFLINE: nothing is polling ${a.taskQueue}`);
          io.out(`  start one with SELFHEAL_ENVIRONMENT=${a.environment} (see docs/runbooks/deploy-doctor-agent.md)`);
        } else {
          io.out(`✓ agent online on ${a.taskQueue}: ${a.agent.pollers.map((p) => `${p.identity} (last poll ${p.lastAccessTime ?? 'unknown'})`).join(', ')}`);
          if (a.agent.servesTeam === false) io.out(`✗ but it does not serve this environment's team: the SELFHEAL_AGENT_TEAMS of its host lists other teams, and it refuses this team's tasks`);
        }
        if (a.check) {
          const c = a.check;
          if (!c.reached) io.out(`✗ ${c.script} not picked up: ${c.error ?? 'no agent took the task'}`);
          else io.out(`${c.exitCode === 0 && !c.error ? '✓' : '✗'} ${c.script} exit ${c.exitCode ?? '-'}${c.durationMs !== undefined ? ` in ${c.durationMs} ms` : ''}${c.error ? `: ${c.error}` : ''}`);
          for (const line of c.output.trimEnd().split(/\r?\n/)) if (line) io.out(`    ${line}`);
        }
        io.out(a.healthy ? `environment ${a.environment} is HEALTHY` : `environment ${a.environment} is NOT healthy`);
        return a.healthy ? EXIT.ok : EXIT.negative;
      }),
    );
}
