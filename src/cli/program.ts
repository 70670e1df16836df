// The commander program: global options, how an action gets its context, and the small option parsers
// the command groups share. Command groups live in ./commands/<group>.ts and add themselves here.
import { Command } from 'commander';
import type { CommandContext, GlobalOptions, Io } from './context.js';
import { usageError } from './errors.js';
import { createApiClient } from './http-client.js';
import { readTokenFile } from './token-file.js';

export const DEFAULT_URL = 'http://localhost:8080';

/** What a command group needs to register its commands. */
export interface Runtime {
  io: Io;
  /** Records the exit code of the command that ran. */
  exit(code: number): void;
}

export interface ActionInput<O> extends CommandContext {
  /** The command's own options (global ones are in `global`). */
  opts: O;
  /** Declared arguments, in order. */
  args: string[];
}

function globalOptions(all: Record<string, unknown>, io: Io): GlobalOptions {
  const urlFlag = typeof all.url === 'string' ? all.url : undefined;
  const url = urlFlag ?? io.env.SELFHEAL_URL ?? DEFAULT_URL;
  try {
    new URL(url);
  } catch {
    throw usageError(`--url "${url}" is not a URL`);
  }
  const flagToken = typeof all.token === 'string' ? all.token : undefined;
  const tokenFile = typeof all.tokenFile === 'string' ? all.tokenFile : undefined;
  if (flagToken !== undefined && tokenFile !== undefined) throw usageError('give --token or --token-file, not both');
  if (flagToken !== undefined) io.err(argvSecretWarning('--token', 'SELFHEAL_TOKEN', '--token-file <path>'));
  return {
    url,
    urlFlag,
    token: flagToken ?? (tokenFile !== undefined ? readTokenFile(tokenFile, (t) => io.err(t), { env: io.env, euid: process.geteuid?.() }) : undefined) ?? io.env.SELFHEAL_TOKEN,
    tokenSource: flagToken !== undefined ? '--token' : tokenFile !== undefined ? '--token-file' : 'SELFHEAL_TOKEN',
    insecureHttp: all.insecureHttp === true || io.env.SELFHEAL_INSECURE_HTTP === '1',
    json: all.json === true,
  };
}

/**
 * What the CLI says when a secret is given as an option: the command line of a running process is readable
 * by every user of the machine (`ps`, /proc/<pid>/cmdline: a shared CI runner, a bastion), and the shell's
 * history keeps it. The token is still used; the warning names the ways that stay out of sight.
 */
export function argvSecretWarning(flag: string, env: string, file?: string): string {
  return `warning: ${flag} puts the token on the command line, where every user of this machine can read it (ps, /proc/<pid>/cmdline) and shell history keeps it; set ${env}${file ? ` or use ${file}` : ''} instead`;
}

/** A commander action that builds the context, runs `fn` and records its exit code. */
export function action<O = Record<string, unknown>>(rt: Runtime, fn: (input: ActionInput<O>) => Promise<number>) {
  return async (...params: unknown[]): Promise<void> => {
    const cmd = params[params.length - 1] as Command;
    const global = globalOptions(cmd.optsWithGlobals(), rt.io);
    const args = (cmd.processedArgs as unknown[]).filter((a): a is string => typeof a === 'string');
    rt.exit(await fn({ global, io: rt.io, api: createApiClient(global), opts: cmd.opts() as O, args }));
  };
}

/** For repeatable options: `--label a=b --label c=d`. */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** A whole number option from 1 to `max`, `fallback` when not given. */
export function positiveInt(raw: string | undefined, name: string, fallback: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw usageError(`--${name} must be a whole number from 1 to ${max} (got "${raw}")`);
  return n;
}

export function createProgram(io: Io): Command {
  return new Command('selfheal')
    .description('Self-healing: PagerDuty-driven remediation rules and scheduled jobs, from the command line.')
    .option('--url <url>', `API base URL (env SELFHEAL_URL, default ${DEFAULT_URL})`)
    .option('--token <token>', 'bearer token (env SELFHEAL_TOKEN); visible to every user of the machine in ps, prefer SELFHEAL_TOKEN or --token-file')
    .option('--token-file <path>', 'read the bearer token from this file (one line); warns when others can change or read it (env SELFHEAL_TOKEN_FILE_READABLE_OK=1: readable on purpose)')
    .option('--insecure-http', 'send the token over plain http to a host that is not loopback (env SELFHEAL_INSECURE_HTTP=1)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      '\nexit codes: 0 ok, 1 negative answer (no match / differences / not found), 2 usage or validation error, 3 server or network error',
    )
    .configureHelp({ showGlobalOptions: true, sortSubcommands: false })
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.out(s.trimEnd()),
      writeErr: (s) => io.err(s.trimEnd()),
      // Usage errors are printed once, by main(), as one line.
      outputError: () => undefined,
    });
}
